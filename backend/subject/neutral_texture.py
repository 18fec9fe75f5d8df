"""Pipeline step 3, the texture half: the photo's crop, already warped onto the neutral landmarks, made to look
neutral where a warp cannot — what showed between parted lips, and the folds a smile pressed into the cheeks.

A warp moves pixels; it cannot take away teeth that the closing lips squeezed together, nor the nasolabial folds
and cheek bulges that stay where a smile put them. The first are filled from the lips around them (inpainting),
the second are flattened: in the cheeks and around the mouth corners the mid-frequency shading (the folds) is
replaced by its smooth surround, while fine skin texture is kept.
"""
import cv2
import numpy as np

from backend.subject.face_topology import OUTER_LIP_LOOP, face_width_px, polygon_mask
from backend.subject.photo_expression import PhotoExpression

# Inside the lips, pixels this much lighter (teeth) or darker (mouth cavity) than the lips' median are not lip.
NOT_LIP_LIGHTER, NOT_LIP_DARKER = 14.0, 30.0
# Width of the band along the closed lips' seam that is filled from the lips (face widths).
SEAM_BAND = 0.04
# Cheek and mouth-corner regions where a smile folds the skin (subject's right, then left), as landmark hulls.
FOLD_REGIONS = ((116, 117, 118, 101, 36, 203, 165, 92, 57, 43, 202, 210, 138, 215, 177, 137),
                (345, 346, 347, 330, 266, 423, 391, 322, 287, 273, 422, 430, 367, 435, 401, 366))
# How much of the folds goes per unit of the smile removed (AU12 lip corner puller, AU6 cheek raiser, AU10 upper
# lip raiser), at most MAX_FOLD_FLATTENING; sizes in face widths.
FOLD_UNITS = {"AU12": 1.0, "AU6": 0.7, "AU10": 0.5}
MAX_FOLD_FLATTENING = 0.8
FOLD_BLUR, REGION_FEATHER, FINE_DETAIL_PX = 0.035, 0.03, 1.5


def neutral_texture(crop: np.ndarray, landmarks_px: np.ndarray, mouth_loop: np.ndarray,
                    expression: PhotoExpression) -> np.ndarray:
    """The (S,S,3) warped crop with closed lips and the removed smile's folds flattened; landmarks_px (468,≥2) are
    the neutral landmarks in crop pixels, mouth_loop the (20,) inner-lip indices."""
    closed = close_lips(crop, landmarks_px, landmarks_px[mouth_loop, :2])
    return flatten_folds(closed, landmarks_px, fold_flattening(expression.action_units))


def close_lips(crop: np.ndarray, landmarks_px: np.ndarray, inner_lips_px: np.ndarray) -> np.ndarray:
    """The crop with what still shows between the lips (teeth and cavity that the warp squeezed together) filled
    from the lips around it, and a faint seam where the (L,2) inner lips meet: a closed mouth."""
    size = crop.shape[0]
    lips = polygon_mask(landmarks_px[list(OUTER_LIP_LOOP), :2], size)
    lightness = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32) * (100.0 / 255.0)
    median = float(np.median(lightness[lips])) if lips.any() else 0.0
    not_lip = lips & ((lightness > median + NOT_LIP_LIGHTER) | (lightness < median - NOT_LIP_DARKER))
    not_lip |= polygon_mask(inner_lips_px, size)
    # The warp squeezes what showed between the lips towards the seam, not always into it: a band along the seam
    # is filled from the lips too.
    band = np.zeros((size, size), np.uint8)
    thickness = max(2, int(round(SEAM_BAND * face_width_px(landmarks_px))))
    cv2.polylines(band, [np.round(inner_lips_px).astype(np.int32)], True, 1, thickness=thickness)
    not_lip |= lips & band.astype(bool)
    if not not_lip.any():
        return crop
    fill = cv2.dilate(not_lip.astype(np.uint8), np.ones((3, 3), np.uint8)) & lips.astype(np.uint8)
    filled = cv2.inpaint(crop, fill, 3, cv2.INPAINT_TELEA)
    seam = np.zeros((size, size), np.float32)
    cv2.polylines(seam, [np.round(inner_lips_px * 16).astype(np.int32)], True, 1.0, lineType=cv2.LINE_AA, shift=4)
    shade = 1.0 - 0.3 * cv2.GaussianBlur(seam, (0, 0), 0.8)[..., None]
    return np.clip(np.rint(filled * shade), 0, 255).astype(np.uint8)


def fold_flattening(action_units: dict[str, float]) -> float:
    """0..MAX_FOLD_FLATTENING: how much of the cheek folds to flatten for the smile that was removed."""
    smile = sum(weight * action_units.get(unit, 0.0) for unit, weight in FOLD_UNITS.items())
    return float(np.clip(smile, 0.0, 1.0)) * MAX_FOLD_FLATTENING


def flatten_folds(crop: np.ndarray, landmarks_px: np.ndarray, amount: float) -> np.ndarray:
    """The (S,S,3) crop with the mid-frequency shading of the cheek regions blended towards its smooth surround by
    amount (0: unchanged, bit-identical). One factor for all channels' detail: a grey photo stays grey."""
    if amount <= 0.0:
        return crop
    size = crop.shape[0]
    width = face_width_px(landmarks_px)
    region = np.zeros((size, size), np.float32)
    for ids in FOLD_REGIONS:
        hull = cv2.convexHull(landmarks_px[list(ids), :2].astype(np.float32))
        cv2.fillConvexPoly(region, np.round(hull).astype(np.int32), 1.0)
    weight = amount * cv2.GaussianBlur(region, (0, 0), REGION_FEATHER * width)[..., None]
    image = crop.astype(np.float32)
    fine = image - cv2.GaussianBlur(image, (0, 0), FINE_DETAIL_PX)
    smooth = cv2.GaussianBlur(image, (0, 0), FOLD_BLUR * width) + fine
    return np.clip(np.rint(image + weight * (smooth - image)), 0, 255).astype(np.uint8)
