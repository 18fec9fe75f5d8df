"""Real Blender as a Python module. User resources go to a temporary folder, and every test starts from
an empty scene."""
import os
import tempfile

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="promptface-blender-"))

import bpy  # noqa: E402  (the environment variable must be set before Blender starts)
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def empty_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield


import numpy as np  # noqa: E402

import addon  # noqa: E402
from addon.core.arkit import ARKIT_RIG, ARKIT_SHAPES, VISEMES  # noqa: E402
from addon.core.expression_set import (ExpressionData, RigData, RigShapeData, read_expression_set,  # noqa: E402
                                       write_expression_set)
from addon.core.obj_mesh import Mesh  # noqa: E402
from addon.core.png import encode_png  # noqa: E402
from addon.generation import job_cache, session  # noqa: E402
from addon.generation.worker import GenerateRequest  # noqa: E402
from addon.preferences import ADDON_PACKAGE, preferences  # noqa: E402
from addon.transports.connect import BackendSettings  # noqa: E402


PLANE_POSES = {
    "happy": {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.7, "cheekSquintLeft": 0.3, "tongueOut": 0.2},
    "surprised": {"jawOpen": 0.6, "browInnerUp": 0.9, "eyeWideLeft": 0.5, "mouthSmileLeft": 0.4},
}
"""Each expression of a rigged plane set as a pose of its rig (an expression not named here: jawOpen 0.5)."""
TEXTURED_RIG_SHAPES = ("mouthSmileLeft", "tongueOut")


def plane_rig(vertices: np.ndarray, rng: np.random.Generator, texture_size: int) -> RigData:
    """An ARKit rig on the plane: shape i moves vertex i mod 9 forward by (i + 1) mm and every vertex up by 0.1 mm,
    so each shape is distinct and none is empty; the TEXTURED_RIG_SHAPES have a texture and a mask."""
    mask = np.zeros((texture_size, texture_size), np.uint8)
    mask[: texture_size // 2] = 255
    shapes = []
    for index, name in enumerate(ARKIT_SHAPES):
        moved = vertices.copy()
        moved[index % len(vertices), 2] += 0.001 * (index + 1)
        moved[:, 1] += 0.0001
        textured = name in TEXTURED_RIG_SHAPES
        shapes.append(RigShapeData(
            name=name, vertices=moved,
            texture=rng.integers(0, 256, (texture_size, texture_size, 3), dtype=np.uint8) if textured else None,
            mask=mask if textured else None))
    return RigData(kind=ARKIT_RIG, shapes=shapes, poses=dict(VISEMES))


def write_plane_set(path, names=("happy", "surprised"), texture_size=16, seed=0, rig=False):
    """A small expression set: a 3×3-vertex plane facing the camera (+Z), UVs spanning 0..1, random
    textures, and change masks that are 0 on the left half and 1 on the right half. With `rig`, also an ARKit rig
    (plane_rig) and each expression as a pose of it (PLANE_POSES)."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(-0.05, 0.05, 3)
    xs, ys = np.meshgrid(grid, grid[::-1])
    vertices = np.column_stack([xs.ravel(), ys.ravel(), np.zeros(9)]).astype(np.float32)
    faces = []
    for row in range(2):
        for col in range(2):
            a = row * 3 + col
            faces += [(a, a + 3, a + 1), (a + 1, a + 3, a + 4)]
    faces = np.array(faces, dtype=np.int32)
    uvs = np.column_stack([(vertices[:, 0] + 0.05) / 0.1, (vertices[:, 1] + 0.05) / 0.1]).astype(np.float32)
    base = Mesh(vertices=vertices, faces=faces, uvs=uvs, face_uvs=faces.copy())
    size = texture_size
    mask = np.zeros((size, size), np.uint8)
    mask[:, size // 2:] = 255

    def texture():
        return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)

    base_texture = texture()
    expressions = [ExpressionData(name="neutral", prompt="neutral", full_prompt="neutral", vertices=vertices,
                                  texture=base_texture, mask=np.zeros_like(mask), edited=base_texture,
                                  arkit_weights={} if rig else None)]
    for index, name in enumerate(names, start=1):
        moved = vertices.copy()
        moved[:, 2] += 0.01 * index * (vertices[:, 0] > 0)  # the right column comes forward
        moved[:, 1] += 0.002 * index
        # The recogniser's reading: every expression reads "happy" (so "surprised" disagrees with its prompt).
        expressions.append(ExpressionData(name=name, prompt=name, full_prompt=name, vertices=moved,
                                          texture=texture(), mask=mask, edited=base_texture, weights={name: 1.0},
                                          reads_as={"happy": 0.9, name: 0.1} if name != "happy" else {"happy": 1.0},
                                          arkit_weights=PLANE_POSES.get(name, {"jawOpen": 0.5}) if rig else None))
    write_expression_set(path, subject={"size": [size, size], "face_box": [0, 0, size, size]},
                         subject_photo=("subject.png", b"not a real photo"), engines={"editor": {"name": "test"}},
                         base_mesh=base, base_texture=base_texture, expressions=expressions,
                         rig=plane_rig(vertices, rng, size) if rig else None)
    return read_expression_set(path)


@pytest.fixture
def plane_set(tmp_path):
    return write_plane_set(tmp_path / "plane_set")


@pytest.fixture
def rigged_set(tmp_path):
    """The plane set with an ARKit rig (happy, surprised, and the rig's 52 shapes)."""
    return write_plane_set(tmp_path / "rigged_set", rig=True)


class LiveAddon:
    """The add-on registered with its preferences, Generate on the local backend (`promptface-backend serve
    --stdio`, the real CPU engine) and downloads in a folder of the test's own."""

    def __init__(self, photo):
        self.session, self.photo = session, photo
        self.prefs = preferences()

    def start(self, prompts, **options):
        request = GenerateRequest(photo=self.photo, prompts=list(prompts), editor="warp", reconstructor="landmarks",
                                  cache_root=job_cache.cache_root(), poll_interval_s=0.05, options=options)
        return self.session.start_generate(BackendSettings(kind="LOCAL", poll_interval_s=0.05), request,
                                           bpy.context.scene)

    def generate(self, prompts, **options):
        """Generate until the job ends; returns the finished session."""
        self.start(prompts, **options)
        assert self.session.run_until_idle(300), "the job did not finish in time"
        run = self.session.last()
        assert getattr(run.outcome, "status", None) == "succeeded", run.outcome
        return run

    def face(self):
        return bpy.data.objects[self.session.last().face_name]


@pytest.fixture(scope="session")
def astronaut_photo(tmp_path_factory):
    from skimage import data
    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    path.write_bytes(encode_png(data.astronaut()))
    return path


@pytest.fixture
def live_addon(astronaut_photo, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTFACE_DATA", str(tmp_path / "server"))  # the local backend's own data
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # outside an extension, downloads go to the temp dir
    addon.register()
    entry = bpy.context.preferences.addons.new()  # what enabling does, so that the preferences exist
    entry.module = ADDON_PACKAGE
    live = LiveAddon(astronaut_photo)
    yield live
    live.session.shutdown()
    addon.unregister()
    entry = bpy.context.preferences.addons.get(ADDON_PACKAGE)  # gone if the test loaded the factory settings
    if entry is not None:
        bpy.context.preferences.addons.remove(entry)
