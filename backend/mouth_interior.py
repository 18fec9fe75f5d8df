"""What the inner-mouth backing shows: a small patch painted into a corner of every texture.

The patch holds the neutral photo's own mouth interior (teeth, tongue) when the mouth is open in the
neutral photo, over a dark cavity colour; for a closed mouth it is the cavity colour alone. The backing
cup's UVs map the inner-lip loop onto the patch, so an opened jaw shows the inside of a mouth instead of
stretched lips, and a subject photographed smiling keeps their teeth.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from backend.face_topology import polygon_area

MOUTH_COLOUR = (58, 24, 26)
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


def mouth_patch(crop: np.ndarray, inner_lips_px: np.ndarray) -> MouthPatch:
    """The patch for a (S,S,3) neutral crop whose (L,2) inner-lip loop is given in crop pixels."""
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
    cavity = np.asarray(MOUTH_COLOUR, np.float32)
    image = np.clip(np.rint(cavity * (1 - alpha) + photo * alpha), 0, 255).astype(np.uint8)
    return MouthPatch(image=image, region_low=region_low, region_size=size)


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
