"""Wrinkle and fold shading driven by action units, drawn from the subject's (moved) landmarks.

A warp moves skin but cannot crease it. Each crease here is a curve placed from the landmarks (forehead
lines over the brow arc, glabellar furrows between the inner brows, nasolabial folds, crow's feet, lines
across the nose bridge, the mentolabial crease and a dimpled chin) with a depth along it; the shading is a
thin dark core in a softer shadow, with a faint highlight beside it where the skin fold catches the light.
It multiplies the photo's own pixels (one factor for all three channels: a grey photo stays grey), so
colour, grain and lighting stay the photo's. Every size is in face widths (landmarks 234–454).

Intensities: {"AU4": 1.0, "AU12L": 0.5, …}; a bilateral name acts on both sides, an L/R name on one side
(L = the subject's left = the image's right). Depth grows smoothly with intensity from 0 at 0.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from backend.prompts.emotion_prototypes import MAX_INTENSITY
from backend.subject.face_topology import FACE_SIDES

FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176,
             149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
FOREHEAD_TOP = 10
NOSE_BRIDGE = (168, 6, 197)  # top of the nose bridge (between the eyes) downwards
# Upper brow contours, each from the inner end outwards; (subject's right = image left, subject's left).
UPPER_BROW = ((107, 66, 105, 63, 70), (336, 296, 334, 293, 300))
OUTER_EYE_CORNER = (33, 263)
NOSE_WING_SIDE = (129, 358)
LIP_CORNER = (61, 291)
LOWER_LIP_BOTTOM, BELOW_LOWER_LIP, CHIN_BOTTOM = 17, 18, 152
# The apple of each cheek (subject's right, left): where a cheek raiser (AU6) bunches the skin up.
CHEEK_APPLE = (50, 280)
# Cheeks and nose: where the skin colour is sampled.
SKIN_SAMPLES = (50, 280, 101, 330, 118, 347, 36, 266, 195, 5)

# Largest darkening / lightening factor anywhere (deep overlapping creases do not go black).
MAX_DARKENING, MAX_LIGHTENING = 0.5, 0.25
# Creases are resampled this many pixels apart before they are drawn.
SAMPLE_SPACING = 0.5
# Width of the blend between the two sides for creases that cross the midline (face widths).
SIDE_BLEND = 0.03


@dataclass(frozen=True)
class CreaseStyle:
    """Cross-section of a crease: sigmas and offsets in face widths, depths at full strength. The soft shadow
    sits a little to the side away from the light, the highlight on the lit side."""
    core_sigma: float
    core_depth: float
    shadow_sigma: float
    shadow_depth: float
    shadow_offset: float
    highlight_offset: float
    highlight_sigma: float
    highlight_depth: float


FINE = CreaseStyle(0.0035, 0.08, 0.009, 0.07, 0.003, 0.012, 0.007, 0.045)      # nose bridge
FOREHEAD = CreaseStyle(0.0035, 0.08, 0.009, 0.07, 0.003, 0.012, 0.007, 0.025)  # faint highlight: hair edges
THIN = CreaseStyle(0.003, 0.08, 0.007, 0.06, 0.002, 0.010, 0.006, 0.03)         # crow's feet
FURROW = CreaseStyle(0.004, 0.06, 0.011, 0.09, 0.004, 0.015, 0.009, 0.05)       # glabella
FOLD = CreaseStyle(0.005, 0.07, 0.016, 0.14, 0.006, 0.020, 0.012, 0.07)         # nasolabial, mentolabial


@dataclass(frozen=True)
class Crease:
    """One crease to shade."""
    points: np.ndarray     # (N,2) crop pixels along the crease
    strength: np.ndarray   # (N,) depth multiplier along it (intensity response × taper), ≥ 0
    style: CreaseStyle
    lit_towards: np.ndarray  # (2,) image direction of the side that catches light


@dataclass(frozen=True)
class FaceAxes:
    """Image directions fixed to the face: `across` towards the image right, `down` down the face."""
    across: np.ndarray
    down: np.ndarray
    width: float           # face width, pixels
    midline: np.ndarray    # (2,) a point on the face's midline (top of the nose bridge)

    def point(self, anchor: np.ndarray, across: float, down: float) -> np.ndarray:
        """anchor moved by (across, down) face widths."""
        return anchor + self.width * (across * self.across + down * self.down)

    def side_of(self, points: np.ndarray) -> np.ndarray:
        """(N,) 0 … 1: how much each (N,2) point is on the subject's left (the image's right)."""
        offset = (points - self.midline) @ self.across / self.width
        weight = 1.0 / (1.0 + np.exp(-np.clip(offset / SIDE_BLEND, -60, 60)))
        return np.where(weight < 1e-4, 0.0, np.where(weight > 1 - 1e-4, 1.0, weight))


@dataclass(frozen=True)
class SideIntensities:
    """(subject's right, subject's left) intensity of one action unit."""
    right: float
    left: float

    def at(self, side_of_points: np.ndarray) -> np.ndarray:
        return (1.0 - side_of_points) * self.right + side_of_points * self.left

    def any(self) -> bool:
        return self.right > 0 or self.left > 0


def shade_wrinkles(image: np.ndarray, landmarks_px: np.ndarray, action_units: dict[str, float]) -> np.ndarray:
    """The (S,S,3) uint8 image with the creases of the given action units shaded in.

    landmarks_px: (468,2) or (468,3) FaceMesh landmarks of the expression, in image pixels.
    action_units: {name: intensity}, intensities 0 … 1.5 (clipped); names other than the creasing units are
    ignored. With no creasing unit above 0 the image comes back unchanged (an equal copy).
    """
    points = np.asarray(landmarks_px, float)[:, :2]
    axes = face_axes(points)
    creases = face_creases(points, axes, action_units)
    dimple_strength = side_intensities(action_units, "AU17")
    cheek_strength = side_intensities(action_units, "AU6")
    if not creases and not dimple_strength.any() and not cheek_strength.any():
        return image.copy()
    # Everything is worked out in the box the creases (and their soft shadows) reach.
    outline = [_crease_reach_box(crease, axes) for crease in creases]
    if dimple_strength.any():
        reach = np.array([0.13, 0.09]) * axes.width
        outline.append(_pixel_box(np.array([_chin_centre(points) - reach, _chin_centre(points) + reach]),
                                  (10 ** 9, 10 ** 9), 0.0))
    if cheek_strength.any():
        reach = CHEEK_REACH * axes.width
        apples = points[list(CHEEK_APPLE)]
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
    if dimple_strength.any():
        _add_chin_dimpling(darkening, lightening, points, origin, axes, dimple_strength)
    if cheek_strength.any():
        _add_cheek_raise(darkening, lightening, points, origin, axes, cheek_strength)
    inside = (_face_oval_weight(points - origin, region.shape[:2], axes)
              * _skin_likeness(region, _skin_colour(image, points)))
    factor = 1.0 + (np.minimum(lightening, MAX_LIGHTENING) - np.minimum(darkening, MAX_DARKENING)) * inside
    changed = factor != 1.0
    shaded = result[y0:y1, x0:x1]
    shaded[changed] = np.clip(np.rint(region[changed] * factor[changed][:, None]), 0, 255).astype(np.uint8)
    return result


def crease_depth(intensity) -> np.ndarray:
    """Depth response to an action-unit intensity: 0 at 0, 1 at 1, smooth, increasing, flattening above 1."""
    intensity = np.clip(np.asarray(intensity, np.float64), 0.0, MAX_INTENSITY)
    return np.tanh(1.2 * intensity ** 1.4) / np.tanh(1.2)


def side_intensities(action_units: dict[str, float], name: str) -> SideIntensities:
    """The intensity of one action unit on each side: its bilateral value plus its one-sided variant."""
    both = float(action_units.get(name, 0.0))
    return SideIntensities(right=max(both + float(action_units.get(name + "R", 0.0)), 0.0),
                           left=max(both + float(action_units.get(name + "L", 0.0)), 0.0))


def face_axes(points: np.ndarray) -> FaceAxes:
    """The face's image axes from (468,2) landmarks in pixels."""
    across = points[FACE_SIDES[1]] - points[FACE_SIDES[0]]
    width = max(float(np.linalg.norm(across)), 1.0)
    across = across / width
    return FaceAxes(across=across, down=np.array([-across[1], across[0]]), width=width,
                    midline=points[NOSE_BRIDGE[0]])


def face_creases(points: np.ndarray, axes: FaceAxes, action_units: dict[str, float]) -> list[Crease]:
    """Every crease the action units call for, from (468,2) landmarks in pixels."""
    units = {name: side_intensities(action_units, name) for name in ("AU1", "AU2", "AU4", "AU6", "AU9", "AU10",
                                                                     "AU12", "AU17")}
    creases = []
    if units["AU1"].any() or units["AU2"].any():
        creases += forehead_lines(points, axes, units["AU1"], units["AU2"])
    if units["AU4"].any():
        creases += glabellar_furrows(points, axes, units["AU4"])
    if units["AU12"].any() or units["AU10"].any() or units["AU9"].any():
        creases += nasolabial_folds(points, axes, units["AU12"], units["AU10"], units["AU9"])
    if units["AU6"].any():
        creases += crows_feet(points, axes, units["AU6"])
    if units["AU9"].any():
        creases += nose_lines(points, axes, units["AU9"])
    if units["AU17"].any():
        creases.append(mentolabial_crease(points, axes, units["AU17"]))
    return [crease for crease in creases if crease.strength.max() > 0]


# --- where the creases go ------------------------------------------------------------------------------------

def forehead_lines(points: np.ndarray, axes: FaceAxes, inner_raise: SideIntensities,
                   outer_raise: SideIntensities) -> list[Crease]:
    """Three lines above the brows following their arc, flatter and shorter higher up; AU1 deepens their
    middle, AU2 their outer parts. Their heights above the brows are in face widths, squeezed together on a
    low forehead (top landmark 10)."""
    centre = 0.5 * (points[UPPER_BROW[0][0]] + points[UPPER_BROW[1][0]])
    brow = np.concatenate([points[list(UPPER_BROW[0])], points[list(UPPER_BROW[1])]])
    across, down = _in_axes(brow - centre, axes)
    arc = np.polyfit(across, down, 2)  # the brow arc, face widths: down = a·x² + b·x + c
    _, top = _in_axes(points[FOREHEAD_TOP][None] - centre, axes)
    forehead_height = max(float(np.polyval(arc, 0.0) - top[0]), 0.05)
    squeeze = min(1.0, 0.75 * forehead_height / 0.13)
    creases = []
    for number, (height, half_length, depth) in enumerate(((0.045, 0.3, 1.0), (0.087, 0.27, 0.9), (0.13, 0.22, 0.7))):
        x = np.linspace(-half_length, half_length, 48)
        curve = arc[0] * (1.0 - 0.3 * number) * x ** 2 + arc[1] * x + arc[2] - height * squeeze
        curve += 0.004 * np.sin(2 * np.pi * x / 0.21 + 1.7 * number)  # skin lines are not drawn with a ruler
        line = _from_axes(centre, x, curve, axes)
        side = axes.side_of(line)
        middle = np.exp(-(x / 0.14) ** 2)
        strength = (crease_depth(inner_raise.at(side)) * middle
                    + crease_depth(outer_raise.at(side)) * (1.0 - middle) * 0.9)
        strength *= depth * _taper(len(x)) * _breaks(x, seed=number, amount=0.35)
        creases.append(Crease(line, strength, FOREHEAD, lit_towards=axes.down))
    return creases


def glabellar_furrows(points: np.ndarray, axes: FaceAxes, lowerer: SideIntensities) -> list[Crease]:
    """Two short near-vertical furrows between the inner brows, a little further apart at the top."""
    inner_brows = points[[UPPER_BROW[0][0], UPPER_BROW[1][0]]]
    centre = inner_brows.mean(axis=0)
    half_gap, _ = _in_axes((inner_brows[1] - inner_brows[0])[None] / 2, axes)
    half_gap = float(np.clip(half_gap[0], 0.03, 0.15))
    _, bridge = _in_axes(points[NOSE_BRIDGE[0]][None] - centre, axes)
    creases = []
    for sign in (-1.0, 1.0):
        t = np.linspace(0.0, 1.0, 24)
        down = -0.035 + t * (float(bridge[0]) * 0.6 + 0.035)
        across = sign * half_gap * (0.42 - 0.12 * t) + sign * 0.006 * np.sin(np.pi * t)
        line = _from_axes(centre, across, down, axes)
        strength = crease_depth(lowerer.at(axes.side_of(line))) * _taper(len(t), 0.35)
        creases.append(Crease(line, strength, FURROW, lit_towards=-sign * axes.across))
    return creases


def nasolabial_folds(points: np.ndarray, axes: FaceAxes, raiser: SideIntensities, lip_raiser: SideIntensities,
                     nose_wrinkler: SideIntensities) -> list[Crease]:
    """Per side, a curve from above-beside the nose wing, bowing out around the lip corner and ending just below it
    (a longer line reads as a marionette line: age or sadness, not a smile)."""
    creases = []
    for side, outward in ((0, -1.0), (1, 1.0)):
        start = axes.point(points[NOSE_WING_SIDE[side]], 0.022 * outward, -0.012)
        end = axes.point(points[LIP_CORNER[side]], 0.04 * outward, 0.025)
        control = axes.point(0.5 * (start + end), 0.03 * outward, -0.005)
        line = _bezier(start, control, end, 40)
        intensity = [units.left if side else units.right for units in (raiser, lip_raiser, nose_wrinkler)]
        # A smile's folds are softer than a sneer's (AU10, AU9 pull the skin up into a sharp crease).
        combined = 0.6 * intensity[0] + 0.7 * intensity[1] + 0.5 * intensity[2]
        # Deepest beside the nose wing and the upper lip, fading out below the corner.
        t = np.linspace(0.0, 1.0, len(line))
        profile = np.clip(t / 0.12, 0, 1) ** 0.7 * (1.0 - _smoothstep(0.55, 1.0, t)) * (0.7 + 0.3 * np.cos(np.pi * t))
        strength = crease_depth(combined) * profile
        creases.append(Crease(line, strength, FOLD, lit_towards=outward * axes.across - 0.5 * axes.down))
    return creases


def crows_feet(points: np.ndarray, axes: FaceAxes, cheek_raiser: SideIntensities) -> list[Crease]:
    """A fan of short lines from just beyond each outer eye corner."""
    fan = ((-24.0, 0.06, 0.008), (0.0, 0.075, 0.0), (22.0, 0.065, 0.006))
    creases = []
    for side, outward in ((0, -1.0), (1, 1.0)):
        origin = axes.point(points[OUTER_EYE_CORNER[side]], 0.022 * outward, 0.0)
        depth = crease_depth(cheek_raiser.left if side else cheek_raiser.right)
        for number, (degrees, length, start) in enumerate(fan):
            angle = np.radians(degrees)
            t = np.linspace(0.0, 1.0, 16)
            radius = start + t * length
            # Each line curves a little further from the middle one as it runs out.
            bend = 0.12 * t ** 2 * (1.0 if degrees >= 0 else -1.0)
            across = outward * radius * np.cos(angle + bend)
            down = radius * np.sin(angle + bend)
            line = _from_axes(origin, across, down, axes)
            strength = depth * _taper(len(t), 0.3) * np.clip(1.0 - t ** 2, 0, 1) * (0.85 + 0.15 * (number % 2))
            creases.append(Crease(line, strength, THIN, lit_towards=-axes.down))
    return creases


def nose_lines(points: np.ndarray, axes: FaceAxes, nose_wrinkler: SideIntensities) -> list[Crease]:
    """Short lines across the upper nose bridge, bending down a little over its sides, and an oblique line
    on each side running down and out from the bridge."""
    top, middle, bottom = (points[index] for index in NOSE_BRIDGE)
    creases = []
    for number, fraction in enumerate((0.35, 0.75, 1.15)):
        centre = top + fraction * (middle - top)
        x = np.linspace(-0.042 + 0.004 * number, 0.042 - 0.004 * number, 20)
        down = 5.0 * x ** 2 + 0.0015 * np.sin(x / 0.013 + 2.0 * number)
        line = _from_axes(centre, x, down, axes)
        strength = crease_depth(nose_wrinkler.at(axes.side_of(line))) * _taper(len(x), 0.35) * (1.0 - 0.2 * number)
        creases.append(Crease(line, strength, FINE, lit_towards=axes.down))
    for outward in (-1.0, 1.0):
        start = axes.point(middle + 0.5 * (bottom - middle), 0.03 * outward, 0.0)
        end = axes.point(start, 0.03 * outward, 0.04)
        line = _bezier(start, axes.point(0.5 * (start + end), 0.006 * outward, -0.005), end, 16)
        strength = 0.7 * crease_depth(nose_wrinkler.at(axes.side_of(line))) * _taper(len(line), 0.4)
        creases.append(Crease(line, strength, FINE, lit_towards=-axes.down))
    return creases


def mentolabial_crease(points: np.ndarray, axes: FaceAxes, chin_raiser: SideIntensities) -> Crease:
    """The curved crease between the lower lip and the chin, deepened as the chin boss is pushed up."""
    centre = axes.point(points[BELOW_LOWER_LIP], 0.0, 0.006)
    x = np.linspace(-0.085, 0.085, 32)
    line = _from_axes(centre, x, -2.2 * x ** 2, axes)
    strength = 0.8 * crease_depth(chin_raiser.at(axes.side_of(line))) * _taper(len(x))
    return Crease(line, strength, FOLD, lit_towards=axes.down)


# --- drawing -------------------------------------------------------------------------------------------------

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


def _add_chin_dimpling(darkening: np.ndarray, lightening: np.ndarray, points: np.ndarray, origin: np.ndarray,
                       axes: FaceAxes, chin_raiser: SideIntensities) -> None:
    """Add small soft pits over the chin boss (the mentalis pushing the skin up) to the (H,W) fields of the
    region at `origin`, in place; points: (468,2) image pixels. Each pit is dark on its upper side (facing
    away from the light) and catches a little light on its lower rim."""
    centre = _chin_centre(points)
    pits_across, pits_down = _pit_layout()
    pits = _from_axes(centre, pits_across, pits_down, axes)
    ellipse = (pits_across / 0.1) ** 2 + (pits_down / 0.06) ** 2
    weight = (1.0 - _smoothstep(0.3, 1.0, ellipse)) * crease_depth(chin_raiser.at(axes.side_of(pits)))
    sigma = 0.006 * axes.width
    shift = 0.004 * axes.width * axes.down
    darkening += 0.06 * _blurred_points(pits - shift - origin, weight, sigma, darkening.shape)
    lightening += 0.035 * _blurred_points(pits + shift - origin, weight, sigma, darkening.shape)


# A raised cheek: a soft highlight on its apple and a shadow below and outside it (face widths; depths at full
# strength). CHEEK_REACH bounds the box both reach.
CHEEK_SIGMA, CHEEK_LIGHT, CHEEK_SHADOW, CHEEK_SHADOW_OFFSET, CHEEK_REACH = 0.045, 0.09, 0.07, (0.035, 0.07), 0.2


def _add_cheek_raise(darkening: np.ndarray, lightening: np.ndarray, points: np.ndarray, origin: np.ndarray,
                     axes: FaceAxes, cheek_raiser: SideIntensities) -> None:
    """Add the bunched, raised cheeks of AU6 to the (H,W) fields of the region at `origin`, in place: the apple
    catches light, the hollow below and outside it falls into shadow. points: (468,2) image pixels."""
    for side, outward in ((0, -1.0), (1, 1.0)):
        depth = crease_depth(cheek_raiser.left if side else cheek_raiser.right)
        if depth <= 0:
            continue
        apple = points[CHEEK_APPLE[side]]
        below = axes.point(apple, outward * CHEEK_SHADOW_OFFSET[0], CHEEK_SHADOW_OFFSET[1])
        sigma = CHEEK_SIGMA * axes.width
        lightening += CHEEK_LIGHT * _blurred_points((apple - origin)[None], np.array([depth]), sigma,
                                                    lightening.shape)
        darkening += CHEEK_SHADOW * _blurred_points((below - origin)[None], np.array([depth]), sigma,
                                                    darkening.shape)


def _chin_centre(points: np.ndarray) -> np.ndarray:
    return points[LOWER_LIP_BOTTOM] + 0.58 * (points[CHIN_BOTTOM] - points[LOWER_LIP_BOTTOM])


def _pit_layout() -> tuple[np.ndarray, np.ndarray]:
    """(P,) across and down (face widths, from the chin's centre) of the chin's pits: a jittered grid, the
    same every call (so the chin does not flicker between frames)."""
    across, down = np.meshgrid(np.arange(-0.1, 0.1001, 0.022), np.arange(-0.06, 0.0601, 0.02))
    jitter = np.random.default_rng(17).uniform(-0.008, 0.008, (2,) + across.shape)
    stagger = 0.011 * (np.arange(across.shape[0]) % 2)[:, None]  # alternate rows offset, like a honeycomb
    return (across + stagger + jitter[0]).ravel(), (down + jitter[1]).ravel()


def _blurred_points(points: np.ndarray, weight: np.ndarray, sigma: float, shape: tuple[int, int]) -> np.ndarray:
    """(H,W) float32 soft round spots at (P,2) pixels, each peaking at its (P,) weight."""
    return _blurred_line(points, weight * np.sqrt(2.0 * np.pi) * sigma / SAMPLE_SPACING, sigma, shape)


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


# --- small helpers -------------------------------------------------------------------------------------------

def _in_axes(offsets: np.ndarray, axes: FaceAxes) -> tuple[np.ndarray, np.ndarray]:
    """(...,2) pixel offsets → (across, down) in face widths."""
    return offsets @ axes.across / axes.width, offsets @ axes.down / axes.width


def _from_axes(anchor: np.ndarray, across: np.ndarray, down: np.ndarray, axes: FaceAxes) -> np.ndarray:
    """(N,) across and down in face widths from an anchor → (N,2) pixels."""
    return anchor + axes.width * (np.asarray(across)[:, None] * axes.across + np.asarray(down)[:, None] * axes.down)


def _bezier(start: np.ndarray, control: np.ndarray, end: np.ndarray, count: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, count)[:, None]
    return (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t ** 2 * end


def _taper(count: int, ends: float = 0.25) -> np.ndarray:
    """(count,) 0 at both ends of a crease, rising smoothly to 1 over `ends` of its length."""
    t = np.linspace(0.0, 1.0, count)
    return _smoothstep(0.0, ends, t) * _smoothstep(0.0, ends, 1.0 - t)


def _breaks(x: np.ndarray, seed: int, amount: float) -> np.ndarray:
    """A slow fixed variation of depth along a long crease (real forehead lines fade and resume)."""
    phase = 1.3 + 2.1 * seed
    return 1.0 - amount * (0.5 + 0.5 * np.sin(x / 0.045 + phase) * np.sin(x / 0.11 + 0.7 * phase))


def _pixel_box(points: np.ndarray, shape: tuple[int, int], margin: float) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) around (N,2) points plus a margin, clipped to an image of `shape`."""
    x0 = max(int(np.floor(points[:, 0].min() - margin)), 0)
    y0 = max(int(np.floor(points[:, 1].min() - margin)), 0)
    x1 = min(int(np.ceil(points[:, 0].max() + margin)) + 1, shape[1])
    y1 = min(int(np.ceil(points[:, 1].max() + margin)) + 1, shape[0])
    return x0, y0, x1, y1


def _smoothstep(edge0: float, edge1: float, x):
    t = np.clip((np.asarray(x, np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
