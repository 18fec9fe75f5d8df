"""Wrinkle and fold shading driven by action units, drawn into the photo at the subject's (moved) landmarks.

A warp moves skin but cannot crease it. backend/editors/wrinkle_geometry.py places each crease (a curve with a
depth along it), the chin's dimples and the raised cheeks; this module draws them: a crease is a thin dark core in
a softer shadow, with a faint highlight beside it where the skin fold catches the light. The shading multiplies the
photo's own pixels (one factor for all three channels: a grey photo stays grey), so colour, grain and lighting stay
the photo's, and it stays on the face's skin (inside the face oval, where the colour looks like the cheeks').
Every size is in face widths (landmarks 234–454).
"""
import cv2
import numpy as np

from backend.editors.wrinkle_geometry import (Crease, FaceAxes, RaisedCheek, chin_centre, chin_pits, face_axes,
                                              face_creases, raised_cheeks, side_intensities)

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
             149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
# Cheeks and nose: where the skin colour is sampled.
SKIN_SAMPLES = (50, 280, 101, 330, 118, 347, 36, 266, 195, 5)

# Largest darkening / lightening factor anywhere (deep overlapping creases do not go black).
MAX_DARKENING, MAX_LIGHTENING = 0.5, 0.25
# Creases are resampled this many pixels apart before they are drawn.
SAMPLE_SPACING = 0.5
# A raised cheek: a soft highlight on its apple and a shadow on its hollow (sigma in face widths; depths at full
# strength). CHEEK_REACH bounds the box both reach.
CHEEK_SIGMA, CHEEK_LIGHT, CHEEK_SHADOW, CHEEK_REACH = 0.045, 0.09, 0.07, 0.2


def shade_wrinkles(image: np.ndarray, landmarks_px: np.ndarray, action_units: dict[str, float]) -> np.ndarray:
    """The (S,S,3) uint8 image with the creases of the given action units shaded in.

    landmarks_px: (468,2) or (468,3) FaceMesh landmarks of the expression, in image pixels.
    action_units: {name: intensity}, intensities 0 … 1.5 (clipped); names other than the creasing units are
    ignored. With no creasing unit above 0 the image comes back unchanged (an equal copy).
    """
    points = np.asarray(landmarks_px, float)[:, :2]
    axes = face_axes(points)
    creases = face_creases(points, axes, action_units)
    chin_raiser = side_intensities(action_units, "AU17")
    cheek_raiser = side_intensities(action_units, "AU6")
    if not creases and not chin_raiser.any() and not cheek_raiser.any():
        return image.copy()
    cheeks = raised_cheeks(points, axes, cheek_raiser) if cheek_raiser.any() else []
    # Everything is worked out in the box the creases (and their soft shadows) reach.
    outline = [_crease_reach_box(crease, axes) for crease in creases]
    if chin_raiser.any():
        reach = np.array([0.13, 0.09]) * axes.width
        outline.append(_pixel_box(np.array([chin_centre(points) - reach, chin_centre(points) + reach]),
                                  (10 ** 9, 10 ** 9), 0.0))
    if cheeks:
        reach = CHEEK_REACH * axes.width
        apples = np.array([cheek.apple for cheek in cheeks])
        outline.append(_pixel_box(np.concatenate([apples - reach, apples + reach]), (10 ** 9, 10 ** 9), 0.0))
    x0, y0 = max(min(box[0] for box in outline), 0), max(min(box[1] for box in outline), 0)
    x1 = min(max(box[2] for box in outline), image.shape[1])
    y1 = min(max(box[3] for box in outline), image.shape[0])
    result = image.copy()
    if x1 <= x0 or y1 <= y0:
        return result
    origin = np.array([x0, y0], float)
    region = image[y0:y1, x0:x1]
    darkening, lightening = _crease_fields(creases, origin, region.shape[:2], axes)
    if chin_raiser.any():
        pits, depth = chin_pits(points, axes, chin_raiser)
        _add_chin_dimpling(darkening, lightening, pits, depth, origin, axes)
    _add_cheek_raise(darkening, lightening, cheeks, origin, axes)
    inside = (_face_oval_weight(points - origin, region.shape[:2], axes)
              * _skin_likeness(region, _skin_colour(image, points)))
    factor = 1.0 + (np.minimum(lightening, MAX_LIGHTENING) - np.minimum(darkening, MAX_DARKENING)) * inside
    changed = factor != 1.0
    shaded = result[y0:y1, x0:x1]
    shaded[changed] = np.clip(np.rint(region[changed] * factor[changed][:, None]), 0, 255).astype(np.uint8)
    return result


# --- creases -----------------------------------------------------------------------------------------------------

def _crease_fields(creases: list[Crease], origin: np.ndarray, shape: tuple[int, int],
                   axes: FaceAxes) -> tuple[np.ndarray, np.ndarray]:
    """(H,W) float32 darkening and lightening of all creases over the region at `origin` (pixels).

    Each part of a crease's cross-section (dark core, soft shadow a little away from the light, highlight
    on the lit side) is its curve, shifted across itself, splatted as a line and blurred by a Gaussian;
    creases of one style are drawn together, in the box they reach.
    """
    darkening = np.zeros(shape, np.float32)
    lightening = np.zeros(shape, np.float32)
    w = axes.width
    for style in dict.fromkeys(crease.style for crease in creases):
        members = [crease for crease in creases if crease.style is style]
        boxes = np.array([_crease_reach_box(crease, axes) for crease in members]) - np.tile(origin, 2).astype(int)
        x0, y0 = max(boxes[:, 0].min(), 0), max(boxes[:, 1].min(), 0)
        x1, y1 = min(boxes[:, 2].max(), shape[1]), min(boxes[:, 3].max(), shape[0])
        if x1 <= x0 or y1 <= y0:
            continue
        samples = [_dense_samples(crease, SAMPLE_SPACING) for crease in members]
        points = np.concatenate([sample[0] for sample in samples]) - origin - (x0, y0)
        strength = np.concatenate([sample[1] for sample in samples])
        normals = np.concatenate([sample[2] for sample in samples])
        box = (y1 - y0, x1 - x0)
        darkening[y0:y1, x0:x1] += style.core_depth * _blurred_line(points, strength, style.core_sigma * w, box)
        darkening[y0:y1, x0:x1] += style.shadow_depth * _blurred_line(
            points - normals * (style.shadow_offset * w), strength, style.shadow_sigma * w, box)
        lightening[y0:y1, x0:x1] += style.highlight_depth * _blurred_line(
            points + normals * (style.highlight_offset * w), strength, style.highlight_sigma * w, box)
    return darkening, lightening


def _blurred_line(points: np.ndarray, strength: np.ndarray, sigma: float, shape: tuple[int, int]) -> np.ndarray:
    """(H,W) float32: a line through (K,2) pixel samples SAMPLE_SPACING apart, blurred by a Gaussian of sigma
    pixels, whose cross-section peaks at the (K,) strength."""
    canvas = np.zeros((shape[0] + 2, shape[1] + 2), np.float32)
    # The blur keeps the total: samples of mass m, SAMPLE_SPACING apart, peak at m / (SAMPLE_SPACING·sigma·√(2π)).
    weight = strength * SAMPLE_SPACING * sigma * np.sqrt(2.0 * np.pi)
    # Bilinear splat keeps the line's position below a pixel (canvas padded by one pixel all round).
    x, y = points[:, 0] + 1.0, points[:, 1] + 1.0
    left, top = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - left, y - top
    keep = (left >= 0) & (top >= 0) & (left < canvas.shape[1] - 1) & (top < canvas.shape[0] - 1)
    for dx, dy, share in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(canvas, (top[keep] + dy, left[keep] + dx), (weight * share)[keep].astype(np.float32))
    blurred = cv2.GaussianBlur(canvas, (0, 0), sigma)
    return blurred[1:-1, 1:-1]


def _crease_reach_box(crease: Crease, axes: FaceAxes) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) pixels a crease's shading can reach (not clipped to the image)."""
    style = crease.style
    reach = axes.width * max(style.shadow_offset + 3.0 * style.shadow_sigma,
                             style.highlight_offset + 3.0 * style.highlight_sigma)
    return _pixel_box(crease.points, (10 ** 9, 10 ** 9), reach)


def _dense_samples(crease: Crease, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The crease resampled every `spacing` pixels: (K,2) points, (K,) strength, (K,2) unit normals pointing
    to its lit side."""
    steps = np.linalg.norm(np.diff(crease.points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    at = np.linspace(0.0, arc[-1], max(int(arc[-1] / spacing) + 2, 2))
    points = np.column_stack([np.interp(at, arc, crease.points[:, 0]), np.interp(at, arc, crease.points[:, 1])])
    strength = np.interp(at, arc, crease.strength)
    tangent = np.gradient(points, axis=0)
    normals = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    normals /= np.maximum(np.linalg.norm(normals, axis=1), 1e-12)[:, None]
    normals *= np.where(normals @ crease.lit_towards >= 0, 1.0, -1.0)[:, None]
    return points, strength, normals


# --- the chin and the cheeks -------------------------------------------------------------------------------------

def _add_chin_dimpling(darkening: np.ndarray, lightening: np.ndarray, pits: np.ndarray, depth: np.ndarray,
                       origin: np.ndarray, axes: FaceAxes) -> None:
    """Add the chin's (P,2) image-pixel pits of (P,) depth to the (H,W) fields of the region at `origin`, in place.
    Each pit is dark on its upper side (facing away from the light) and catches a little light on its lower rim."""
    sigma = 0.006 * axes.width
    shift = 0.004 * axes.width * axes.down
    darkening += 0.06 * _blurred_points(pits - shift - origin, depth, sigma, darkening.shape)
    lightening += 0.035 * _blurred_points(pits + shift - origin, depth, sigma, darkening.shape)


def _add_cheek_raise(darkening: np.ndarray, lightening: np.ndarray, cheeks: list[RaisedCheek], origin: np.ndarray,
                     axes: FaceAxes) -> None:
    """Add the bunched, raised cheeks of AU6 to the (H,W) fields of the region at `origin`, in place: each apple
    catches light, the hollow below and outside it falls into shadow."""
    sigma = CHEEK_SIGMA * axes.width
    for cheek in cheeks:
        if cheek.depth <= 0:
            continue
        lightening += CHEEK_LIGHT * _blurred_points((cheek.apple - origin)[None], np.array([cheek.depth]), sigma,
                                                    lightening.shape)
        darkening += CHEEK_SHADOW * _blurred_points((cheek.hollow - origin)[None], np.array([cheek.depth]), sigma,
                                                    darkening.shape)


def _blurred_points(points: np.ndarray, weight: np.ndarray, sigma: float, shape: tuple[int, int]) -> np.ndarray:
    """(H,W) float32 soft round spots at (P,2) pixels, each peaking at its (P,) weight."""
    return _blurred_line(points, weight * np.sqrt(2.0 * np.pi) * sigma / SAMPLE_SPACING, sigma, shape)


# --- where shading may go ----------------------------------------------------------------------------------------

def _face_oval_weight(points: np.ndarray, shape: tuple[int, int], axes: FaceAxes) -> np.ndarray:
    """(H,W) float32 over a region whose origin the (468,2) points are relative to: 1 inside the face oval,
    fading to 0 at its edge (shading never leaves the face)."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points[list(FACE_OVAL)] * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    inside = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=max(int(0.01 * axes.width), 1))
    return cv2.GaussianBlur(inside.astype(np.float32) / 255.0, (0, 0), max(0.006 * axes.width, 0.8))


def _skin_colour(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(3,) float32 median colour of the cheeks and nose."""
    return np.median(_sample(image, points[list(SKIN_SAMPLES)]), axis=0).astype(np.float32)


def _skin_likeness(pixels: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """(H,W) float32 0 … 1: how much each of the (H,W,3) pixels looks like the (3,) skin colour (so hair over
    the forehead, the eyes and the mouth are left alone). Compares chromaticity (colour with brightness
    divided out, so shading on skin still counts as skin) and, loosely, brightness."""
    pixels = pixels.astype(np.float32)
    brightness = pixels.sum(axis=2) + np.float32(1.0)
    skin_brightness = np.float32(skin.sum() + 1.0)
    chroma_offset = pixels / brightness[..., None] - (skin / skin_brightness).astype(np.float32)
    chroma_distance_sq = np.einsum("ijk,ijk->ij", chroma_offset, chroma_offset)
    relative = brightness / skin_brightness
    likeness = (np.exp(chroma_distance_sq * np.float32(-0.5 / 0.06 ** 2))
                * np.clip((relative - np.float32(0.35)) / np.float32(0.3), 0, 1)
                * np.clip((np.float32(1.7) - relative) / np.float32(0.35), 0, 1))
    return cv2.GaussianBlur(likeness, (0, 0), 1.5)


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N,3) float colours of the pixels under (N,2) points (clamped to the image)."""
    columns = np.clip(np.rint(points[:, 0]).astype(int), 0, image.shape[1] - 1)
    rows = np.clip(np.rint(points[:, 1]).astype(int), 0, image.shape[0] - 1)
    return image[rows, columns].astype(np.float64)


def _pixel_box(points: np.ndarray, shape: tuple[int, int], margin: float) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) around (N,2) points plus a margin, clipped to an image of `shape`."""
    x0 = max(int(np.floor(points[:, 0].min() - margin)), 0)
    y0 = max(int(np.floor(points[:, 1].min() - margin)), 0)
    x1 = min(int(np.ceil(points[:, 0].max() + margin)) + 1, shape[1])
    y1 = min(int(np.ceil(points[:, 1].max() + margin)) + 1, shape[0])
    return x0, y0, x1, y1
