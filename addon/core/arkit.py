"""Apple's 52 ARKit blendshapes and the poses built from them: the names a phone (Live Link Face), Audio2Face and
game avatars use for a face rig, shared by the backend (which builds the shapes) and the add-on (which keys them).

Left and right are the subject's own, as in ARKit: eyeBlinkLeft closes the subject's left eye, which a photo shows
on the image's right.
"""

# In the order of ARKit's documentation (Live Link Face's CSV has the same names, a few of them swapped).
ARKIT_SHAPES = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight",
    "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft",
    "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
assert len(ARKIT_SHAPES) == len(set(ARKIT_SHAPES)) == 52

ARKIT_RIG = "arkit"
RIG_KINDS = ("prompts", ARKIT_RIG)  # "prompts": a shape key per prompt, as before


def mirrored_shape(name: str) -> str | None:
    """The other side's shape of a Left/Right shape (mouthSmileLeft → mouthSmileRight), None for a central one.
    ARKit's "Left"/"Right" are whole words at the end, except jawLeft/jawRight and mouthLeft/mouthRight, which move
    the jaw or mouth towards a side and mirror each other just the same."""
    for side, other in (("Left", "Right"), ("Right", "Left")):
        if name.endswith(side):
            return name[: -len(side)] + other
    return None


# The 15 Oculus (Meta) visemes lip-sync tools key, each as an ARKit pose: the mouth shape of its phonemes, written
# here from their articulation (lips closed for p/b/m, lower lip to the upper teeth for f/v, rounded lips for o/u …).
VISEMES: dict[str, dict[str, float]] = {
    "viseme_sil": {},
    "viseme_PP": {"mouthPressLeft": 0.6, "mouthPressRight": 0.6, "mouthRollLower": 0.3, "mouthRollUpper": 0.2},
    "viseme_FF": {"jawOpen": 0.1, "mouthRollLower": 0.6, "mouthUpperUpLeft": 0.25, "mouthUpperUpRight": 0.25},
    "viseme_TH": {"jawOpen": 0.15, "tongueOut": 0.4, "mouthLowerDownLeft": 0.2, "mouthLowerDownRight": 0.2},
    "viseme_DD": {"jawOpen": 0.2, "mouthStretchLeft": 0.15, "mouthStretchRight": 0.15},
    "viseme_kk": {"jawOpen": 0.25, "mouthStretchLeft": 0.2, "mouthStretchRight": 0.2},
    "viseme_CH": {"jawOpen": 0.15, "mouthFunnel": 0.5, "mouthPucker": 0.2, "mouthUpperUpLeft": 0.2,
                  "mouthUpperUpRight": 0.2},
    "viseme_SS": {"jawOpen": 0.08, "mouthStretchLeft": 0.3, "mouthStretchRight": 0.3, "mouthSmileLeft": 0.1,
                  "mouthSmileRight": 0.1},
    "viseme_nn": {"jawOpen": 0.15, "mouthStretchLeft": 0.1, "mouthStretchRight": 0.1, "mouthUpperUpLeft": 0.1,
                  "mouthUpperUpRight": 0.1},
    "viseme_RR": {"jawOpen": 0.15, "mouthFunnel": 0.3, "mouthPucker": 0.3},
    "viseme_aa": {"jawOpen": 0.6, "mouthLowerDownLeft": 0.3, "mouthLowerDownRight": 0.3},
    "viseme_E": {"jawOpen": 0.35, "mouthStretchLeft": 0.35, "mouthStretchRight": 0.35},
    "viseme_I": {"jawOpen": 0.25, "mouthSmileLeft": 0.25, "mouthSmileRight": 0.25, "mouthStretchLeft": 0.2,
                 "mouthStretchRight": 0.2},
    "viseme_O": {"jawOpen": 0.4, "mouthFunnel": 0.6, "mouthPucker": 0.2},
    "viseme_U": {"jawOpen": 0.15, "mouthPucker": 0.8, "mouthFunnel": 0.3},
}
assert len(VISEMES) == 15 and all(set(pose) <= set(ARKIT_SHAPES) for pose in VISEMES.values())


def check_arkit_weights(weights: dict, what: str) -> dict[str, float]:
    """{ARKit name: weight in [0, 1]} checked: every name one of the 52, every weight a number in range. Raises
    ValueError naming the first bad entry and `what` it belongs to."""
    checked = {}
    for name, weight in weights.items():
        if name not in ARKIT_SHAPES:
            raise ValueError(f"{what}: {name!r} is not one of the 52 ARKit blendshape names")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise ValueError(f"{what}: the weight of {name} must be a number from 0 to 1, not {weight!r}")
        checked[name] = float(weight)
    return checked
