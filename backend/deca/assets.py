"""Reading the files of a DECA folder into plain numpy arrays (no torch modules, no maths): which files it must hold,
DECA's data files, the optional albedo model, and FLAME's model through backend.flame.assets. deca_model.tar is read by
backend.deca.checkpoint.

The user supplies one folder holding every file (never downloaded at run time).
"""
import pickle
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from addon.core.errors import PromptFaceError
from addon.core.obj_mesh import Mesh, read_obj
from backend.flame.assets import (FLAME_MODEL, FLAME_SOURCE, FlameArrays, FlameFilesError, LandmarkEmbedding,
                                  check_shape, checked_array, load_flame)

DECA_MODEL = "deca_model.tar"
LANDMARK_EMBEDDING = "landmark_embedding.npy"
HEAD_TEMPLATE = "head_template.obj"
FIXED_DISPLACEMENT = "fixed_displacement_256.npy"
FACE_EYE_MASK = "uv_face_eye_mask.png"
ALBEDO_MODEL = "FLAME_albedo_from_BFM.npz"

_DECA_DATA_SOURCE = "the data/ folder of the DECA release (https://github.com/yfeng95/DECA)"
REQUIRED_FILES: dict[str, str] = {
    FLAME_MODEL: FLAME_SOURCE,
    DECA_MODEL: "the trained DECA model linked from the DECA release's README (https://github.com/yfeng95/DECA)",
    LANDMARK_EMBEDDING: _DECA_DATA_SOURCE,
    HEAD_TEMPLATE: _DECA_DATA_SOURCE,
    FIXED_DISPLACEMENT: _DECA_DATA_SOURCE,
    FACE_EYE_MASK: _DECA_DATA_SOURCE,
}
OPTIONAL_FILES: dict[str, str] = {
    ALBEDO_MODEL: ("converted from the Basel Face Model 2017 with https://github.com/TimoBolkart/BFM_to_FLAME "
                   "(BFM registration required); without it the texture outside the face is plain grey"),
}

TEXTURE_SIZE = 256
# The albedo model is stored at 512² and used at TEXTURE_SIZE, as DECA does.
ALBEDO_STORED_SIZE = 512


class DecaFilesError(PromptFaceError):
    """The DECA/FLAME folder lacks a file, or a file in it is not what the release holds."""


# ---------------------------------------------------------------------------------------------------------------
# The folder


def missing_deca_files(folder: str | Path) -> list[str]:
    """Names of the required files that are not in folder, in REQUIRED_FILES order."""
    folder = Path(folder)
    return [name for name in REQUIRED_FILES if not (folder / name).is_file()]


def check_deca_folder(folder: str | Path) -> None:
    """Raise DecaFilesError naming every missing required file and where to obtain it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DecaFilesError(f"DECA folder {folder} does not exist; create it and put these files in it:\n"
                             + _file_list(REQUIRED_FILES))
    missing = missing_deca_files(folder)
    if missing:
        raise DecaFilesError(f"DECA folder {folder} lacks {len(missing)} file(s); put them there:\n"
                             + _file_list({name: REQUIRED_FILES[name] for name in missing}))


def _file_list(files: dict[str, str]) -> str:
    return "\n".join(f"  - {name}: {source}" for name, source in files.items())


# ---------------------------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class AlbedoModel:
    """A linear albedo space in the head_template UV layout, RGB in [0,1] at TEXTURE_SIZE²."""
    mean: np.ndarray
    """(T,T,3) float32."""
    basis: np.ndarray
    """(T,T,3,K) float32."""


@dataclass(frozen=True)
class DecaAssets:
    """Everything in a DECA folder but the network weights."""
    folder: Path
    flame: FlameArrays
    landmarks: LandmarkEmbedding
    template: Mesh
    """head_template.obj: FLAME topology with its UV layout (5118 vt)."""
    fixed_displacement: np.ndarray
    """(T,T) float32 metres, added to every predicted displacement."""
    face_eye_mask: np.ndarray
    """(T,T) float32 in [0,1]: where details and the photo's colours are used."""
    albedo: AlbedoModel | None


def load_deca_assets(folder: str | Path, albedo_components: int = 50, use_albedo: bool = True) -> DecaAssets:
    """Read every data file of a DECA folder (not deca_model.tar). Checks the folder first."""
    folder = Path(folder)
    check_deca_folder(folder)
    try:
        flame = load_flame(folder / FLAME_MODEL)
    except FlameFilesError as error:  # one error type for every file of the folder
        raise DecaFilesError(str(error)) from error
    template = load_head_template(folder / HEAD_TEMPLATE)
    if len(template.vertices) != len(flame.v_template) or len(template.faces) != len(flame.faces):
        raise DecaFilesError(f"{folder / HEAD_TEMPLATE} has {len(template.vertices)} vertices and "
                             f"{len(template.faces)} faces, {FLAME_MODEL} {len(flame.v_template)} and "
                             f"{len(flame.faces)}: both must come from the same FLAME release")
    albedo_path = folder / ALBEDO_MODEL
    albedo = load_albedo(albedo_path, albedo_components) if use_albedo and albedo_path.is_file() else None
    return DecaAssets(folder=folder, flame=flame, landmarks=load_landmark_embedding(folder / LANDMARK_EMBEDDING),
                      template=template, fixed_displacement=load_fixed_displacement(folder / FIXED_DISPLACEMENT),
                      face_eye_mask=load_face_eye_mask(folder / FACE_EYE_MASK), albedo=albedo)


# ---------------------------------------------------------------------------------------------------------------
# DECA's data files and the albedo model


def load_landmark_embedding(path: str | Path) -> LandmarkEmbedding:
    """landmark_embedding.npy: a pickled dict (some values torch tensors, so torch must be importable). Like every
    file in the DECA folder it is trusted: numpy unpickles it."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=True, encoding="latin1")[()]
    except (OSError, ValueError, pickle.UnpicklingError, EOFError) as error:
        raise DecaFilesError(f"{path} is not a readable landmark embedding ({error}); use {_DECA_DATA_SOURCE}") \
            from error
    if not isinstance(loaded, dict):
        raise DecaFilesError(f"{path} holds a {type(loaded).__name__}, not the dict of DECA's landmark embedding")
    needed = ("static_lmk_faces_idx", "static_lmk_bary_coords", "dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords",
              "full_lmk_faces_idx", "full_lmk_bary_coords")
    missing = [key for key in needed if key not in loaded]
    if missing:
        raise DecaFilesError(f"{path} lacks {', '.join(missing)}; use {_DECA_DATA_SOURCE}")
    get = {key: _as_numpy(loaded[key]) for key in needed}
    embedding = LandmarkEmbedding(
        static_face_ids=_array(get["static_lmk_faces_idx"], path, "static_lmk_faces_idx", np.int64).reshape(-1),
        static_barycentrics=_array(get["static_lmk_bary_coords"], path, "static_lmk_bary_coords", np.float64),
        dynamic_face_ids=_array(get["dynamic_lmk_faces_idx"], path, "dynamic_lmk_faces_idx", np.int64),
        dynamic_barycentrics=_array(get["dynamic_lmk_bary_coords"], path, "dynamic_lmk_bary_coords", np.float64),
        full_face_ids=_array(get["full_lmk_faces_idx"], path, "full_lmk_faces_idx", np.int64).reshape(-1),
        full_barycentrics=_array(get["full_lmk_bary_coords"], path, "full_lmk_bary_coords", np.float64)
        .reshape(-1, 3),
    )
    for name, array, shape in (("static_lmk_faces_idx", embedding.static_face_ids, (51,)),
                               ("static_lmk_bary_coords", embedding.static_barycentrics, (51, 3)),
                               ("dynamic_lmk_faces_idx", embedding.dynamic_face_ids, (79, 17)),
                               ("dynamic_lmk_bary_coords", embedding.dynamic_barycentrics, (79, 17, 3)),
                               ("full_lmk_faces_idx", embedding.full_face_ids, (68,)),
                               ("full_lmk_bary_coords", embedding.full_barycentrics, (68, 3))):
        _check_shape(array, shape, path, name)
    return embedding


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


def load_head_template(path: str | Path) -> Mesh:
    """head_template.obj: FLAME's vertices and faces with their UVs (f v/vt)."""
    path = Path(path)
    try:
        mesh = read_obj(path)
    except PromptFaceError as error:  # read_obj names the file and line
        raise DecaFilesError(f"{error}; use head_template.obj of {_DECA_DATA_SOURCE}") from error
    if not mesh.has_uvs:
        raise DecaFilesError(f"{path} has no UVs on its faces; use head_template.obj of {_DECA_DATA_SOURCE}")
    return mesh


def load_fixed_displacement(path: str | Path) -> np.ndarray:
    """fixed_displacement_256.npy: (T,T) metres."""
    path = Path(path)
    try:
        displacement = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DecaFilesError(f"{path} is not a readable .npy array ({error})") from error
    _check_shape(displacement, (TEXTURE_SIZE, TEXTURE_SIZE), path, "the array")
    return displacement.astype(np.float32)


def load_face_eye_mask(path: str | Path) -> np.ndarray:
    """uv_face_eye_mask.png: (T,T) in [0,1] from the image's first (red) channel."""
    path = Path(path)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DecaFilesError(f"{path} is not a readable image; use uv_face_eye_mask.png of {_DECA_DATA_SOURCE}")
    if image.ndim == 3:
        image = image[:, :, 2]  # OpenCV reads BGR(A): index 2 is red
    _check_shape(image, (TEXTURE_SIZE, TEXTURE_SIZE), path, "the image")
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return (image.astype(np.float32) / scale).clip(0.0, 1.0)


def load_albedo(path: str | Path, components: int = 50) -> AlbedoModel:
    """FLAME_albedo_from_BFM.npz: MU (H·W·3,) and PC (H·W·3, N) at 512², BGR. Keeps the first components, brings
    both to TEXTURE_SIZE² (2×2 means: a linear step, so resizing the basis equals resizing each albedo) and RGB."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as stored:
            mean, basis = stored["MU"], stored["PC"]
            basis = basis[:, :components]
    except (OSError, ValueError, KeyError) as error:
        raise DecaFilesError(f"{path} is not an albedo model with MU and PC arrays ({error})") from error
    texels = ALBEDO_STORED_SIZE * ALBEDO_STORED_SIZE * 3
    _check_shape(mean.reshape(-1), (texels,), path, "MU")
    if basis.shape != (texels, components):
        raise DecaFilesError(f"{path}: PC has shape {basis.shape}, expected ({texels}, at least {components})")
    factor = ALBEDO_STORED_SIZE // TEXTURE_SIZE

    def to_texture_rgb(values: np.ndarray) -> np.ndarray:
        grid = values.reshape(TEXTURE_SIZE, factor, TEXTURE_SIZE, factor, 3, -1).mean(axis=(1, 3))
        return grid[:, :, ::-1].astype(np.float32)

    return AlbedoModel(mean=np.ascontiguousarray(to_texture_rgb(mean)[..., 0]),
                       basis=np.ascontiguousarray(to_texture_rgb(basis)))


# ---------------------------------------------------------------------------------------------------------------
# Checks

# The FLAME loader's checks, raising this folder's error.
_array = partial(checked_array, error=DecaFilesError)
_check_shape = partial(check_shape, error=DecaFilesError)
