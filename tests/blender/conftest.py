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

from addon.core.expression_set import ExpressionData, read_expression_set, write_expression_set  # noqa: E402
from addon.core.obj_mesh import Mesh  # noqa: E402


def write_plane_set(path, names=("happy", "surprised"), texture_size=16, seed=0):
    """A small expression set: a 3×3-vertex plane facing the camera (+Z), UVs spanning 0..1, random
    textures, and change masks that are 0 on the left half and 1 on the right half."""
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
                                  texture=base_texture, mask=np.zeros_like(mask), edited=base_texture)]
    for index, name in enumerate(names, start=1):
        moved = vertices.copy()
        moved[:, 2] += 0.01 * index * (vertices[:, 0] > 0)  # the right column comes forward
        moved[:, 1] += 0.002 * index
        # The recogniser's reading: every expression reads "happy" (so "surprised" disagrees with its prompt).
        expressions.append(ExpressionData(name=name, prompt=name, full_prompt=name, vertices=moved,
                                          texture=texture(), mask=mask, edited=base_texture, weights={name: 1.0},
                                          reads_as={"happy": 0.9, name: 0.1} if name != "happy" else {"happy": 1.0}))
    write_expression_set(path, subject={"size": [size, size], "face_box": [0, 0, size, size]},
                         subject_photo=("subject.png", b"not a real photo"), engines={"editor": {"name": "test"}},
                         base_mesh=base, base_texture=base_texture, expressions=expressions)
    return read_expression_set(path)


@pytest.fixture
def plane_set(tmp_path):
    return write_plane_set(tmp_path / "plane_set")
