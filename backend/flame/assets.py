"""Reading FLAME's model file, generic_model.pkl, into plain numpy arrays (no torch modules, no maths). Also the
LandmarkEmbedding type FlameModel takes; DECA's landmark_embedding.npy is read into it by backend.deca.assets.

generic_model.pkl is a Python-2 pickle made partly of chumpy objects; it is read without chumpy by a restricted
unpickler that turns chumpy objects back into arrays and refuses anything a FLAME file does not hold.
"""
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from addon.core.errors import PromptFaceError

FLAME_MODEL = "generic_model.pkl"
FLAME_SOURCE = ("FLAME 2020 from https://flame.is.tue.mpg.de (free registration; the FLAME2020 zip holds "
                "generic_model.pkl)")


class FlameFilesError(PromptFaceError):
    """generic_model.pkl cannot be read, or is not what the FLAME 2020 release holds."""


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
        raise FlameFilesError(f"{self._source} refers to {module}.{name}, which a FLAME model file does not hold; "
                              f"use generic_model.pkl of {FLAME_SOURCE}")


def load_flame_pickle(path: str | Path) -> dict:
    """The pickled dict of a FLAME model file, with chumpy objects and sparse matrices turned into numpy arrays."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            loaded = FlameUnpickler(file, path).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise FlameFilesError(f"{path} is not a readable FLAME model pickle ({error}); use generic_model.pkl of "
                              f"{FLAME_SOURCE}") from error
    if not isinstance(loaded, dict):
        raise FlameFilesError(f"{path} holds a {type(loaded).__name__}, not the dict of a FLAME model")
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
    raise FlameFilesError(f"{where} is a {value.chumpy_class} without an array in it; this loader reads chumpy Ch "
                          f"and Select objects only (keys found: {sorted(state)})")


def load_flame(path: str | Path) -> FlameArrays:
    """FLAME's arrays from generic_model.pkl, shapes checked."""
    path = Path(path)
    fields = load_flame_pickle(path)
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights", "f"):
        if key not in fields:
            raise FlameFilesError(f"{path} has no '{key}'; is it the FLAME 2020 generic_model.pkl?")
    template = checked_array(fields["v_template"], path, "v_template", np.float64)
    vertices = template.shape[0]
    kintree = np.asarray(fields["kintree_table"]).astype(np.int64)
    joints = kintree.shape[-1] if kintree.ndim == 2 else -1
    check_shape(template, (vertices, 3), path, "v_template")
    check_shape(kintree, (2, joints), path, "kintree_table")
    shapedirs = checked_array(fields["shapedirs"], path, "shapedirs", np.float64)
    check_shape(shapedirs, (vertices, 3, shapedirs.shape[-1]), path, "shapedirs")
    posedirs = checked_array(fields["posedirs"], path, "posedirs", np.float64)
    check_shape(posedirs, (vertices, 3, (joints - 1) * 9), path, "posedirs")
    regressor = checked_array(fields["J_regressor"], path, "J_regressor", np.float64)
    check_shape(regressor, (joints, vertices), path, "J_regressor")
    weights = checked_array(fields["weights"], path, "weights", np.float64)
    check_shape(weights, (vertices, joints), path, "weights")
    faces = checked_array(fields["f"], path, "f", np.int64)
    check_shape(faces, (faces.shape[0], 3), path, "f")
    if faces.min() < 0 or faces.max() >= vertices:
        raise FlameFilesError(f"{path}: 'f' indexes vertices {faces.min()}..{faces.max()}, the model has {vertices}")
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
            raise FlameFilesError(f"{path}: kintree_table gives joint {position} the parent {parent}, which is not an "
                                  "earlier joint")
        parents.append(index_of[parent])
    return np.array(parents, dtype=np.int64)


# ---------------------------------------------------------------------------------------------------------------
# Checks


def checked_array(value, path: Path, name: str, dtype, error: type[PromptFaceError] = FlameFilesError) -> np.ndarray:
    """value as a numpy array of dtype; `error` naming the file and the entry when it is not numeric."""
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as problem:
        raise error(f"{path}: '{name}' is not a numeric array ({type(value).__name__})") from problem


def check_shape(array: np.ndarray, shape: tuple, path: Path, name: str,
                error: type[PromptFaceError] = FlameFilesError) -> None:
    """`error` naming the file and the entry when array's shape is not the released file's."""
    if tuple(array.shape) != tuple(shape):
        raise error(f"{path}: {name} has shape {tuple(array.shape)}, expected {tuple(shape)} as in the "
                    "released file")
