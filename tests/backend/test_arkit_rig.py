"""The CPU engine's ARKit-52 rig on a real photo: the names, what each shape moves, left/right symmetry, the eyes and
tongue, and how closely weights reproduce a prompt's own shape."""
import numpy as np
import pytest

from addon.core.arkit import ARKIT_SHAPES, VISEMES, mirrored_shape
from addon.core.errors import PromptFaceError
from addon.core.expression_set import read_expression_set
from backend.editors.warp import WarpEditor
from backend.engines import Engines
from backend.pipeline import PipelineOptions, check_inputs, generate
from backend.prompts.text_to_action_units import resolve_prompt
from backend.reconstructors.landmarks import LandmarkReconstructor
from backend.rig.arkit_fit import blend, fit_arkit_weights, shape_deltas
from backend.rig.arkit_recipes import ARKIT_RECIPES
from backend.rig.arkit_shapes import build_arkit_shapes, eye_backing_vertices
from backend.subject.face_topology import CHIN, INNER_BROW, LIP_CORNER, LOWER_LID, UPPER_LID

# Apple's list (ARFaceAnchor.BlendShapeLocation), spelled out here independently of addon/core/arkit.py.
APPLE_NAMES = """eyeBlinkLeft eyeLookDownLeft eyeLookInLeft eyeLookOutLeft eyeLookUpLeft eyeSquintLeft eyeWideLeft
eyeBlinkRight eyeLookDownRight eyeLookInRight eyeLookOutRight eyeLookUpRight eyeSquintRight eyeWideRight jawForward
jawLeft jawRight jawOpen mouthClose mouthFunnel mouthPucker mouthLeft mouthRight mouthSmileLeft mouthSmileRight
mouthFrownLeft mouthFrownRight mouthDimpleLeft mouthDimpleRight mouthStretchLeft mouthStretchRight mouthRollLower
mouthRollUpper mouthShrugLower mouthShrugUpper mouthPressLeft mouthPressRight mouthLowerDownLeft mouthLowerDownRight
mouthUpperUpLeft mouthUpperUpRight browDownLeft browDownRight browInnerUp browOuterUpLeft browOuterUpRight cheekPuff
cheekSquintLeft cheekSquintRight noseSneerLeft noseSneerRight tongueOut""".split()
RIGHT, LEFT = 0, 1  # the landmark groups of face_topology list the subject's right side first


@pytest.fixture(scope="module")
def rig(subject, landmark_detector):
    reconstructor = LandmarkReconstructor(landmark_detector)
    base = reconstructor.reconstruct_neutral(subject)
    shapes = build_arkit_shapes(subject, base, reconstructor, WarpEditor())
    return {shape.name: shape for shape in shapes}, base


def moved(subject, rig, name) -> np.ndarray:
    """(V,3) the shape's displacement in the face frame (x towards the subject's left, y up, z to the camera), m."""
    shapes, base = rig
    return (shapes[name].vertices - base.mesh.vertices) @ subject.frame.axes.T


def test_exactly_apples_52_names_in_order(rig):
    assert len(APPLE_NAMES) == 52 and ARKIT_SHAPES == tuple(APPLE_NAMES)
    assert list(rig[0]) == APPLE_NAMES
    assert set(ARKIT_RECIPES) == set(APPLE_NAMES)
    assert len(VISEMES) == 15 and all(name.startswith("viseme_") for name in VISEMES)


def test_each_shape_moves_its_own_region(subject, rig):
    jaw = moved(subject, rig, "jawOpen")
    assert jaw[CHIN, 1].mean() < -0.008  # the chin goes down by about a centimetre
    assert np.abs(jaw[INNER_BROW[LEFT] + INNER_BROW[RIGHT]]).max() < 1e-4  # the brows stay

    blink = moved(subject, rig, "eyeBlinkLeft")
    assert blink[UPPER_LID[LEFT], 1].mean() < -0.003  # the subject's left upper lid comes down
    assert np.abs(blink[UPPER_LID[RIGHT]]).max() < 2e-4  # the right one does not move
    assert np.abs(blink[UPPER_LID[LEFT], 1]).mean() > 3 * np.abs(blink[LOWER_LID[LEFT], 1]).mean()

    smile = moved(subject, rig, "mouthSmileLeft")
    assert smile[LIP_CORNER[LEFT], 1].mean() > 0.003 and smile[LIP_CORNER[LEFT], 0].mean() > 0.003  # up and out
    assert np.linalg.norm(smile[LIP_CORNER[RIGHT]], axis=1).max() < 0.2 * np.linalg.norm(smile[LIP_CORNER[LEFT]])

    brows = moved(subject, rig, "browInnerUp")
    assert brows[INNER_BROW[LEFT], 1].mean() > 0.002 and brows[INNER_BROW[RIGHT], 1].mean() > 0.002
    assert np.abs(brows[CHIN]).max() < 1e-4


def test_left_and_right_shapes_mirror_each_other(subject, rig):
    neutral = rig[1].mesh.vertices @ subject.frame.axes.T
    midline = subject.frame.midline_x
    for name in ARKIT_SHAPES:
        other = mirrored_shape(name)
        if not name.endswith("Left") or other is None:
            continue
        left, right = moved(subject, rig, name), moved(subject, rig, other)
        left_size, right_size = np.linalg.norm(left, axis=1), np.linalg.norm(right, axis=1)
        assert right_size.sum() == pytest.approx(left_size.sum(), rel=0.15), name
        # Where it moves, mirrored: the centre of motion on the other side of the midline, x motion mirrored.
        left_x = (left_size * (neutral[:, 0] - midline)).sum() / left_size.sum()
        right_x = (right_size * (neutral[:, 0] - midline)).sum() / right_size.sum()
        assert right_x == pytest.approx(-left_x, abs=0.004), name
        assert right[:, 0].sum() == pytest.approx(-left[:, 0].sum(), abs=0.15 * np.abs(left[:, 0]).sum() + 1e-4)
        assert right[:, 1].sum() == pytest.approx(left[:, 1].sum(), abs=0.15 * np.abs(left[:, 1]).sum() + 1e-4)


def test_eye_looks_turn_one_eyeball_and_the_tongue_comes_out(subject, rig):
    left_eye, _ = eye_backing_vertices(subject, "left")
    right_eye, _ = eye_backing_vertices(subject, "right")
    out_left = moved(subject, rig, "eyeLookOutLeft")
    assert out_left[left_eye, 0].mean() > 0.002  # the iris goes towards the subject's left
    assert np.abs(out_left[right_eye]).max() < 1e-6 and np.abs(out_left[:468]).max() < 1e-6  # nothing else moves
    assert moved(subject, rig, "eyeLookInRight")[right_eye, 0].mean() > 0.002  # the right eye in: to the left
    assert moved(subject, rig, "eyeLookUpLeft")[left_eye, 1].mean() > 0.002

    shapes, base = rig
    mouth_loop, start, _ = subject.topology.backings()[0]
    tip = start + len(mouth_loop)
    forward = subject.frame.axes[2]
    lips_front = shapes["tongueOut"].vertices[mouth_loop] @ forward
    assert shapes["tongueOut"].vertices[tip] @ forward > lips_front.mean()  # past the lips
    assert base.mesh.vertices[tip] @ forward < lips_front.mean()
    assert shapes["tongueOut"].texture is not None  # drawn in the tongue's colour


def test_weights_reproduce_a_prompts_shape(subject, rig):
    shapes, base = rig
    names = list(shapes)
    deltas = shape_deltas(base.mesh.vertices, [shapes[name].vertices for name in names])
    neutral_m = base.mesh.vertices[:468].astype(np.float64)
    for prompt in ("happy", "surprised", "angry", "70% happy + 30% surprised"):
        intent = resolve_prompt(prompt, None)
        expression = subject.vertices_from_landmarks(neutral_m + subject.action_units.displacement(
            intent.action_units))
        fit = fit_arkit_weights(base.mesh.vertices, expression, names, deltas)
        assert all(0.0 <= weight <= 1.0 for weight in fit.weights.values())
        assert fit.mean_mm < 0.5 and fit.max_mm < 3.0, (prompt, fit)
        rebuilt = blend(base.mesh.vertices, names, deltas, fit.weights)
        assert 1000 * np.linalg.norm(rebuilt - expression, axis=1).max() < fit.max_mm + 0.05
    happy = fit_arkit_weights(base.mesh.vertices, subject.vertices_from_landmarks(
        neutral_m + subject.action_units.displacement(resolve_prompt("happy", None).action_units)), names, deltas)
    assert happy.weights.get("mouthSmileLeft", 0) > 0.5 and happy.weights.get("mouthSmileRight", 0) > 0.5
    assert happy.weights.get("mouthLeft", 0) < 0.1 and happy.weights.get("jawLeft", 0) < 0.1  # no cancelling pairs


def test_a_job_with_the_arkit_rig_writes_the_shapes_and_every_prompts_weights(astronaut_png, tmp_path):
    out = generate(astronaut_png, "astronaut.png", ["happy", "AU26:0.6"], tmp_path / "set", Engines.load(),
                   PipelineOptions(rig="arkit"))
    expression_set = read_expression_set(out)
    assert expression_set.rig.names() == list(ARKIT_SHAPES) and set(expression_set.rig.poses) == set(VISEMES)
    assert expression_set.names()[:1] == ["neutral"] and "eyeBlinkLeft" not in expression_set.names()
    happy = expression_set.expression("happy")
    assert happy.arkit_weights["mouthSmileLeft"] > 0.5 and happy.record["arkit_fit"]["max_mm"] < 3.0
    assert expression_set.expression("au26_60").arkit_weights["jawOpen"] > 0.3
    assert expression_set.expression("neutral").arkit_weights == {}


def test_an_unknown_rig_is_refused():
    with pytest.raises(PromptFaceError, match="rig 'metahuman' is not one of prompts, arkit"):
        check_inputs(["happy"], PipelineOptions(rig="metahuman"))


def test_shapes_that_crease_the_skin_carry_a_texture_on_both_sides(rig):
    shapes, _ = rig
    textured = {name for name, shape in shapes.items() if shape.texture is not None}
    assert {"browInnerUp", "browDownLeft", "noseSneerLeft", "mouthSmileLeft", "tongueOut"} <= textured
    assert all(mirrored_shape(name) in textured for name in textured if mirrored_shape(name))
    assert not textured & {"eyeLookOutLeft", "mouthClose"}  # eyes turn, and mouthClose is geometry only
    assert len(textured) <= 24
