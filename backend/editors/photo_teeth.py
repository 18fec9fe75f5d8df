"""The subject's own teeth: cut from a photo whose mouth showed them, placed into a mouth the edit opened.

The photo's opening is cut at the gap between the rows of teeth into two straightened strips at crop-pixel scale
(never stretched): the upper half hangs under the moved upper lip, the lower half stands on the moved lower lip and
sinks partly behind it as the jaw drops further than in the photo. backend/editors/mouth_drawing.py draws them over
its cavity and tongue, in place of drawn teeth. Coordinates are the mouth's own (backend/editors/mouth_frame.py).
"""
from dataclasses import dataclass

import cv2
import numpy as np

from backend.editors.mouth_frame import MouthFrame, mouth_frame
from backend.subject.face_topology import OUTER_LIP_LOOP
from backend.subject.mouth_interior import lip_colour

LUMINANCE_WEIGHTS = np.array([0.299, 0.587, 0.114])

# The photo's own opening is used as teeth only where its brightest rows are this much lighter than its lips.
TEETH_MIN_CONTRAST = 25.0
# A row band counts as the gap between the upper and lower teeth when it is darker than this fraction of the dimmer
# of the bright bands above and below it; without one the strip is cut this far down.
PHOTO_GAP_CONTRAST = 0.8
PHOTO_SPLIT_FALLBACK = 0.55
PHOTO_SPLIT_FADE = 1.0   # pixels over which each half fades out at the split
PHOTO_LIP_RIM = 0.015    # of the mouth width: the dark inner edge of the lips, left out of the halves
# An opening taller than the photo's comes from the jaw (a photo's open mouth is mostly lips drawn back from
# closed teeth), and a dropped jaw's lower lip covers most of the lower teeth: past the photo's opening the
# lower half sinks behind the lip this many pixels per extra pixel, until PHOTO_LOWER_HIDDEN_MAX of it is hidden.
PHOTO_LOWER_SINK = 3.0
PHOTO_LOWER_HIDDEN_MAX = 0.6


@dataclass(frozen=True)
class PhotoTeeth:
    """The photo's own mouth opening cut at the gap between the teeth rows into two straightened RGBA strips at
    crop-pixel scale, never stretched. Columns run across the mouth, the teeth midline in the middle column
    (w ≈ the mouth width). Each half carries on behind its own lip and has alpha 0 past the opposite one, and
    fades out at the split: the lower half reaches a little above it, behind the upper one."""
    upper: np.ndarray   # (h,w,4) uint8: row i is i pixels below the line the upper teeth hang from
    lower: np.ndarray   # (h',w,4) uint8: row h'-1-i is i pixels above the line the lower teeth stand on
    opening: float      # pixels from the upper teeth line to the lower one at the teeth midline
    split: float        # pixels below the upper teeth line where the halves part


def cut_photo_teeth(photo: np.ndarray, photo_landmarks_px: np.ndarray, mouth_loop: np.ndarray,
                    min_openness: float = 0.1) -> PhotoTeeth | None:
    """The photo's own mouth opening, split into upper and lower teeth, for `draw_mouth_interior(photo_teeth=...)`.

    photo: (S,S,3) uint8 crop as photographed; photo_landmarks_px: (468,2|3) its landmarks (crop pixels);
    mouth_loop: (20,). The split is the darkest row band between the two rows of teeth in the middle of the
    mouth, or a little over halfway down where the rows meet. None when the photo's mouth is closed (opening
    below min_openness of its width) or shows no teeth (nothing in it clearly lighter than the lips: parted lips
    over a dark mouth, which drawn teeth show better).
    """
    lips = np.asarray(photo_landmarks_px, float)[mouth_loop, :2]
    frame = mouth_frame(lips)
    if frame.openness() < min_openness:
        return None
    width = max(int(round(frame.width)), 2)
    u = frame.midline_u + np.arange(width) + 0.5 - 0.5 * width
    hang, stand = frame.upper_teeth_line(u), frame.lower_teeth_line(u)
    tallest = int(np.clip(np.ceil(np.max(stand - hang)), 2, frame.width))
    below_hang = np.arange(tallest) + 0.5
    upper_v = hang + below_hang[:, None]
    upper_rgb, upper_inside = _cut_half(photo, frame, u, upper_v, upper=True)
    profile = _row_luminance(upper_rgb, upper_inside, frame, u)
    lips_luminance = float(lip_colour(photo, np.asarray(photo_landmarks_px, float)[list(OUTER_LIP_LOOP), :2], lips)
                           @ LUMINANCE_WEIGHTS)
    if profile.max() < lips_luminance + TEETH_MIN_CONTRAST:
        return None
    split = _split_depth(profile)
    upper_alpha = upper_inside * (1.0 - _smoothstep(split - PHOTO_SPLIT_FADE, split + PHOTO_SPLIT_FADE,
                                                    upper_v - hang))
    lower_v = stand - below_hang[::-1, None]
    lower_rgb, lower_inside = _cut_half(photo, frame, u, lower_v, upper=False)
    lower_alpha = lower_inside * _smoothstep(split - 3 * PHOTO_SPLIT_FADE, split - PHOTO_SPLIT_FADE, lower_v - hang)
    rows = min(int(np.ceil(split + PHOTO_SPLIT_FADE)) + 1, tallest)
    return PhotoTeeth(upper=_rgba(upper_rgb[:rows], upper_alpha[:rows]), lower=_rgba(lower_rgb, lower_alpha),
                      opening=frame.midline_opening(), split=float(split))


def placed_photo_teeth(teeth: PhotoTeeth, local: np.ndarray, frame: MouthFrame,
                       scale: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """The halves of `cut_photo_teeth` in the moved mouth, scaled by `scale` both ways: the upper hung from the
    moved upper teeth line, the lower standing on the moved lower teeth line, sunk behind the lower lip as far
    as the mouth opened past the photo's opening allows (PHOTO_LOWER_SINK).

    local: (H,W,2) u,v of the box pixels. Returns [(RGB, alpha) of the lower half, the same of the upper
    half] in drawing order, (H,W,3) float and (H,W) 0 … 1.
    """
    u, v = local[..., 0], local[..., 1]
    height, width = teeth.lower.shape[:2]
    columns = ((u - frame.midline_u) / scale + 0.5 * width - 0.5).astype(np.float32)
    inside_columns = np.clip(columns + 1.0, 0.0, 1.0) * np.clip(width - columns, 0.0, 1.0)
    extra = max(frame.midline_opening() / scale - teeth.opening, 0.0)
    sink = min(PHOTO_LOWER_SINK * extra, PHOTO_LOWER_HIDDEN_MAX * (teeth.opening - teeth.split))
    lower_rows = ((v - frame.lower_teeth_line(u)) / scale + height - 0.5 - sink).astype(np.float32)
    upper_rows = ((v - frame.upper_teeth_line(u)) / scale - 0.5).astype(np.float32)
    lower_rgb, lower_alpha = _remapped(teeth.lower, columns, lower_rows)
    upper_rgb, upper_alpha = _remapped(teeth.upper, columns, upper_rows)
    # Above its top row the lower half is gone (the gap); past its other edges each half repeats its edge row.
    lower_alpha *= inside_columns * np.clip(lower_rows + 1.0, 0.0, 1.0)
    upper_alpha *= inside_columns
    return [(lower_rgb, lower_alpha), (upper_rgb, upper_alpha)]


def _remapped(strip: np.ndarray, columns: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An (h,w,4) uint8 RGBA strip sampled at (H,W) float32 columns, rows: ((H,W,3) float RGB, (H,W) alpha)."""
    pixels = cv2.remap(strip, columns, rows, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float64)
    return pixels[..., :3], pixels[..., 3] / 255.0


def _cut_half(photo: np.ndarray, frame: MouthFrame, u: np.ndarray, v: np.ndarray,
              upper: bool) -> tuple[np.ndarray, np.ndarray]:
    """One half of the photo's teeth at mouth coordinates (w,) u and (h,w) v: ((h,w,3) float RGB, (h,w) 0 … 1,
    0 past the opposite lip).

    Towards its own lip the half repeats the teeth seen PHOTO_LIP_RIM away from it: the teeth carry on behind
    the lip, and the lip's inner edge is a dark rim that would show as a line across them once moved.
    """
    rim = PHOTO_LIP_RIM * frame.width
    if upper:
        sampled = np.maximum(v, frame.upper_v(u) + rim)
        inside = np.clip(frame.lower_v(u) - v + 0.5, 0.0, 1.0)
    else:
        sampled = np.minimum(v, frame.lower_v(u) - rim)
        inside = np.clip(v - frame.upper_v(u) + 0.5, 0.0, 1.0)
    points = frame.to_pixels(np.broadcast_to(u, v.shape), sampled).astype(np.float32)
    rgb = cv2.remap(photo, points[..., 0], points[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return rgb.astype(np.float64), inside


def _row_luminance(rgb: np.ndarray, alpha: np.ndarray, frame: MouthFrame, u: np.ndarray) -> np.ndarray:
    """(n,) mean luminance of the opening's rows over the middle of the mouth, from (h,w,3) rgb and (h,w) alpha
    cut below the upper teeth line at (w,) u; n = rows down to the lower lip at the teeth midline."""
    middle = np.abs(u - frame.midline_u) < 0.2 * frame.width
    rows = int(np.clip(np.floor(frame.midline_opening()), 1, len(rgb)))
    luminance, weight = rgb[:rows, middle] @ LUMINANCE_WEIGHTS, alpha[:rows, middle]
    return (luminance * weight).sum(axis=1) / np.maximum(weight.sum(axis=1), 1e-6)


def _split_depth(profile: np.ndarray) -> float:
    """Depth (pixels below the upper teeth line) of the gap between the teeth rows, from an (n,) luminance
    profile of the opening: the darkest row band that is clearly darker than bright rows both above and below
    it, or PHOTO_SPLIT_FALLBACK of the way down when there is none (the rows meet, or overlap)."""
    count = len(profile)
    smooth = np.convolve(np.pad(profile, 1, mode="edge"), np.ones(3) / 3.0, mode="valid")
    brightest_above = np.maximum.accumulate(smooth)
    brightest_below = np.maximum.accumulate(smooth[::-1])[::-1]
    candidates = np.arange(max(int(0.25 * count), 1), min(int(np.ceil(0.85 * count)), count - 1))
    if len(candidates) == 0:
        return PHOTO_SPLIT_FALLBACK * count
    bright_sides = np.minimum(brightest_above[candidates - 1], brightest_below[candidates + 1])
    darkness = smooth[candidates] / np.maximum(bright_sides, 1e-6)
    best = int(np.argmin(darkness))
    if darkness[best] > PHOTO_GAP_CONTRAST:
        return PHOTO_SPLIT_FALLBACK * count
    return candidates[best] + 0.5


def _rgba(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(h,w,3) float RGB and (h,w) alpha 0 … 1 → (h,w,4) uint8."""
    return np.clip(np.rint(np.dstack([rgb, 255.0 * alpha])), 0, 255).astype(np.uint8)


def _smoothstep(edge0: float, edge1: float, x):
    t = np.clip((np.asarray(x, np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
