"""Reading the FLAME and DECA data files into plain numpy arrays (no torch modules, no maths).

The user supplies one folder holding every file (DESIGN.md: never downloaded at run time). generic_model.pkl is a
Python-2 pickle made partly of chumpy objects; it is read without chumpy by a restricted unpickler that turns chumpy
objects back into arrays and refuses anything a FLAME file does not hold.
"""
import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from addon.core.errors import PromptFaceError
from addon.core.obj_mesh import Mesh, read_obj

FLAME_MODEL = "generic_model.pkl"
DECA_MODEL = "deca_model.tar"
LANDMARK_EMBEDDING = "landmark_embedding.npy"
HEAD_TEMPLATE = "head_template.obj"
FIXED_DISPLACEMENT = "fixed_displacement_256.npy"
FACE_EYE_MASK = "uv_face_eye_mask.png"
ALBEDO_MODEL = "FLAME_albedo_from_BFM.npz"

_FLAME_SOURCE = ("FLAME 2020 from https://flame.is.tue.mpg.de (free registration; the FLAME2020 zip holds "
                 "generic_model.pkl)")
_DECA_DATA_SOURCE = "the data/ folder of the DECA release (https://github.com/yfeng95/DECA)"
REQUIRED_FILES: dict[str, str] = {
    FLAME_MODEL: _FLAME_SOURCE,
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
class FlameArrays:
    """The FLAME model as it is stored (float64 as released)."""
    v_template: np.ndarray
    """(V,3) rest-pose template in metres."""
    shapedirs: np.ndarray
    """(V,3,400): 300 identity then 100 expression directions."""
    posedirs: np.ndarray
    """(V,3,(J-1)*9) pose-corrective directions."""
    j_regressor: np.ndarray
    """(J,V) dense joint regressor."""
    parents: np.ndarray
    """(J,) int64, parents[0] = -1: root, neck, jaw, left eye, right eye."""
    weights: np.ndarray
    """(V,J) skinning weights."""
    faces: np.ndarray
    """(F,3) int64 vertex indices."""


@dataclass(frozen=True)
class LandmarkEmbedding:
    """Where the 68 landmarks sit on the FLAME surface: a face index and barycentric coordinates each."""
    static_face_ids: np.ndarray
    """(51,) int64: the fixed inner-face points."""
    static_barycentrics: np.ndarray
    """(51,3)."""
    dynamic_face_ids: np.ndarray
    """(79,17) int64: one contour row per yaw bin."""
    dynamic_barycentrics: np.ndarray
    """(79,17,3)."""
    full_face_ids: np.ndarray
    """(68,) int64: all 68 points for the 3D landmarks."""
    full_barycentrics: np.ndarray
    """(68,3)."""


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
    flame = load_flame(folder / FLAME_MODEL)
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
# generic_model.pkl


class _ChumpyObject:
    """Stands in for a chumpy class while unpickling: keeps the state dict chumpy would have restored."""
    chumpy_class = "chumpy.?"

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        self.state = {}

    def __setstate__(self, state):
        self.state = state


_NUMPY_MODULES = {"numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                  "numpy._core.numeric"}
_NUMPY_NAMES = {"ndarray", "dtype", "_reconstruct", "scalar", "_frombuffer"}
_BUILTIN_NAMES = {"object", "set", "frozenset", "slice", "complex", "bytearray"}


class FlameUnpickler(pickle.Unpickler):
    """Unpickles a FLAME model file: numpy arrays, scipy sparse matrices, chumpy objects (as _ChumpyObject);
    anything else is refused, so a file from elsewhere cannot run code."""

    def __init__(self, file, source: Path):
        super().__init__(file, encoding="latin1")
        self._source = source
        self._chumpy_classes: dict[str, type] = {}

    def find_class(self, module: str, name: str):
        if module == "chumpy" or module.startswith("chumpy."):
            key = f"{module}.{name}"
            if key not in self._chumpy_classes:
                self._chumpy_classes[key] = type(name, (_ChumpyObject,), {"chumpy_class": key})
            return self._chumpy_classes[key]
        if module.startswith("scipy.sparse") and name.endswith(("_matrix", "_array")):
            import scipy.sparse
            return getattr(scipy.sparse, name)
        if module in _NUMPY_MODULES and name in _NUMPY_NAMES:
            return super().find_class(module, name)
        if (module, name) in {("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"), ("_codecs", "encode")}:
            return super().find_class(module, name)
        if module in ("builtins", "__builtin__") and name in _BUILTIN_NAMES:
            return super().find_class(module, name)
        raise DecaFilesError(f"{self._source} refers to {module}.{name}, which a FLAME model file does not hold; "
                             f"use generic_model.pkl of {_FLAME_SOURCE}")


def load_flame_pickle(path: str | Path) -> dict:
    """The pickled dict of a FLAME model file, with chumpy objects and sparse matrices turned into numpy arrays."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            loaded = FlameUnpickler(file, path).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise DecaFilesError(f"{path} is not a readable FLAME model pickle ({error}); use generic_model.pkl of "
                             f"{_FLAME_SOURCE}") from error
    if not isinstance(loaded, dict):
        raise DecaFilesError(f"{path} holds a {type(loaded).__name__}, not the dict of a FLAME model")
    return {key: _plain(value, f"{path}:{key}") for key, value in loaded.items()}


def _plain(value, where: str):
    """numpy arrays (and plain Python values) for chumpy objects and scipy sparse matrices."""
    if isinstance(value, _ChumpyObject):
        return _chumpy_array(value, where)
    if hasattr(value, "toarray") and hasattr(value, "tocsr"):  # scipy sparse
        return _sparse_to_dense(value)
    return value


def _sparse_to_dense(matrix) -> np.ndarray:
    """A compressed sparse matrix unpickled from an old scipy is rebuilt from its stored fields, so attributes that
    newer scipy versions expect (and old pickles lack) do not matter."""
    fields = vars(matrix)
    shape = fields.get("_shape", fields.get("shape"))
    if {"data", "indices", "indptr"} <= fields.keys() and shape is not None:
        return type(matrix)((fields["data"], fields["indices"], fields["indptr"]), shape=tuple(shape)).toarray()
    return matrix.toarray()


def _chumpy_array(value: _ChumpyObject, where: str) -> np.ndarray:
    state = value.state if isinstance(value.state, dict) else {}
    if "x" in state:  # chumpy.Ch: the array itself
        return np.asarray(_plain(state["x"], where))
    if value.chumpy_class.endswith("Select") and "a" in state and "idxs" in state:
        selected = np.asarray(_plain(state["a"], where)).ravel()[np.asarray(state["idxs"])]
        shape = state.get("preferred_shape")
        return selected.reshape(shape) if shape is not None else selected
    raise DecaFilesError(f"{where} is a {value.chumpy_class} without an array in it; this loader reads chumpy Ch "
                         f"and Select objects only (keys found: {sorted(state)})")


def load_flame(path: str | Path) -> FlameArrays:
    """FLAME's arrays from generic_model.pkl, shapes checked."""
    path = Path(path)
    fields = load_flame_pickle(path)
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights", "f"):
        if key not in fields:
            raise DecaFilesError(f"{path} has no '{key}'; is it the FLAME 2020 generic_model.pkl?")
    template = _array(fields["v_template"], path, "v_template", np.float64)
    vertices = template.shape[0]
    kintree = np.asarray(fields["kintree_table"]).astype(np.int64)
    joints = kintree.shape[-1] if kintree.ndim == 2 else -1
    _check_shape(template, (vertices, 3), path, "v_template")
    _check_shape(kintree, (2, joints), path, "kintree_table")
    shapedirs = _array(fields["shapedirs"], path, "shapedirs", np.float64)
    _check_shape(shapedirs, (vertices, 3, shapedirs.shape[-1]), path, "shapedirs")
    posedirs = _array(fields["posedirs"], path, "posedirs", np.float64)
    _check_shape(posedirs, (vertices, 3, (joints - 1) * 9), path, "posedirs")
    regressor = _array(fields["J_regressor"], path, "J_regressor", np.float64)
    _check_shape(regressor, (joints, vertices), path, "J_regressor")
    weights = _array(fields["weights"], path, "weights", np.float64)
    _check_shape(weights, (vertices, joints), path, "weights")
    faces = _array(fields["f"], path, "f", np.int64)
    _check_shape(faces, (faces.shape[0], 3), path, "f")
    if faces.min() < 0 or faces.max() >= vertices:
        raise DecaFilesError(f"{path}: 'f' indexes vertices {faces.min()}..{faces.max()}, the model has {vertices}")
    return FlameArrays(v_template=template, shapedirs=shapedirs, posedirs=posedirs, j_regressor=regressor,
                       parents=_parents(kintree, path), weights=weights, faces=faces)


def _parents(kintree: np.ndarray, path: Path) -> np.ndarray:
    """Parent index per joint from FLAME's kintree_table (row 0 parent ids, row 1 joint ids; the root's parent is
    stored as 2³²−1)."""
    index_of = {int(joint): position for position, joint in enumerate(kintree[1])}
    parents = [-1]
    for position in range(1, kintree.shape[1]):
        parent = int(kintree[0, position])
        if parent not in index_of or index_of[parent] >= position:
            raise DecaFilesError(f"{path}: kintree_table gives joint {position} the parent {parent}, which is not an "
                                 "earlier joint")
        parents.append(index_of[parent])
    return np.array(parents, dtype=np.int64)


# ---------------------------------------------------------------------------------------------------------------
# The other data files


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


def _array(value, path: Path, name: str, dtype) -> np.ndarray:
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise DecaFilesError(f"{path}: '{name}' is not a numeric array ({type(value).__name__})") from error


def _check_shape(array: np.ndarray, shape: tuple, path: Path, name: str) -> None:
    if tuple(array.shape) != tuple(shape):
        raise DecaFilesError(f"{path}: {name} has shape {tuple(array.shape)}, expected {tuple(shape)} as in the "
                             "released file")
