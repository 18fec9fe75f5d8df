"""Pipeline step 3: read the photo's own expression from its landmarks, and remove it.

A photo is one face at one moment: its landmarks mix who the person is (identity) with what they do (expression).
Identity is told apart from expression by measures that a neutral face keeps within a narrow band whoever it belongs
to — how far the lips part, how high the mouth corners sit against the lip line, how wide the mouth is, how high the
brows are above the eyes, how open the eyes are — each in face widths. A measure outside its neutral band is
expression (all of its distance to the band's centre); inside, it is identity and left alone. The action units that
explain the measures' excess are fitted on the subject's own action-unit fields (non-negative, lightly regularised),
so removing them (the fields with the fitted intensities, subtracted) gives the neutral landmarks.
"""
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from backend.subject.action_units import ActionUnitBasis, build_action_unit_basis
from backend.subject.face_topology import FaceFrame, face_frame

# Action units a single photo can show and this estimate reads (the rest stay at 0).
ESTIMATED_ACTION_UNITS = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU10", "AU12", "AU15", "AU20", "AU23",
                          "AU25", "AU26", "AU43")
# Intensities below this are reported as 0: within what identity alone produces.
MIN_REPORTED_INTENSITY = 0.1
# Above this lip gap (face widths), with a mouth no wider than a neutral one, the mouth is dropped open, and raised
# brows and widened eyes in the upper part of their bands are read as the surprise (or fear) that opens a mouth so
# (FACS: AU1+AU2+AU5 with AU26/27), not as identity: their bands shrink to JOINT_BAND_SCALE. (A smile parts the
# lips too, and widens the mouth, and leaves the brows alone; the corners' height says little here, since a dropped
# jaw lowers the lip line they are measured from.)
OPEN_MOUTH_GAP = 0.06
JOINT_MEASURES = ("inner_brow_height", "outer_brow_height", "eye_opening")
JOINT_BAND_SCALE = 0.4
# A photo's expression may exceed what a prompt asks for (a laugh): its removal goes this far, all passes together.
MAX_REMOVED_INTENSITY = 2.5
# Read-and-remove passes (see read_and_remove_expression).
REMOVAL_PASSES = 3
# Ridge weight of the fit (in squared face widths): keeps collinear units (AU25/AU26) from trading off wildly.
RIDGE = 1e-5


@dataclass(frozen=True)
class Measure:
    """One expression measure of a (468,2) face-frame landmark set in face widths, with its neutral band."""
    name: str
    neutral: float     # typical value on neutral faces
    tolerance: float   # half-width of the neutral band: identity varies this much


# Measured on seven neutral photos of different people (three posed-expression database subjects' neutral frames,
# four single neutral portraits, grey and colour, one with lips slightly parted): the band is centred on their mean
# and reaches about a quarter of its half-width past the farthest of them (a neutral face must not read as an
# expression for being at the edge of what seven people showed). Posed expressions of the same people, for comparison:
#   lip_gap 0.004..0.023 (smiles with teeth 0.10..0.14, open-mouthed surprise 0.10..0.25)
#   corner_lift -0.018..-0.005 (smiles +0.04..+0.06)       mouth_width 0.32..0.40 (smiles 0.48..0.52)
#   inner_brow_height 0.138..0.180 (surprise 0.17..0.19)    outer_brow_height 0.077..0.118 (surprise 0.115..0.127)
#   eye_opening 0.059..0.080 (surprise 0.079..0.092, smiles 0.049..0.063)   brow_gap 0.184..0.237
#   upper_lip_to_nose 0.096..0.114 (smiles 0.067..0.080)
MEASURES = (
    Measure("lip_gap", 0.014, 0.012),
    Measure("corner_lift", -0.011, 0.010),
    Measure("mouth_width", 0.352, 0.060),
    Measure("inner_brow_height", 0.157, 0.030),
    Measure("outer_brow_height", 0.098, 0.026),
    Measure("eye_opening", 0.068, 0.016),
    Measure("brow_gap", 0.209, 0.035),
    Measure("upper_lip_to_nose", 0.106, 0.025),  # wider: a short upper lip is common (the sample: 0.083)
)
MEASURE_NAMES = tuple(measure.name for measure in MEASURES)

UPPER_LIP_INNER, LOWER_LIP_INNER, UPPER_LIP_TOP, NOSE_BASE = 13, 14, 0, 2
MOUTH_CORNERS = (61, 291)
INNER_BROWS = ((107, 66, 105), (336, 296, 334))
OUTER_BROWS = ((70, 63, 46), (300, 293, 276))
EYE_TOPS, EYE_BOTTOMS = (159, 386), (145, 374)


def expression_measures(points: np.ndarray) -> np.ndarray:
    """(M,) the MEASURES of (468,2) landmarks in the face frame (x towards the subject's left, y up), face widths."""
    lip_gap = points[UPPER_LIP_INNER, 1] - points[LOWER_LIP_INNER, 1]
    lip_line = 0.5 * (points[UPPER_LIP_INNER, 1] + points[LOWER_LIP_INNER, 1])
    corners = points[list(MOUTH_CORNERS)]
    eye_centres = [0.5 * (points[top] + points[bottom]) for top, bottom in zip(EYE_TOPS, EYE_BOTTOMS, strict=True)]
    inner = [points[list(ids), 1].mean() - centre[1] for ids, centre in zip(INNER_BROWS, eye_centres, strict=True)]
    outer = [points[list(ids), 1].mean() - centre[1] for ids, centre in zip(OUTER_BROWS, eye_centres, strict=True)]
    openings = [points[top, 1] - points[bottom, 1] for top, bottom in zip(EYE_TOPS, EYE_BOTTOMS, strict=True)]
    return np.array([
        max(lip_gap, 0.0),
        corners[:, 1].mean() - lip_line,
        corners[1, 0] - corners[0, 0],
        np.mean(inner),
        np.mean(outer),
        np.mean(openings),
        points[INNER_BROWS[1][0], 0] - points[INNER_BROWS[0][0], 0],
        points[NOSE_BASE, 1] - points[UPPER_LIP_TOP, 1],
    ])


@dataclass(frozen=True)
class PhotoExpression:
    """What the photo's own expression was read as."""
    action_units: dict[str, float]   # {AU: intensity}, only those ≥ MIN_REPORTED_INTENSITY
    measures: dict[str, float]       # each measure's value, face widths
    excess: dict[str, float]         # each measure's distance to its band's centre when outside the band, else 0


def estimate_photo_expression(landmarks_m: np.ndarray, frame: FaceFrame, basis: ActionUnitBasis) -> PhotoExpression:
    """The action units that best explain how (468,3) landmarks in metres leave the neutral bands.

    frame and basis belong to these same landmarks (built on them), so the fields move this face.
    """
    points = _face_frame_points(landmarks_m, frame)
    values = expression_measures(points)
    neutral = np.array([measure.neutral for measure in MEASURES])
    tolerance = np.array([measure.tolerance for measure in MEASURES])
    width = MEASURE_NAMES.index("mouth_width")
    smiling = values[width] - neutral[width] > tolerance[width]
    if values[MEASURE_NAMES.index("lip_gap")] > OPEN_MOUTH_GAP and not smiling:
        tolerance = tolerance * np.array([JOINT_BAND_SCALE if m.name in JOINT_MEASURES else 1.0 for m in MEASURES])
    offset = values - neutral
    # Outside its band a measure is taken back to the band's centre (a smile at the band's edge still smiles).
    excess = np.where(np.abs(offset) > tolerance, offset, 0.0)
    names = [name for name in ESTIMATED_ACTION_UNITS if name in basis.names]
    jacobian = np.stack([expression_measures(_face_frame_points(landmarks_m + basis.fields[basis.names.index(name)],
                                                                frame)) - values for name in names], axis=1)
    # Scale each measure by its band so that all count alike, then a small ridge on the intensities.
    rows = np.vstack([jacobian / tolerance[:, None], np.sqrt(RIDGE) / tolerance.mean() * np.eye(len(names))])
    target = np.concatenate([excess / tolerance, np.zeros(len(names))])
    intensities, _ = nnls(rows, target)
    intensities = np.minimum(intensities, MAX_REMOVED_INTENSITY)
    action_units = {name: round(float(value), 3) for name, value in zip(names, intensities, strict=True)
                    if value >= MIN_REPORTED_INTENSITY}
    return PhotoExpression(action_units=action_units,
                           measures={m.name: round(float(v), 4) for m, v in zip(MEASURES, values, strict=True)},
                           excess={m.name: round(float(v), 4) for m, v in zip(MEASURES, excess, strict=True)})


def read_and_remove_expression(landmarks_m: np.ndarray, triangles: np.ndarray,
                               passes: int = REMOVAL_PASSES) -> tuple[PhotoExpression, np.ndarray]:
    """The photo's expression read from (468,3) landmarks in metres, and the landmarks with it taken out.

    triangles: (F,3) the face surface over the landmarks. The fields are rebuilt on what is left after each pass
    and the rest removed again: a field is exact only near the face it was built on, and a wide-open mouth
    needs more than one step to close. Returns the expression (measures of the photo as taken; the action units
    of every pass added up) and (468,3) neutral landmarks in metres.
    """
    current, removed, first = landmarks_m, {}, None
    for _ in range(passes):
        basis = build_action_unit_basis(current, triangles)
        expression = estimate_photo_expression(current, face_frame(current), basis)
        first = first or expression
        # What is left of each unit's budget (MAX_REMOVED_INTENSITY over all passes together).
        step = {name: min(value, MAX_REMOVED_INTENSITY - removed.get(name, 0.0))
                for name, value in expression.action_units.items()}
        step = {name: value for name, value in step.items() if value > 0}
        if not step:
            break
        current = current - basis.displacement(step)
        for name, value in step.items():
            removed[name] = round(removed.get(name, 0.0) + value, 3)
    return PhotoExpression(action_units=removed, measures=first.measures, excess=first.excess), current


# Units whose removal closes a mouth the photo showed open.
MOUTH_OPENING_UNITS = ("AU25", "AU26", "AU27")


def opened_mouth_removed(expression: PhotoExpression) -> bool:
    """Whether the photo's mouth was open and its opening was taken out."""
    return any(expression.action_units.get(unit, 0.0) > 0 for unit in MOUTH_OPENING_UNITS)


def closed_lips(landmarks_m: np.ndarray, mouth_loop: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """(468,3) metres: the landmarks with the (L,) inner-lip loop laid on one seam — each inner-lip point moved,
    up or down the face, to halfway between the upper and the lower lip line at its place across the face.

    Removing an opening meets the lips in the middle, but a smile's loop kinks open towards its corners; a closed
    mouth meets all along (or the corners show the mouth's inside as small dark notches)."""
    points = landmarks_m @ frame.axes.T                      # face frame: x across, y up, metres
    loop = points[mouth_loop]
    left, right = int(np.argmin(loop[:, 0])), int(np.argmax(loop[:, 0]))
    count = len(loop)
    one_way = [(left + k) % count for k in range((right - left) % count + 1)]
    other_way = [(right + k) % count for k in range((left - right) % count + 1)]
    lines = []
    for chain in (one_way, other_way):
        order = np.argsort(loop[chain, 0])
        lines.append((loop[chain, 0][order], loop[chain, 1][order]))
    seam = 0.5 * sum(np.interp(loop[:, 0], x, y) for x, y in lines)
    closed = points.copy()
    closed[mouth_loop, 1] = seam
    return closed @ frame.axes                                # back to mesh axes (the frame is orthonormal)


def _face_frame_points(landmarks_m: np.ndarray, frame: FaceFrame) -> np.ndarray:
    """(468,2) x, y in the face frame, face widths."""
    return (landmarks_m @ frame.axes.T)[:, :2] / frame.width
