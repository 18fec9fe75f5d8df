"""What each of ARKit's 52 blendshapes is made of on the CPU engine: action units (backend/subject/action_units.py),
the few extra motions ARKit has and the prompt vocabulary does not, a side, or an eye rotation.

Each recipe follows FACS and ARKit's own one-line descriptions of the shapes (e.g. mouthSmileLeft: "upward
movement of the left corner of the mouth" = AU12 on the left; eyeSquintLeft: "contraction of the face around the
left eye" = AU7 with a little AU6; mouthLowerDownLeft: "downward movement of the lower lip on the left side" =
AU16 with the lips parting, AU25). Weight 1 is the shape's full range, as a phone reports it at its extreme.
"""
from dataclasses import dataclass, field

from addon.core.arkit import ARKIT_SHAPES
from backend.subject.action_units import ActionUnitSpec, Control, centre, jaw_controls, pair
from backend.subject.face_topology import (CHEEK, CHIN, JAW_ANGLE, JAW_LOWER, LIP_CORNER, LOWER_LIP_INNER,
                                           LOWER_LIP_OUTER, UPPER_LIP_INNER, UPPER_LIP_OUTER)

# Eye rotations of eyeLook* at weight 1 (radians): about as far as eyes turn before the head follows.
EYE_YAW_RAD = 0.44   # 25°
EYE_PITCH_RAD = 0.35  # 20°


def _towards(groups, offset) -> tuple[Control, Control]:
    """Controls moving both sides by the same offset (towards the subject's left for +x): a sideways motion."""
    return pair(groups, offset, mirror_x=False)


# Motions ARKit has that FACS codes as action units this engine's prompts do not use (AU18 pucker, AU22 funnel,
# AU24 press, AU28 lip suck split into its lips, AU29 jaw thrust, AU30 jaw sideways, AU33/34 cheek puff, AU19
# tongue show), or that ARKit adds (mouthClose: the lips sealed against an open jaw; mouthLeft: the closed mouth
# shifted sideways). Offsets in face widths in the face frame, written for the subject's left as the AUs are.
RIG_MOTION_SPECS: dict[str, ActionUnitSpec] = {
    "pucker": ActionUnitSpec((*pair(LIP_CORNER, (-0.030, 0.0, 0.020)), *pair(UPPER_LIP_OUTER, (-0.006, -0.004, 0.028)),
                              *pair(LOWER_LIP_OUTER, (-0.006, 0.004, 0.028)),
                              *pair(UPPER_LIP_INNER, (-0.004, -0.002, 0.022)),
                              *pair(LOWER_LIP_INNER, (-0.004, 0.002, 0.022))), radius=0.05),
    "funnel": ActionUnitSpec((*pair(LIP_CORNER, (-0.022, 0.0, 0.010)), *pair(UPPER_LIP_OUTER, (0.0, 0.010, 0.022)),
                              *pair(LOWER_LIP_OUTER, (0.0, -0.012, 0.022)),
                              *pair(UPPER_LIP_INNER, (0.0, 0.012, 0.016)),
                              *pair(LOWER_LIP_INNER, (0.0, -0.016, 0.016))), radius=0.04),
    "press": ActionUnitSpec((*pair(UPPER_LIP_INNER, (0.0, -0.004, -0.004)),
                             *pair(LOWER_LIP_INNER, (0.0, 0.004, -0.004)),
                             *pair(UPPER_LIP_OUTER, (0.0, -0.007, -0.005)),
                             *pair(LOWER_LIP_OUTER, (0.0, 0.007, -0.005)),
                             *pair(LIP_CORNER, (0.004, 0.0, -0.004))), radius=0.035),
    "roll_upper": ActionUnitSpec((*pair(UPPER_LIP_OUTER, (0.0, -0.012, -0.012)),
                                  *pair(UPPER_LIP_INNER, (0.0, -0.004, -0.010))), radius=0.03),
    "roll_lower": ActionUnitSpec((*pair(LOWER_LIP_OUTER, (0.0, 0.012, -0.012)),
                                  *pair(LOWER_LIP_INNER, (0.0, 0.004, -0.010))), radius=0.03),
    "shrug_upper": ActionUnitSpec((*pair(UPPER_LIP_OUTER, (0.0, 0.010, 0.006)),
                                   *pair(UPPER_LIP_INNER, (0.0, 0.008, 0.004))), radius=0.035),
    "lips_close": ActionUnitSpec((*pair(LOWER_LIP_INNER, (0.0, 0.10, 0.0)), *pair(LOWER_LIP_OUTER, (0.0, 0.085, 0.0)),
                                  *pair(UPPER_LIP_INNER, (0.0, -0.025, 0.0))), radius=0.03),
    "jaw_forward": ActionUnitSpec((centre(CHIN, (0.0, 0.0, 0.045)), *pair(JAW_LOWER, (0.0, 0.0, 0.035)),
                                   *pair(LOWER_LIP_OUTER, (0.0, 0.0, 0.040)),
                                   *pair(LOWER_LIP_INNER, (0.0, 0.0, 0.040)),
                                   *pair(JAW_ANGLE, (0.0, 0.0, 0.012))), radius=0.10),
    "jaw_left": ActionUnitSpec((centre(CHIN, (0.050, 0.0, 0.0)), *_towards(JAW_LOWER, (0.045, 0.0, 0.0)),
                                *_towards(LOWER_LIP_OUTER, (0.045, 0.0, 0.0)),
                                *_towards(LOWER_LIP_INNER, (0.045, 0.0, 0.0)),
                                *_towards(JAW_ANGLE, (0.015, 0.0, 0.0))), radius=0.10),
    "jaw_right": ActionUnitSpec((centre(CHIN, (-0.050, 0.0, 0.0)), *_towards(JAW_LOWER, (-0.045, 0.0, 0.0)),
                                 *_towards(LOWER_LIP_OUTER, (-0.045, 0.0, 0.0)),
                                 *_towards(LOWER_LIP_INNER, (-0.045, 0.0, 0.0)),
                                 *_towards(JAW_ANGLE, (-0.015, 0.0, 0.0))), radius=0.10),
    "mouth_left": ActionUnitSpec((*_towards(LIP_CORNER, (0.040, 0.0, 0.0)),
                                  *_towards(UPPER_LIP_OUTER, (0.035, 0.0, 0.0)),
                                  *_towards(LOWER_LIP_OUTER, (0.035, 0.0, 0.0)),
                                  *_towards(UPPER_LIP_INNER, (0.035, 0.0, 0.0)),
                                  *_towards(LOWER_LIP_INNER, (0.035, 0.0, 0.0))), radius=0.05),
    "mouth_right": ActionUnitSpec((*_towards(LIP_CORNER, (-0.040, 0.0, 0.0)),
                                   *_towards(UPPER_LIP_OUTER, (-0.035, 0.0, 0.0)),
                                   *_towards(LOWER_LIP_OUTER, (-0.035, 0.0, 0.0)),
                                   *_towards(UPPER_LIP_INNER, (-0.035, 0.0, 0.0)),
                                   *_towards(LOWER_LIP_INNER, (-0.035, 0.0, 0.0))), radius=0.05),
    "cheek_puff": ActionUnitSpec((*pair(CHEEK, (0.030, -0.006, 0.030)), *pair(LIP_CORNER, (0.006, 0.0, 0.012)),
                                  *pair(UPPER_LIP_OUTER, (0.0, 0.0, 0.010)),
                                  *pair(LOWER_LIP_OUTER, (0.0, 0.0, 0.010))), radius=0.10),
    "tongue_out": ActionUnitSpec((*jaw_controls(0.5), *pair(LOWER_LIP_OUTER, (0.0, -0.015, 0.010))), radius=0.06),
}


@dataclass(frozen=True)
class ArkitRecipe:
    action_units: dict[str, float] = field(default_factory=dict)  # names of the subject's ActionUnitBasis
    motions: dict[str, float] = field(default_factory=dict)       # names of RIG_MOTION_SPECS
    side: str | None = None   # "left"/"right": only that half of the face moves (the subject's own side)
    eye_rotation: tuple[float, float] | None = None  # (yaw towards the subject's left, pitch up), radians
    tongue: bool = False      # the mouth's backing comes forward as a tongue, drawn in the tongue's colour
    skin: bool = True         # False: geometry only (mouthClose crosses the lips unless the jaw is open, where the
                              # lips' own texture is right), so no texture of its own is drawn


def _sided(name: str) -> str | None:
    return "left" if name.endswith("Left") else "right" if name.endswith("Right") else None


def _eye_look(name: str) -> ArkitRecipe:
    """eyeLook{Down,In,Out,Up}{Left,Right}: In turns an eye towards the nose, Out away from it."""
    side = _sided(name)
    towards_left = 1.0 if side == "left" else -1.0  # Out on the left eye looks to the subject's left
    yaw, pitch = {"Down": (0.0, -EYE_PITCH_RAD), "Up": (0.0, EYE_PITCH_RAD),
                  "In": (-towards_left * EYE_YAW_RAD, 0.0), "Out": (towards_left * EYE_YAW_RAD, 0.0)}[
        name.removeprefix("eyeLook").removesuffix("Left").removesuffix("Right")]
    return ArkitRecipe(side=side, eye_rotation=(yaw, pitch))


def _one_side(action_units=None, motions=None):
    """A recipe for both sides' shapes (…Left, …Right), each moving its own half."""
    return {side: ArkitRecipe(action_units=dict(action_units or {}), motions=dict(motions or {}), side=side)
            for side in ("left", "right")}


_SIDED = {
    "eyeBlink": _one_side({"AU43": 1.0}),
    "eyeSquint": _one_side({"AU7": 1.0, "AU6": 0.3}),
    "eyeWide": _one_side({"AU5": 1.0}),
    "mouthSmile": _one_side({"AU12": 1.0}),
    "mouthFrown": _one_side({"AU15": 1.0}),
    "mouthDimple": _one_side({"AU14": 1.0}),
    "mouthStretch": _one_side({"AU20": 1.0}),
    "mouthPress": _one_side(motions={"press": 1.0}),
    "mouthLowerDown": _one_side({"AU16": 1.0, "AU25": 0.5}),
    "mouthUpperUp": _one_side({"AU10": 1.0}),
    "browDown": _one_side({"AU4": 1.0}),
    "browOuterUp": _one_side({"AU2": 1.0}),
    "cheekSquint": _one_side({"AU6": 1.0}),
    "noseSneer": _one_side({"AU9": 1.0}),
}

_CENTRAL = {
    "jawForward": ArkitRecipe(motions={"jaw_forward": 1.0}),
    "jawLeft": ArkitRecipe(motions={"jaw_left": 1.0}),
    "jawRight": ArkitRecipe(motions={"jaw_right": 1.0}),
    "jawOpen": ArkitRecipe(action_units={"AU26": 1.6}),  # as wide as AU27's jaw, without its narrowed corners
    "mouthClose": ArkitRecipe(motions={"lips_close": 1.0}, skin=False),
    "mouthFunnel": ArkitRecipe(motions={"funnel": 1.0}),
    "mouthPucker": ArkitRecipe(motions={"pucker": 1.0}),
    "mouthLeft": ArkitRecipe(motions={"mouth_left": 1.0}),
    "mouthRight": ArkitRecipe(motions={"mouth_right": 1.0}),
    "mouthRollLower": ArkitRecipe(motions={"roll_lower": 1.0}),
    "mouthRollUpper": ArkitRecipe(motions={"roll_upper": 1.0}),
    "mouthShrugLower": ArkitRecipe(action_units={"AU17": 1.0}),
    "mouthShrugUpper": ArkitRecipe(motions={"shrug_upper": 1.0}),
    "browInnerUp": ArkitRecipe(action_units={"AU1": 1.0}),
    "cheekPuff": ArkitRecipe(motions={"cheek_puff": 1.0}),
    "tongueOut": ArkitRecipe(motions={"tongue_out": 1.0}, tongue=True),
}


def _recipe(name: str) -> ArkitRecipe:
    if name.startswith("eyeLook"):
        return _eye_look(name)
    if name in _CENTRAL:
        return _CENTRAL[name]
    side = _sided(name)
    return _SIDED[name.removesuffix("Left").removesuffix("Right")][side]


ARKIT_RECIPES: dict[str, ArkitRecipe] = {name: _recipe(name) for name in ARKIT_SHAPES}
