"""Shared, expensive backend objects: built once per test session on the real sample photo."""
import numpy as np
import pytest
from skimage import data

from backend.subject.calibration import Subject, calibrate
from backend.subject.face_detection import FaceFinder, LandmarkDetector
from backend.subject.photo_io import encode_png_bytes


@pytest.fixture(scope="session")
def face_finder() -> FaceFinder:
    return FaceFinder()


@pytest.fixture(scope="session")
def landmark_detector() -> LandmarkDetector:
    detector = LandmarkDetector()
    yield detector
    detector.close()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """skimage's astronaut: (512,512,3) uint8 RGB, one frontal face about 90 px wide."""
    image = data.astronaut()
    image.flags.writeable = False  # shared by every test: nobody may edit it in place
    return image


@pytest.fixture(scope="session")
def astronaut_png(astronaut) -> bytes:
    return encode_png_bytes(astronaut)


@pytest.fixture(scope="session")
def subject(astronaut, astronaut_png, face_finder, landmark_detector) -> Subject:
    """The astronaut calibrated as a subject (treat as read-only)."""
    return calibrate(astronaut, "astronaut.png", astronaut_png, face_finder, landmark_detector)


@pytest.fixture(scope="session")
def deca_folder(tmp_path_factory):
    """A complete DECA folder with the released files' keys, shapes and formats and random values (the real files
    are licensed by their owners and never here). About 290 MB, written once per session."""
    from backend.bench.synthetic_deca import write_synthetic_deca_folder
    return write_synthetic_deca_folder(tmp_path_factory.mktemp("deca"))


# The synthetic FLAME model (the released generic_model.pkl's keys and shapes) and its landmark embedding, for the
# FLAME tests (test_flame.py, test_flame_arkit.py).


@pytest.fixture(scope="module")
def synthetic():
    from backend.bench.synthetic_deca import synthetic_flame
    return synthetic_flame()


@pytest.fixture(scope="module")
def flame_files(tmp_path_factory, synthetic):
    from backend.bench.synthetic_deca import write_flame_pickle, write_landmark_embedding
    from backend.flame.assets import FLAME_MODEL
    folder = tmp_path_factory.mktemp("flame")
    write_flame_pickle(folder / FLAME_MODEL, synthetic)
    write_landmark_embedding(folder / "landmark_embedding.npy", synthetic)
    return folder


@pytest.fixture(scope="module")
def flame(flame_files):
    from backend.flame.assets import FLAME_MODEL, load_flame
    return load_flame(flame_files / FLAME_MODEL)


@pytest.fixture(scope="module")
def model(flame, flame_files):
    """FLAME as a torch module, on the synthetic files."""
    from backend.deca.assets import load_landmark_embedding
    from backend.flame.flame_model import FlameModel
    return FlameModel(flame, load_landmark_embedding(flame_files / "landmark_embedding.npy"))
