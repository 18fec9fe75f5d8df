"""DECA's input crop: a square around the face's landmark box, scaled by 1.25, resampled to 224x224.

DECA finds the box from 68 FAN landmarks (whose weights face_alignment downloads at run time). We use the MediaPipe
landmarks the pipeline already has, restricted to the points that bound the 68-point set: the lower face oval (ear
to chin to ear, as FAN's jaw contour) and the upper brow edges (FAN's brow points) — MediaPipe's forehead points would
make the box taller than the one DECA was trained on.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from backend.subject.face_topology import INNER_BROW, OUTER_BROW

CROP_SIZE = 224
CROP_SCALE = 1.25
# DECA widens the landmark box by this before applying CROP_SCALE.
BOX_ENLARGE = 1.1
# MediaPipe face-oval indices from the right ear (234) under the chin (152) to the left ear (454).
LOWER_FACE_OVAL = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323,
                   454)
BROWS = tuple(INNER_BROW[0] + OUTER_BROW[0] + INNER_BROW[1] + OUTER_BROW[1])
BOX_LANDMARKS_468 = LOWER_FACE_OVAL + BROWS


@dataclass(frozen=True)
class DecaCrop:
    """A square region of a photo resampled to CROP_SIZE²."""
    image: np.ndarray
    """(224,224,3) float32 RGB in [0,1]; outside the photo black, as DECA pads."""
    centre: tuple[float, float]
    """Photo pixels."""
    size: float
    """Side of the square in photo pixels."""

    @property
    def scale(self) -> float:
        """Crop pixels per photo pixel."""
        return (CROP_SIZE - 1) / self.size

    @property
    def matrix(self) -> np.ndarray:
        """(2,3) photo pixels → crop pixels (pixel centres at integers)."""
        return crop_matrix(self.centre, self.size)

    def to_photo(self, crop_px: np.ndarray) -> np.ndarray:
        """(...,2) crop pixels → photo pixels."""
        corner = np.array(self.centre) - self.size / 2
        return np.asarray(crop_px) / self.scale + corner


def landmark_box(landmarks_px: np.ndarray) -> tuple[float, float, float, float]:
    """left, top, right, bottom of the points that bound DECA's 68-landmark box.

    landmarks_px: (468,2|3) MediaPipe landmarks or (68,2|3) FAN-style landmarks, photo pixels.
    """
    points = np.asarray(landmarks_px, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] not in (2, 3) or len(points) not in (468, 68):
        raise ValueError(f"landmarks must be (468,2|3) MediaPipe or (68,2|3) points in photo pixels, "
                         f"got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("landmarks contain NaN or infinite values")
    chosen = points[list(BOX_LANDMARKS_468), :2] if len(points) == 468 else points[:, :2]
    left, top = chosen.min(axis=0)
    right, bottom = chosen.max(axis=0)
    return float(left), float(top), float(right), float(bottom)


def crop_square(box: tuple[float, float, float, float]) -> tuple[tuple[float, float], float]:
    """DECA's square from a landmark box: centre of the box, side = mean extent × 1.1 × 1.25 (truncated)."""
    left, top, right, bottom = box
    old_size = ((right - left) + (bottom - top)) / 2 * BOX_ENLARGE
    centre = (right - (right - left) / 2.0, bottom - (bottom - top) / 2.0)
    size = float(int(old_size * CROP_SCALE))
    if size < 1:
        raise ValueError(f"the face's landmark box {box} is too small to crop")
    return centre, size


def crop_matrix(centre: tuple[float, float], size: float) -> np.ndarray:
    """(2,3) similarity taking the square's corners to the crop's corner pixels 0 and CROP_SIZE-1."""
    scale = (CROP_SIZE - 1) / size
    cx, cy = centre
    return np.array([[scale, 0.0, -scale * (cx - size / 2)], [0.0, scale, -scale * (cy - size / 2)]])


def deca_crop(photo: np.ndarray, landmarks_px: np.ndarray) -> DecaCrop:
    """Crop an (H,W,3) uint8 RGB photo the way DECA's encoders expect, from its landmarks."""
    centre, size = crop_square(landmark_box(landmarks_px))
    return crop_at(photo, centre, size)


def crop_at(photo: np.ndarray, centre: tuple[float, float], size: float) -> DecaCrop:
    """The DECA crop of a given square (e.g. the neutral's square reused for an edited photo of the same framing)."""
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"photo must be (H,W,3) uint8 RGB, got {photo.dtype} {photo.shape}")
    image = cv2.warpAffine(photo.astype(np.float32) / 255.0, crop_matrix(centre, size), (CROP_SIZE, CROP_SIZE),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return DecaCrop(image=image, centre=(float(centre[0]), float(centre[1])), size=float(size))
