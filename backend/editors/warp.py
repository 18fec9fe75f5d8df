"""The `warp` editor (CPU): action units → landmark displacement → piecewise-affine warp of the face crop."""
import cv2
import numpy as np

from backend.calibration import Subject, polygon_mask, warp_crop
from backend.editors.editing import EditedPhoto, EditRequest
from backend.mouth_interior import MOUTH_COLOUR

NAME = "warp"
VERSION = "1"


class WarpEditor:
    name = NAME
    version = VERSION
    batch_size = 1  # one prompt at a time: each expression reaches the caller as soon as it is done

    def settings(self) -> dict:
        return {}

    def edit_batch(self, subject: Subject, requests: list[EditRequest]) -> list[EditedPhoto]:
        return [self.edit(subject, request.intent.action_units) for request in requests]

    def edit(self, subject: Subject, action_units: dict[str, float]) -> EditedPhoto:
        """Warp the subject's neutral crop into the expression given by action-unit intensities."""
        displacement_m = subject.action_units.displacement(action_units)
        neutral_px = subject.landmarks_px
        moved_px = subject.crop_to_mesh.to_pixels(subject.crop_to_mesh.to_metres(neutral_px) + displacement_m)
        warped = warp_crop(subject.crop, neutral_px, moved_px)
        mouth = subject.topology.mouth_loop
        image = fill_opened_mouth(warped, neutral_px[mouth, :2], moved_px[mouth, :2])
        # The landmarks are exact: the warp put them there.
        return EditedPhoto(image=image, full_prompt=action_unit_text(action_units), landmarks_px=moved_px)


def action_unit_text(action_units: dict[str, float]) -> str:
    """What the warp editor was asked for: 'AU6:0.50 AU12:1.00', in FACS order."""
    ordered = sorted(action_units.items(), key=lambda item: int(item[0][2:].rstrip("LR")))
    return " ".join(f"{unit}:{value:.2f}" for unit, value in ordered) or "neutral (no action units)"


def fill_opened_mouth(image: np.ndarray, neutral_lips: np.ndarray, moved_lips: np.ndarray) -> np.ndarray:
    """Darken the inside of the inner-lip loop where it opened wider than in the neutral photo.

    A warp can only stretch the lips' pixels across a new opening; the dark fill shows a mouth instead.
    neutral_lips, moved_lips: (L,2) inner-lip loop in crop pixels.
    """
    opened = polygon_area(moved_lips)
    if opened <= 1.0:
        return image
    new_fraction = float(np.clip(1.0 - polygon_area(neutral_lips) / opened, 0.0, 1.0))
    if new_fraction < 0.05:
        return image
    size = image.shape[0]
    inside = polygon_mask(moved_lips, size).astype(np.float32)
    alpha = cv2.GaussianBlur(inside, (0, 0), 1.2)[..., None] * (0.92 * new_fraction)
    cavity = _mouth_cavity(image.shape, moved_lips)
    return np.clip(np.rint(image * (1.0 - alpha) + cavity * alpha), 0, 255).astype(np.uint8)


def _mouth_cavity(shape, lips: np.ndarray) -> np.ndarray:
    """A dark mouth interior, a little lighter near the top (where upper teeth would catch light)."""
    height = shape[0]
    top, bottom = lips[:, 1].min(), lips[:, 1].max()
    rows = np.arange(height, dtype=np.float32)
    shade = np.clip((rows - top) / max(bottom - top, 1.0), 0.0, 1.0)
    lightness = 1.0 + 0.6 * (1.0 - shade) ** 3
    colour = np.asarray(MOUTH_COLOUR, np.float32)
    return np.broadcast_to((lightness[:, None] * colour)[:, None, :], shape)


def polygon_area(points: np.ndarray) -> float:
    """Area of a simple polygon given by (N,2) points (shoelace)."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
