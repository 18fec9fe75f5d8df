"""Pipeline step 8, the texture after reconstruction: enhancement (thesis §3.5) and the change mask against the base
texture."""
import cv2
import numpy as np

from backend.texture.skin_tone import delta_e76, rgb_to_lab

# Change mask: colour differences (CIE76 ΔE) below LOW count as unchanged, above HIGH as fully changed.
CHANGE_LOW_DELTA_E = 4.0
CHANGE_HIGH_DELTA_E = 14.0


def enhance_texture(texture: np.ndarray, face_region: np.ndarray, amount: float = 0.6, radius_px: float = 1.5,
                    max_detail: float = 10.0) -> np.ndarray:
    """Unsharp mask on the face only, with the added high-frequency detail clamped to ±max_detail levels.

    texture: (S,S,3) uint8; face_region: (S,S) bool. Clamping keeps edges from ringing into halos.
    """
    image = texture.astype(np.float32)
    detail = image - cv2.GaussianBlur(image, (0, 0), radius_px)
    detail = np.clip(amount * detail, -max_detail, max_detail)
    weight = cv2.GaussianBlur(face_region.astype(np.float32), (0, 0), 3.0)[..., None]
    return np.clip(np.round(image + weight * detail), 0, 255).astype(np.uint8)


def change_mask(texture: np.ndarray, base_texture: np.ndarray, face_region: np.ndarray,
                blur_px: float = 2.5) -> np.ndarray:
    """(S,S) uint8 mask of where an expression texture differs from the base (255 = changed), face only."""
    difference = cv2.GaussianBlur(delta_e76(rgb_to_lab(texture), rgb_to_lab(base_texture)), (0, 0), blur_px)
    changed = np.clip((difference - CHANGE_LOW_DELTA_E) / (CHANGE_HIGH_DELTA_E - CHANGE_LOW_DELTA_E), 0.0, 1.0)
    region = cv2.GaussianBlur(face_region.astype(np.float32), (0, 0), 2.0)
    return np.round(255 * changed * region).astype(np.uint8)
