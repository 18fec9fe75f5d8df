"""What the inner-mouth backing shows: a small patch painted into a corner of every texture.

The patch holds the photo's own mouth interior (teeth, tongue) when the mouth is open in the photo, over a
dark cavity colour taken from the photo's lips (so a grey photo gets a grey cavity); for a closed mouth it is
the cavity colour alone. The backing
cup's UVs map the inner-lip loop onto the patch, so an opened jaw shows the inside of a mouth instead of
stretched lips, and a subject photographed smiling keeps their teeth.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from backend.subject.face_topology import polygon_area, polygon_mask

# The cavity is the lips' own colour this dark (a mouth's inside is lit through the lips).
CAVITY_LIGHTNESS = 0.22
PATCH_PX = 64
# The patch covers the inner-lip loop's box, at least this tall relative to its width, plus a margin.
MIN_HEIGHT_RATIO = 0.35
MARGIN = 0.08
# Inner-lip area (as a fraction of width²) at which the photo's mouth interior is shown fully.
OPEN_AREA_RATIO = 0.12


@dataclass(frozen=True)
class MouthPatch:
    image: np.ndarray        # (PATCH_PX, PATCH_PX, 3) uint8
    region_low: np.ndarray   # (2,) crop pixels of the patch region's top-left corner
    region_size: np.ndarray  # (2,) crop pixels, width and height
    lips_px: np.ndarray      # (L,2) the inner-lip loop it was cut around (the photo's): the backing maps onto it


def lip_colour(image: np.ndarray, outer_lips_px: np.ndarray, inner_lips_px: np.ndarray) -> np.ndarray:
    """(3,) float median colour of the lips of a square (S,S,3) image: between the (N,2) outer lip line and the
    (L,2) inner-lip loop."""
    outer, inner = polygon_mask(outer_lips_px, image.shape[0]), polygon_mask(inner_lips_px, image.shape[0])
    lips = outer & ~inner
    pixels = image[lips] if lips.sum() >= 10 else image[outer | inner]
    return np.median(pixels.astype(np.float64), axis=0) if len(pixels) else np.full(3, 128.0)


def cavity_colour(image: np.ndarray, outer_lips_px: np.ndarray, inner_lips_px: np.ndarray) -> np.ndarray:
    """(3,) float: the dark colour of a mouth's inside, from the photo's own lips."""
    return CAVITY_LIGHTNESS * lip_colour(image, outer_lips_px, inner_lips_px)


def mouth_patch(crop: np.ndarray, inner_lips_px: np.ndarray, cavity: np.ndarray) -> MouthPatch:
    """The patch for a (S,S,3) crop whose (L,2) inner-lip loop is given in crop pixels, over a (3,) cavity colour."""
    low, high = inner_lips_px.min(axis=0), inner_lips_px.max(axis=0)
    width = max(high[0] - low[0], 1.0)
    height = max(high[1] - low[1], MIN_HEIGHT_RATIO * width)
    centre = (low + high) / 2
    size = np.array([width, height]) * (1 + 2 * MARGIN)
    region_low = centre - size / 2
    scale = PATCH_PX / size
    to_patch = np.array([[scale[0], 0, -region_low[0] * scale[0]], [0, scale[1], -region_low[1] * scale[1]]])
    photo = cv2.warpAffine(crop, to_patch, (PATCH_PX, PATCH_PX), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    inside = np.zeros((PATCH_PX, PATCH_PX), np.float32)
    lips_in_patch = (inner_lips_px - region_low) * scale
    cv2.fillPoly(inside, [np.round(lips_in_patch * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
    openness = float(np.clip(polygon_area(inner_lips_px) / (OPEN_AREA_RATIO * width ** 2), 0.0, 1.0))
    alpha = (cv2.GaussianBlur(inside, (0, 0), 1.5) * openness)[..., None]
    cavity = np.asarray(cavity, np.float32)
    image = np.clip(np.rint(cavity * (1 - alpha) + photo * alpha), 0, 255).astype(np.uint8)
    return MouthPatch(image=image, region_low=region_low, region_size=size, lips_px=np.asarray(inner_lips_px, float))


def patch_uvs(patch: MouthPatch, points_px: np.ndarray, texture_size: int) -> np.ndarray:
    """(N,2) UVs (v up) inside the patch's corner of the texture for (N,2) crop-pixel points of the mouth."""
    inside = np.clip((points_px - patch.region_low) / patch.region_size, 0.0, 1.0)
    column = inside[:, 0] * PATCH_PX
    row = texture_size - PATCH_PX + inside[:, 1] * PATCH_PX
    return np.column_stack([column, texture_size - row]) / texture_size


def paint_mouth_patch(texture: np.ndarray, patch: MouthPatch) -> np.ndarray:
    """A copy of the (S,S,3) texture with the patch in its bottom-left corner (where patch_uvs point)."""
    painted = texture.copy()
    painted[-PATCH_PX:, :PATCH_PX] = patch.image
    return painted


# The mouth opening and this many pixels around it are filled from the lips before an image becomes a texture.
OPENING_FILL_MARGIN_PX = 2


def fill_mouth_opening(image: np.ndarray, inner_lips_px: np.ndarray) -> np.ndarray:
    """The (S,S,3) image with its mouth opening (inside the (L,2) inner-lip loop, grown by a few pixels) filled
    from the lips around it. A texture never shows the opening (the mesh has a hole there, backed by the mouth
    cup), but its lip texels next to the hole would sample the teeth or cavity the edit drew there: a ragged fringe
    on the lips of the 3D face."""
    opening = polygon_mask(inner_lips_px, image.shape[0]).astype(np.uint8)
    if not opening.any():
        return image
    size = 2 * OPENING_FILL_MARGIN_PX + 1
    grown = cv2.dilate(opening, np.ones((size, size), np.uint8))
    return cv2.inpaint(image, grown, 3, cv2.INPAINT_TELEA)
