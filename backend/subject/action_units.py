"""Action-unit model: smooth displacement fields on the 468-landmark topology (the emotion prototypes that mix them
are in backend/prompts/emotion_prototypes.py).

Each action unit moves a few control landmarks by offsets given in face-width units in the face frame
(x towards the subject's left = the image's right, y up, z towards the camera). The motion spreads to
the rest of the face with a Gaussian falloff of the geodesic distance over the mesh, so it does not jump
across the open mouth or eyes (the lower lip moves without dragging the upper one). Fields are scaled
to the subject by building them on the subject's own neutral mesh.
"""
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from addon.core.vocabulary import ACTION_UNITS, LATERAL_ACTION_UNITS
from backend.subject.face_topology import (CHEEK, CHIN, GLABELLA, INNER_BROW, JAW_ANGLE, JAW_LOWER, LANDMARK_COUNT,
                                           LIP_CORNER, LOWER_LID, LOWER_LIP_INNER, LOWER_LIP_OUTER, NOSE_BRIDGE_TOP,
                                           NOSE_WING, OUTER_BROW, UPPER_LID, UPPER_LIP_INNER, UPPER_LIP_OUTER,
                                           face_frame)

# Width (face-width units) of the blend between the two halves for one-sided variants.
SIDE_BLEND_WIDTH = 0.04


@dataclass(frozen=True)
class Control:
    """Control landmarks and how they move: a fixed offset (face widths, face frame, written for the
    subject's left side and mirrored in x for the right) or a fraction of the way to `towards`."""
    landmarks: tuple[int, ...]
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    towards: tuple[int, ...] = ()
    fraction: float = 0.0


@dataclass(frozen=True)
class ActionUnitSpec:
    controls: tuple[Control, ...]
    radius: float  # Gaussian sigma of the geodesic falloff, face-width units


def pair(groups, offset, *, mirror_x=True) -> tuple[Control, Control]:
    """Controls for both sides; offset is for the subject's left (+x), mirrored for the right."""
    right_ids, left_ids = groups
    dx, dy, dz = offset
    return (Control(tuple(right_ids), (-dx if mirror_x else dx, dy, dz)), Control(tuple(left_ids), (dx, dy, dz)))


def centre(ids, offset) -> Control:
    return Control(tuple(ids), offset)


def _close_lids(fraction: float) -> tuple[Control, ...]:
    return tuple(Control((upper,), towards=(lower,), fraction=fraction)
                 for side in (0, 1) for upper, lower in zip(UPPER_LID[side], LOWER_LID[side], strict=True))


def jaw_controls(scale: float) -> tuple[Control, ...]:
    return (*pair(LOWER_LIP_INNER, (0.0, -0.075 * scale, -0.010 * scale)),
            *pair(LOWER_LIP_OUTER, (0.0, -0.080 * scale, -0.010 * scale)),
            centre(CHIN, (0.0, -0.090 * scale, -0.015 * scale)),
            *pair(JAW_LOWER, (0.0, -0.050 * scale, -0.010 * scale)),
            *pair(JAW_ANGLE, (0.0, -0.020 * scale, 0.0)),
            *pair(LIP_CORNER, (-0.004 * scale, -0.030 * scale, 0.0)))


# Amplitudes: intensity 1 is a strong posed expression. They were calibrated on real photos of three people
# photographed neutral and posed (a woman in six posed expressions; two subjects of a posed-expression database,
# surprise/happy/disgust), landmarks rigidly aligned on points no expression moves, in face widths. Measured mean
# displacements (x outwards, y up, % of the face width), as "group: figure (expression)":
#   inner brow: +1.1..2.3, +3.3..4.1 (surprise); +1.2, +2.2 (fear); -0.4, -2.8 (disgust, brows lowered)
#   outer brow: +0.5..2.0, +2.9..3.1 (surprise)        upper lid: +1.1..1.3 up (surprise, eyes widened)
#   cheek:      +1.3..2.4, +1.7..3.3 (happy)           nose wing: +1.2..2.5, +1.0..2.8 (happy, disgust)
#   lip corner: +8.3..8.5, +4.2..7.1 (happy); +2.0, +1.9 (sad, small); +0.4, -4.2 (fear, with the jaw)
#   upper lip:  +3.3..3.6, +2.8..4.8 (happy); +0.8..2.5, +1.2..1.8 (disgust)
#   lower lip:  -3.8..-4.7 (happy, teeth showing); -7.7..-8.1 and -19.8 (surprise); -7.1 (fear); -18.6 (disgust,
#               mouth open); chin: -2.0..-5.1 and -16.2 (surprise), -8.9 (fear)
# Fitting these AUs (non-negative least squares, x/y weighted 1, z 0.2) to the measured fields before this
# calibration gave AU12 ≈ 2.1 for happy, AU25 ≈ 1.7–4.8 for open mouths, AU1/AU2 ≈ 0.7/0.55 for surprise: the lip,
# mouth and jaw amplitudes below were raised by those factors, the brows lowered to match.
ACTION_UNIT_SPECS: dict[str, ActionUnitSpec] = {
    "AU1": ActionUnitSpec((*pair(INNER_BROW, (0.004, 0.042, 0.0)), centre(NOSE_BRIDGE_TOP, (0.0, 0.0, 0.0))),
                          radius=0.07),
    "AU2": ActionUnitSpec(pair(OUTER_BROW, (0.006, 0.034, 0.0)), radius=0.07),
    "AU4": ActionUnitSpec((*pair(INNER_BROW, (-0.030, -0.034, 0.005)), *pair(OUTER_BROW, (-0.004, -0.014, 0.0)),
                           centre(GLABELLA, (0.0, -0.012, 0.0))), radius=0.05),
    "AU5": ActionUnitSpec(pair(UPPER_LID, (0.0, 0.016, 0.0)), radius=0.025),
    "AU6": ActionUnitSpec((*pair(CHEEK, (0.014, 0.030, 0.006)), *pair(LOWER_LID, (0.0, 0.010, 0.0))), radius=0.07),
    "AU7": ActionUnitSpec((*pair(LOWER_LID, (0.0, 0.015, 0.0)), *pair(UPPER_LID, (0.0, -0.005, 0.0))),
                          radius=0.025),
    "AU9": ActionUnitSpec((*pair(NOSE_WING, (0.010, 0.018, 0.0)), *pair(UPPER_LIP_OUTER, (0.0, 0.014, 0.0)),
                           *pair(INNER_BROW, (-0.006, -0.020, 0.0)), centre(GLABELLA, (0.0, -0.020, 0.0))),
                          radius=0.05),
    "AU10": ActionUnitSpec((*pair(UPPER_LIP_OUTER, (0.004, 0.030, 0.003)), *pair(UPPER_LIP_INNER, (0.0, 0.026, 0.0)),
                            *pair(NOSE_WING, (0.004, 0.008, 0.0))), radius=0.05),
    "AU12": ActionUnitSpec(pair(LIP_CORNER, (0.072, 0.056, -0.015)), radius=0.09),
    "AU14": ActionUnitSpec(pair(LIP_CORNER, (0.022, 0.014, -0.020)), radius=0.05),
    "AU15": ActionUnitSpec(pair(LIP_CORNER, (0.012, -0.048, 0.0)), radius=0.07),
    "AU16": ActionUnitSpec((*pair(LOWER_LIP_OUTER, (0.0, -0.030, 0.005)), *pair(LOWER_LIP_INNER, (0.0, -0.028, 0.0))),
                           radius=0.04),
    "AU17": ActionUnitSpec((centre(CHIN, (0.0, 0.022, 0.010)), *pair(LOWER_LIP_OUTER, (0.0, 0.016, 0.008)),
                            *pair(LOWER_LIP_INNER, (0.0, 0.008, 0.0))), radius=0.06),
    "AU20": ActionUnitSpec(pair(LIP_CORNER, (0.050, -0.012, -0.005)), radius=0.08),
    "AU23": ActionUnitSpec((*pair(LIP_CORNER, (-0.014, 0.0, 0.004)), *pair(UPPER_LIP_OUTER, (0.0, -0.008, 0.0)),
                            *pair(LOWER_LIP_OUTER, (0.0, 0.008, 0.0))), radius=0.04),
    "AU25": ActionUnitSpec((*pair(UPPER_LIP_INNER, (0.0, 0.010, 0.0)), *pair(LOWER_LIP_INNER, (0.0, -0.032, 0.0)),
                            *pair(LOWER_LIP_OUTER, (0.0, -0.020, 0.0))), radius=0.03),
    "AU26": ActionUnitSpec(jaw_controls(1.2), radius=0.08),
    "AU27": ActionUnitSpec((*jaw_controls(2.0), *pair(LIP_CORNER, (-0.020, -0.030, 0.0))), radius=0.08),
    "AU43": ActionUnitSpec(_close_lids(0.92), radius=0.02),
}

assert set(ACTION_UNIT_SPECS) == set(ACTION_UNITS)


def geodesic_distances(landmarks: np.ndarray, triangles: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """(S,468) shortest distances along the mesh edges from each source landmark to every landmark.

    landmarks: (468,3); triangles: (F,3) over landmark indices (the surface, holes open).
    """
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    lengths = np.linalg.norm(landmarks[edges[:, 0]] - landmarks[edges[:, 1]], axis=1)
    graph = coo_matrix((lengths, (edges[:, 0], edges[:, 1])), shape=(LANDMARK_COUNT, LANDMARK_COUNT)).tocsr()
    return dijkstra(graph, directed=False, indices=sources)


@dataclass(frozen=True)
class ActionUnitBasis:
    """Displacement fields of every action unit (and one-sided variant) for one subject."""
    names: tuple[str, ...]
    fields: np.ndarray  # (N,468,3) float64 metres, mesh coordinates, at intensity 1
    left_weight: np.ndarray  # (468,) 0..1: how much of a field the subject's left half takes (1 − it: the right)

    def displacement(self, intensities: dict[str, float]) -> np.ndarray:
        """(468,3) metres for {AU name: intensity}; unknown names raise KeyError naming them."""
        unknown = set(intensities) - set(self.names)
        if unknown:
            raise KeyError(f"no field for action units {sorted(unknown)}")
        index = {name: i for i, name in enumerate(self.names)}
        total = np.zeros(self.fields.shape[1:])
        for name, value in intensities.items():
            total += value * self.fields[index[name]]
        return total

    def mobility(self) -> np.ndarray:
        """(468,) in [0,1]: how much any expression can move each landmark (0 = never moves)."""
        largest = np.linalg.norm(self.fields, axis=2).max(axis=0)
        return np.clip(largest / (0.1 * largest.max()), 0.0, 1.0)


def build_action_unit_basis(landmarks: np.ndarray, triangles: np.ndarray,
                            specs: dict[str, ActionUnitSpec] = ACTION_UNIT_SPECS,
                            lateral: tuple[str, ...] = LATERAL_ACTION_UNITS) -> ActionUnitBasis:
    """Fields for all action units (or other `specs` written the same way, such as the rig's extra motions) on one
    subject's neutral (468,3) landmark mesh in metres; the names in `lateral` get L and R variants too."""
    frame = face_frame(landmarks)
    local = (landmarks @ frame.axes.T) / frame.width  # face frame, face-width units
    sources = sorted({lm for spec in specs.values() for c in spec.controls for lm in c.landmarks})
    distances = geodesic_distances(local, triangles, np.array(sources))
    row_of = {lm: i for i, lm in enumerate(sources)}
    left_weight = 1.0 / (1.0 + np.exp(-(local[:, 0] - frame.midline_x / frame.width) / SIDE_BLEND_WIDTH))
    names, fields = [], []
    for name, spec in specs.items():
        field_local = _field(spec, local, distances, row_of)
        field = field_local @ frame.axes * frame.width  # back to mesh coordinates, metres
        names.append(name)
        fields.append(field)
        if name in lateral:
            names += [f"{name}L", f"{name}R"]
            fields += [field * left_weight[:, None], field * (1.0 - left_weight[:, None])]
    return ActionUnitBasis(names=tuple(names), fields=np.stack(fields), left_weight=left_weight)


def _field(spec: ActionUnitSpec, local: np.ndarray, distances: np.ndarray, row_of: dict[int, int]) -> np.ndarray:
    """(468,3) face-frame displacement in face widths: normalised Gaussian blend of the control offsets."""
    weighted = np.zeros_like(local)
    weight_sum = np.zeros(len(local))
    for control in spec.controls:
        for i, landmark in enumerate(control.landmarks):
            if control.towards:
                offset = control.fraction * (local[control.towards[i]] - local[landmark])
            else:
                offset = np.asarray(control.offset)
            weight = np.exp(-0.5 * (distances[row_of[landmark]] / spec.radius) ** 2)
            weighted += weight[:, None] * offset
            weight_sum += weight
    return weighted / np.maximum(weight_sum, 1.0)[:, None]
