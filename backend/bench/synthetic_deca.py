"""A complete, deterministic, synthetic DECA folder: every file with the keys, shapes and formats of the released
ones, made-up contents. For tests, the benchmark and end-to-end runs on machines without the real files.

The FLAME stand-in is a head-like cap of an ellipsoid (facing +Z, +Y up, metres) whose 5023 vertices and 9976
triangles come from a Delaunay triangulation of the unit disc, which is also its UV layout (5118 vt: 95 vertices
along a seam get a second vt). Jaw weights sit on the lower front, eye weights around two eye points, neck weights at
the bottom; pose correctives are confined to their joint's vertices, so a jaw rotation moves jaw vertices only.

generic_model.pkl is pickled as FLAME's is: protocol 2, partly chumpy objects. A tiny stand-in `chumpy` package
(modules chumpy.ch with Ch, chumpy.reordering with Select) is put in sys.modules only while pickling; its objects
pickle as a class reference plus the state dict chumpy's __setstate__ restores.
"""
import pickle
import sys
import types
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import scipy.sparse
import torch
from scipy.spatial import Delaunay, cKDTree

from addon.core.obj_mesh import Mesh, write_obj
from backend.deca.assets import (ALBEDO_MODEL, ALBEDO_STORED_SIZE, DECA_MODEL, FACE_EYE_MASK, FIXED_DISPLACEMENT,
                                 HEAD_TEMPLATE, LANDMARK_EMBEDDING, TEXTURE_SIZE)
from backend.deca.checkpoint import expected_shapes
from backend.deca.crop import BROWS, LOWER_FACE_OVAL
from backend.flame.assets import FLAME_MODEL

VERTEX_COUNT = 5023
FACE_COUNT = 9976
UV_COUNT = 5118
JOINT_COUNT = 5
SHAPE_DIRECTIONS = 400
POSE_FEATURES = (JOINT_COUNT - 1) * 9
# A Delaunay triangulation of n points, h of them on the convex hull, has 2n-2-h triangles.
HULL_POINTS = 2 * VERTEX_COUNT - 2 - FACE_COUNT
# The cap spans polar angles up to this (from +Z, the face's front); radii of the ellipsoid in metres.
CAP_ANGLE = 0.8 * np.pi
HEAD_RADII = (0.075, 0.10, 0.095)
# UV: the disc maps to a circle of this radius around (0.5, 0.5).
UV_RADIUS = 0.48
# The face-eye mask covers the disc out to this radius (the front of the face).
FACE_EYE_RADIUS = 0.55
JOINT_TARGETS = np.array([[0.0, -0.06, -0.02],    # root
                          [0.0, -0.04, -0.02],    # neck
                          [0.0, -0.01, 0.0],      # jaw
                          [0.03, 0.03, 0.07],     # left eye (+X: the subject's left, the image's right)
                          [-0.03, 0.03, 0.07]])   # right eye
JOINTS_PER_REGRESSOR_ROW = 8
ROOT_PARENT = 2 ** 32 - 1  # how FLAME's kintree_table stores "no parent"
LANDMARK_ROWS, CONTOUR_POINTS, STATIC_POINTS = 79, 17, 51
# Standard deviations (about) of the random E_flame's codes: shape/tex/exp/light and detail, pose (radians), camera.
CODE_SPREAD, POSE_SPREAD, CAMERA_SPREAD = 0.5, 0.03, 0.02


@dataclass(frozen=True)
class SyntheticFlame:
    """The synthetic model's arrays, as they go into the files."""
    v_template: np.ndarray       # (V,3) float64
    faces: np.ndarray            # (F,3) int64, counter-clockwise seen from outside
    uvs: np.ndarray              # (5118,2) float64
    face_uvs: np.ndarray         # (F,3) int64
    shapedirs: np.ndarray        # (V,3,400) float64
    posedirs: np.ndarray         # (V,3,36) float64
    j_regressor: np.ndarray      # (5,V) float64, dense
    weights: np.ndarray          # (V,5) float64
    kintree_table: np.ndarray    # (2,5) uint32
    disc: np.ndarray             # (V,2) the vertices' positions in the unit disc
    landmark_embedding: dict     # the dict of landmark_embedding.npy (some values torch tensors)


def synthetic_flame(seed: int = 0) -> SyntheticFlame:
    rng = np.random.default_rng(seed)
    disc = _disc_points()
    faces = _counter_clockwise(disc, Delaunay(disc).simplices.astype(np.int64))
    if len(faces) != FACE_COUNT:
        raise RuntimeError(f"synthetic triangulation has {len(faces)} faces, not {FACE_COUNT}")
    template = _cap_positions(disc)
    uvs, face_uvs = _uv_layout(disc, faces)
    weights = _skinning_weights(template)
    regressor = _joint_regressor(template)
    features = _smooth_features(template, rng)
    shapedirs = _shape_directions(features, rng)
    posedirs = _pose_directions(features, weights, rng)
    embedding = _landmark_embedding(disc, faces, rng)
    kintree = np.array([[ROOT_PARENT, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.uint32)
    return SyntheticFlame(v_template=template, faces=faces, uvs=uvs, face_uvs=face_uvs, shapedirs=shapedirs,
                          posedirs=posedirs, j_regressor=regressor, weights=weights, kintree_table=kintree,
                          disc=disc, landmark_embedding=embedding)


def _disc_points() -> np.ndarray:
    """HULL_POINTS on the unit circle, the rest on a sunflower spiral inside radius 0.97: (V,2)."""
    inner_count = VERTEX_COUNT - HULL_POINTS
    k = np.arange(inner_count)
    radius = 0.97 * np.sqrt((k + 0.5) / inner_count)
    angle = k * np.pi * (3.0 - np.sqrt(5.0))
    inner = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    rim_angle = (np.arange(HULL_POINTS) + 0.5) * 2.0 * np.pi / HULL_POINTS
    rim = np.stack([np.cos(rim_angle), np.sin(rim_angle)], axis=1)
    return np.concatenate([inner, rim])


def _counter_clockwise(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a, b, c = points[faces[:, 0]], points[faces[:, 1]], points[faces[:, 2]]
    clockwise = ((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0]) < 0
    faces = faces.copy()
    faces[clockwise] = faces[clockwise][:, [0, 2, 1]]
    return faces


def _cap_positions(disc: np.ndarray) -> np.ndarray:
    """Disc → ellipsoid cap: the disc's centre at the front (+Z), its +y up."""
    polar = np.linalg.norm(disc, axis=1) * CAP_ANGLE
    azimuth = np.arctan2(disc[:, 1], disc[:, 0])
    direction = np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], axis=1)
    return direction * np.array(HEAD_RADII)


def _uv_layout(disc: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex UVs plus a second UV for the vertices nearest the lower half of the y axis, used by the faces to
    their right (a seam with no gap, as FLAME's layout has seams)."""
    uvs = 0.5 + UV_RADIUS * disc
    seam_count = UV_COUNT - VERTEX_COUNT
    lower = np.flatnonzero(disc[:, 1] < -0.2)
    seam = lower[np.argsort(np.abs(disc[lower, 0]), kind="stable")[:seam_count]]
    second = np.full(VERTEX_COUNT, -1)
    second[seam] = VERTEX_COUNT + np.arange(seam_count)
    face_uvs = faces.copy()
    right = disc[faces].mean(axis=1)[:, 0] > 0
    on_seam = second[faces] >= 0
    swap = right[:, None] & on_seam
    face_uvs[swap] = second[faces][swap]
    return np.concatenate([uvs, uvs[seam]]), face_uvs


def _smoothstep(low: float, high: float, values: np.ndarray) -> np.ndarray:
    t = np.clip((values - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _skinning_weights(template: np.ndarray) -> np.ndarray:
    """(V,5): jaw on the lower front, eyes around the eye joints, neck at the bottom, the root takes the rest."""
    x, y, z = template.T
    weights = np.zeros((VERTEX_COUNT, JOINT_COUNT))
    weights[:, 2] = _smoothstep(-0.005, -0.03, y) * _smoothstep(0.0, 0.03, z)
    for joint in (3, 4):
        distance = np.linalg.norm(template - _nearest_surface_point(template, JOINT_TARGETS[joint]), axis=1)
        weights[:, joint] = np.clip(1.0 - distance / 0.015, 0.0, 1.0) ** 2
    weights[:, 1] = _smoothstep(-0.05, -0.085, y) * (1.0 - weights[:, 2])
    weights[:, 1:] = np.minimum(weights[:, 1:], 1.0)
    overfull = weights[:, 1:].sum(axis=1)
    weights[:, 1:] /= np.maximum(overfull, 1.0)[:, None]
    weights[:, 0] = 1.0 - weights[:, 1:].sum(axis=1)
    return weights


def _nearest_surface_point(template: np.ndarray, target: np.ndarray) -> np.ndarray:
    return template[np.argmin(np.linalg.norm(template - target, axis=1))]


def _joint_regressor(template: np.ndarray) -> np.ndarray:
    """(5,V): each joint is the mean of the vertices nearest its target position."""
    regressor = np.zeros((JOINT_COUNT, VERTEX_COUNT))
    for joint, target in enumerate(JOINT_TARGETS):
        nearest = np.argsort(np.linalg.norm(template - target, axis=1), kind="stable")[:JOINTS_PER_REGRESSOR_ROW]
        regressor[joint, nearest] = 1.0 / JOINTS_PER_REGRESSOR_ROW
    return regressor


def _smooth_features(template: np.ndarray, rng: np.random.Generator, count: int = 24) -> np.ndarray:
    """(V,count) smooth functions of position (random low-frequency sines), for smooth made-up directions."""
    frequencies = rng.normal(scale=25.0, size=(3, count))
    phases = rng.uniform(0.0, 2.0 * np.pi, size=count)
    return np.sin(template @ frequencies + phases)


def _shape_directions(features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(V,3,400): smooth offsets, a few millimetres per unit coefficient, shrinking with the component index."""
    mix = rng.normal(size=(features.shape[1], 3 * SHAPE_DIRECTIONS))
    directions = (features @ mix).reshape(VERTEX_COUNT, 3, SHAPE_DIRECTIONS) / np.sqrt(features.shape[1])
    falloff = np.concatenate([0.004 / np.sqrt(1.0 + np.arange(300)), 0.003 / np.sqrt(1.0 + np.arange(100))])
    return directions * falloff


def _pose_directions(features: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(V,3,36): joint j's nine features move only the vertices that joint j skins."""
    directions = np.zeros((VERTEX_COUNT, 3, POSE_FEATURES))
    for joint in range(1, JOINT_COUNT):
        mix = rng.normal(size=(features.shape[1], 3 * 9))
        block = (features @ mix).reshape(VERTEX_COUNT, 3, 9) * 0.002 / np.sqrt(features.shape[1])
        directions[:, :, (joint - 1) * 9:joint * 9] = block * (weights[:, joint] > 0)[:, None, None]
    return directions


def _landmark_embedding(disc: np.ndarray, faces: np.ndarray, rng: np.random.Generator) -> dict:
    """DECA's landmark_embedding dict. The 51 static points lie on the inner face; contour row k holds 17 points on an
    arc of the lower face turned by the row's yaw; the full 68-point embedding is contour row 0 + the static points."""
    centres = disc[faces].mean(axis=1)
    inner_faces = np.flatnonzero(np.linalg.norm(centres, axis=1) < 0.35)
    static_faces = np.sort(rng.choice(inner_faces, size=STATIC_POINTS, replace=False))
    yaw_degrees = np.concatenate([np.arange(40), -np.arange(1, 40)])
    angles = np.linspace(-np.pi * 0.95, -np.pi * 0.05, CONTOUR_POINTS)[None] + np.deg2rad(yaw_degrees)[:, None] * 0.5
    targets = 0.45 * np.stack([np.cos(angles), np.sin(angles)], axis=-1)           # (79,17,2)
    dynamic_faces = cKDTree(centres).query(targets.reshape(-1, 2))[1].reshape(LANDMARK_ROWS, CONTOUR_POINTS)

    def barycentrics(shape):
        values = rng.uniform(0.05, 1.0, size=(*shape, 3))
        return values / values.sum(axis=-1, keepdims=True)

    static_bary = barycentrics((STATIC_POINTS,))
    dynamic_bary = barycentrics((LANDMARK_ROWS, CONTOUR_POINTS))
    return {
        "static_lmk_faces_idx": static_faces.astype(np.int64),
        "static_lmk_bary_coords": static_bary,
        "dynamic_lmk_faces_idx": torch.from_numpy(dynamic_faces),                       # torch.LongTensor
        "dynamic_lmk_bary_coords": torch.from_numpy(dynamic_bary.astype(np.float32)),   # torch.FloatTensor
        "full_lmk_faces_idx": np.concatenate([dynamic_faces[0], static_faces])[None].astype(np.int64),
        "full_lmk_bary_coords": np.concatenate([dynamic_bary[0].astype(np.float32), static_bary])[None],
    }


# ---------------------------------------------------------------------------------------------------------------
# The chumpy stand-in


class _StandInCh:
    """What chumpy.ch.Ch pickles: the array under 'x' plus chumpy's bookkeeping."""

    def __init__(self, x):
        self.x = np.asarray(x)

    def __getstate__(self):
        return {"x": self.x, "_cache": {}, "_depends_on_deps": {}, "_parents": {}}


class _StandInSelect:
    """What chumpy.reordering.Select pickles: a.ravel()[idxs].reshape(preferred_shape)."""

    def __init__(self, a, idxs, preferred_shape):
        self.a, self.idxs, self.preferred_shape = a, np.asarray(idxs), tuple(preferred_shape)

    def __getstate__(self):
        return {"a": self.a, "idxs": self.idxs, "preferred_shape": self.preferred_shape, "_cache": {},
                "_depends_on_deps": {}, "_parents": {}}


@contextmanager
def chumpy_stand_in():
    """sys.modules holds the stand-in chumpy.ch.Ch and chumpy.reordering.Select inside the block, and whatever it
    held before afterwards (so the loader is tested without them)."""
    names = ("chumpy", "chumpy.ch", "chumpy.reordering")
    saved = {name: sys.modules.get(name) for name in names}
    package = types.ModuleType("chumpy")
    package.__path__ = []
    modules = {"chumpy": package, "chumpy.ch": types.ModuleType("chumpy.ch"),
               "chumpy.reordering": types.ModuleType("chumpy.reordering")}
    for module_name, class_name, base in (("chumpy.ch", "Ch", _StandInCh),
                                          ("chumpy.reordering", "Select", _StandInSelect)):
        stand_in = type(class_name, (base,), {"__module__": module_name, "__qualname__": class_name})
        setattr(modules[module_name], class_name, stand_in)
    package.ch, package.reordering = modules["chumpy.ch"], modules["chumpy.reordering"]
    sys.modules.update(modules)
    try:
        yield modules["chumpy.ch"].Ch, modules["chumpy.reordering"].Select
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


# ---------------------------------------------------------------------------------------------------------------
# Writers


def write_flame_pickle(path: str | Path, flame: SyntheticFlame) -> None:
    """generic_model.pkl: protocol 2; v_template, shapedirs, posedirs, weights as Ch, J as a Select of a Ch,
    J_regressor scipy csc, kintree_table and f plain arrays, as in FLAME 2020."""
    joints = flame.j_regressor @ flame.v_template
    with chumpy_stand_in() as (ch, select):
        fields = {
            "v_template": ch(flame.v_template), "shapedirs": ch(flame.shapedirs), "posedirs": ch(flame.posedirs),
            "weights": ch(flame.weights),
            "J": select(ch(joints.ravel()[::-1].copy()), np.arange(joints.size)[::-1], joints.shape),
            "J_regressor": scipy.sparse.csc_matrix(flame.j_regressor), "kintree_table": flame.kintree_table,
            "f": flame.faces.astype(np.uint32), "bs_style": "lbs", "bs_type": "lrotmin",
        }
        Path(path).write_bytes(pickle.dumps(fields, protocol=2))


def write_landmark_embedding(path: str | Path, flame: SyntheticFlame) -> None:
    np.save(path, np.array(flame.landmark_embedding, dtype=object), allow_pickle=True)


def write_head_template(path: str | Path, flame: SyntheticFlame) -> None:
    write_obj(path, Mesh(vertices=flame.v_template.astype(np.float32), faces=flame.faces.astype(np.int32),
                         uvs=flame.uvs.astype(np.float32), face_uvs=flame.face_uvs.astype(np.int32)))


def write_fixed_displacement(path: str | Path) -> None:
    """(256,256) float64, about ±0.0016, smooth."""
    grid = (np.arange(TEXTURE_SIZE) + 0.5) / TEXTURE_SIZE
    pattern = 0.0016 * np.sin(2 * np.pi * 3 * grid)[None, :] * np.cos(2 * np.pi * 2 * grid)[:, None]
    np.save(path, pattern)


def face_eye_mask(size: int = TEXTURE_SIZE) -> np.ndarray:
    """(T,T) uint8 0/255: the front of the synthetic face in UV space."""
    centres = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(centres, 1.0 - centres)
    inside = (u - 0.5) ** 2 + (v - 0.5) ** 2 < (UV_RADIUS * FACE_EYE_RADIUS) ** 2
    return np.where(inside, 255, 0).astype(np.uint8)


def write_face_eye_mask(path: str | Path) -> None:
    """256² RGBA PNG, the mask in the colour channels, alpha opaque."""
    mask = face_eye_mask()
    cv2.imwrite(str(path), np.dstack([mask, mask, mask, np.full_like(mask, 255)]))


def synthetic_state_dicts(seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Random weights for every key of expected_shapes(). Scaled so the random networks give sane codes: residual
    branches damped, BatchNorm statistics neutral, E_flame's outputs near a plausible camera."""
    generator = torch.Generator().manual_seed(seed)
    state_dicts = {}
    for network, shapes in expected_shapes().items():
        state = {}
        for key, shape in shapes.items():
            state[key] = _random_parameter(key, shape, generator)
        state_dicts[network] = state
    # Output spread per code (E_flame's rows): codes vary with the image, poses and camera stay plausible.
    row_spread = torch.full((236, 1), CODE_SPREAD)
    row_spread[200:206] = POSE_SPREAD
    row_spread[206:209] = CAMERA_SPREAD
    state_dicts["E_flame"]["layers.2.weight"] *= row_spread
    flame_bias = state_dicts["E_flame"]["layers.2.bias"]
    flame_bias[206] = 9.0                       # camera scale: the synthetic head fills the crop like a real one
    flame_bias[209:236:3] = 0.5                 # light: some ambient per channel
    state_dicts["E_detail"]["layers.2.weight"] *= CODE_SPREAD
    return state_dicts


def _random_parameter(key: str, shape: tuple, generator: torch.Generator) -> torch.Tensor:
    if key.endswith("num_batches_tracked"):
        return torch.tensor(1000, dtype=torch.long)
    if key.endswith(("running_mean", ".bias")):
        return torch.zeros(shape)
    if key.endswith("running_var"):
        return torch.ones(shape)
    if len(shape) == 1:  # BatchNorm weight; the last one of each residual branch damps it
        return torch.full(shape, 0.2 if ".bn3." in key else 1.0)
    fan_in = int(np.prod(shape[1:]))
    scale = np.sqrt(2.0 / fan_in)
    if key.startswith("layers.2"):
        scale = 1.0 / np.sqrt(fan_in)  # unit spread; synthetic_state_dicts scales the rows
    return torch.randn(shape, generator=generator) * scale


def write_deca_checkpoint(path: str | Path, seed: int = 0, legacy_format: bool = False,
                          state_dicts: dict | None = None) -> None:
    """deca_model.tar with random weights of the released keys (plus trainer entries a released file may hold)."""
    state_dicts = synthetic_state_dicts(seed) if state_dicts is None else state_dicts
    torch.save({**state_dicts, "global_step": 100000, "batch_size": 4}, path,
               _use_new_zipfile_serialization=not legacy_format)


def write_albedo(path: str | Path, components: int = 50) -> None:
    """FLAME_albedo_from_BFM.npz with the released keys and layout (MU (512²·3,), PC (512²·3, N), BGR), holding
    `components` PCs (the release has 199) so the file stays small; a skin tone in MU, smooth patterns in the first
    PCs."""
    side = ALBEDO_STORED_SIZE
    grid = (np.arange(side) + 0.5) / side
    bgr = np.array([0.45, 0.6, 0.8], dtype=np.float32)   # a skin tone, stored blue first
    mean = np.broadcast_to(bgr, (side, side, 3)).reshape(-1)
    basis = np.zeros((side * side * 3, components), dtype=np.float32)
    for k in range(min(components, 4)):
        pattern = np.sin(2 * np.pi * (k + 1) * grid)[None, :] * np.cos(2 * np.pi * (k + 1) * grid)[:, None]
        basis[:, k] = np.repeat(pattern[..., None], 3, axis=2).reshape(-1) * 0.05
    np.savez_compressed(path, MU=mean.astype(np.float32), PC=basis)


def write_synthetic_deca_folder(folder: str | Path, *, albedo: bool = False, checkpoint: bool = True,
                                seed: int = 0) -> Path:
    """Write every file of a DECA folder (the albedo model only when asked; deca_model.tar unless checkpoint=False).
    Deterministic for a seed. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    flame = synthetic_flame(seed)
    write_flame_pickle(folder / FLAME_MODEL, flame)
    write_landmark_embedding(folder / LANDMARK_EMBEDDING, flame)
    write_head_template(folder / HEAD_TEMPLATE, flame)
    write_fixed_displacement(folder / FIXED_DISPLACEMENT)
    write_face_eye_mask(folder / FACE_EYE_MASK)
    if checkpoint:
        write_deca_checkpoint(folder / DECA_MODEL, seed)
    if albedo:
        write_albedo(folder / ALBEDO_MODEL)
    return folder


# ---------------------------------------------------------------------------------------------------------------
# A photo to reconstruct


def synthetic_face_photo(size: int = 320, mouth_open: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A made-up face photo and its 468 "MediaPipe" landmarks.

    Returns photo (size,size,3) uint8 RGB — a skin-coloured ellipse with eyes and a mouth that opens with mouth_open
    in [0,1] on a textured background — and landmarks (468,2) photo pixels spread over the ellipse (the points DECA's
    crop reads outline the face).
    """
    rng = np.random.default_rng(seed)
    photo = (rng.uniform(0, 1, size=(size // 8, size // 8, 3)) * 120 + 60).astype(np.uint8)
    photo = cv2.resize(photo, (size, size), interpolation=cv2.INTER_CUBIC)
    centre = np.array([size * 0.5, size * 0.52])
    radii = np.array([size * 0.22, size * 0.3])
    cv2.ellipse(photo, tuple(int(c) for c in centre), tuple(int(r) for r in radii), 0, 0, 360, (205, 160, 135), -1)
    for side in (-1, 1):
        eye = centre + np.array([side * radii[0] * 0.42, -radii[1] * 0.2])
        cv2.ellipse(photo, tuple(int(c) for c in eye), (int(radii[0] * 0.16), int(radii[1] * 0.06)), 0, 0, 360,
                    (40, 30, 30), -1)
    mouth = centre + np.array([0.0, radii[1] * 0.5])
    cv2.ellipse(photo, tuple(int(c) for c in mouth), (int(radii[0] * 0.4), int(radii[1] * (0.04 + 0.12 * mouth_open))),
                0, 0, 360, (120, 40, 50), -1)
    angles = np.linspace(0.0, 2.0 * np.pi, 468, endpoint=False)
    spread = 0.35 + 0.65 * ((np.arange(468) * 7) % 13) / 12.0
    landmarks = centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * radii * spread[:, None]
    oval_angles = np.linspace(np.pi, 0.0, len(LOWER_FACE_OVAL))
    # The points DECA's crop reads outline the face: ear to chin to ear, and the brows.
    landmarks[list(LOWER_FACE_OVAL)] = centre + np.stack([np.cos(oval_angles), np.sin(oval_angles)], axis=1) * radii
    brow_x = np.linspace(-0.8, 0.8, len(BROWS))
    landmarks[list(BROWS)] = centre + np.stack([brow_x * radii[0], np.full_like(brow_x, -0.45 * radii[1])], axis=1)
    return photo, landmarks
