"""Where the wrinkles go: creases, chin dimples and raised cheeks placed from the subject's (moved) landmarks.

Each crease is a curve placed from the landmarks (forehead lines over the brow arc, glabellar furrows between the
inner brows, nasolabial folds, crow's feet, lines across the nose bridge, the mentolabial crease) with a depth along
it and the style of its cross-section; the chin's dimples are a fixed jittered grid of pits over the chin boss, a
raised cheek a lit apple with a shadowed hollow below it. backend/editors/wrinkles.py draws them. Every size is in
face widths (landmarks 234–454).

Intensities: {"AU4": 1.0, "AU12L": 0.5, …}; a bilateral name acts on both sides, an L/R name on one side
(L = the subject's left = the image's right). Depth grows smoothly with intensity from 0 at 0.
"""
from dataclasses import dataclass

import numpy as np

from backend.prompts.emotion_prototypes import MAX_INTENSITY
from backend.subject.face_topology import FACE_SIDES

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
# A raised cheek's shadow sits this far outside and below its apple (across, down).
CHEEK_SHADOW_OFFSET = (0.035, 0.07)

# Width of the blend between the two sides for creases that cross the midline.
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
class RaisedCheek:
    """One cheek pushed up by AU6: its apple catches the light, the hollow below and outside it is shadowed."""
    apple: np.ndarray    # (2,) crop pixels
    hollow: np.ndarray   # (2,) crop pixels
    depth: float         # 0 … (0 on the side the action unit does not act on)


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


# The action units that crease the skin (each, bilateral or one-sided, draws at least one crease below).
CREASE_ACTION_UNITS = ("AU1", "AU2", "AU4", "AU6", "AU9", "AU10", "AU12", "AU17")


def face_creases(points: np.ndarray, axes: FaceAxes, action_units: dict[str, float]) -> list[Crease]:
    """Every crease the action units call for, from (468,2) landmarks in pixels."""
    units = {name: side_intensities(action_units, name) for name in CREASE_ACTION_UNITS}
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


# --- the creases -----------------------------------------------------------------------------------------------

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


# --- the chin and the cheeks -----------------------------------------------------------------------------------

def chin_centre(points: np.ndarray) -> np.ndarray:
    """(2,) pixels: the middle of the chin boss, from (468,2) landmarks in pixels."""
    return points[LOWER_LIP_BOTTOM] + 0.58 * (points[CHIN_BOTTOM] - points[LOWER_LIP_BOTTOM])


def chin_pits(points: np.ndarray, axes: FaceAxes, chin_raiser: SideIntensities) -> tuple[np.ndarray, np.ndarray]:
    """The small soft pits the mentalis pushes into the chin: (P,2) pixels and (P,) depths, deepest in the middle
    of the chin boss and fading out towards the edge of an ellipse around it."""
    pits_across, pits_down = _pit_layout()
    pits = _from_axes(chin_centre(points), pits_across, pits_down, axes)
    ellipse = (pits_across / 0.1) ** 2 + (pits_down / 0.06) ** 2
    depth = (1.0 - _smoothstep(0.3, 1.0, ellipse)) * crease_depth(chin_raiser.at(axes.side_of(pits)))
    return pits, depth


def _pit_layout() -> tuple[np.ndarray, np.ndarray]:
    """(P,) across and down (face widths, from the chin's centre) of the chin's pits: a jittered grid, the
    same every call (so the chin does not flicker between frames)."""
    across, down = np.meshgrid(np.arange(-0.1, 0.1001, 0.022), np.arange(-0.06, 0.0601, 0.02))
    jitter = np.random.default_rng(17).uniform(-0.008, 0.008, (2,) + across.shape)
    stagger = 0.011 * (np.arange(across.shape[0]) % 2)[:, None]  # alternate rows offset, like a honeycomb
    return (across + stagger + jitter[0]).ravel(), (down + jitter[1]).ravel()


def raised_cheeks(points: np.ndarray, axes: FaceAxes, cheek_raiser: SideIntensities) -> list[RaisedCheek]:
    """Both cheeks (subject's right, left) as AU6 raises them, from (468,2) landmarks in pixels."""
    cheeks = []
    for side, outward in ((0, -1.0), (1, 1.0)):
        apple = points[CHEEK_APPLE[side]]
        hollow = axes.point(apple, outward * CHEEK_SHADOW_OFFSET[0], CHEEK_SHADOW_OFFSET[1])
        depth = float(crease_depth(cheek_raiser.left if side else cheek_raiser.right))
        cheeks.append(RaisedCheek(apple, hollow, depth))
    return cheeks


# --- small helpers ---------------------------------------------------------------------------------------------

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


def _smoothstep(edge0: float, edge1: float, x):
    t = np.clip((np.asarray(x, np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
