"""FLAME → ARKit (backend/flame/arkit_solve.py) on the synthetic FLAME files of backend/bench/synthetic_deca.py (the
released keys and shapes, a head-like cap with jaw and eye weights).

What the synthetic model shares with FLAME, and these tests rely on: metres, +y up, the face looking along +z, +x the
subject's left (its left eye joint, 3, sits at +x); the 68-point embedding's first 17 points are the jaw contour from
the subject's right (iBUG 0–7, the image's left, at −x) round the chin (8) to the subject's left (9–16, +x). Its 51
inner points are scattered at random over the face, not at iBUG's eyes, brows and lips, so the tests pick landmarks by
what the model says about them (the jaw's skinning weight, the sign of x) rather than by iBUG index.
"""
import numpy as np
import pytest
import torch

from backend.flame import lbs
from backend.flame.arkit_solve import (FlameLandmarkRig, JawPrior, eye_look_pose, jaw_opening_sign,
                                       landmark_targets_from_points, left_eye_slot, solve_arkit_shapes,
                                       solve_flame_expression)

JAW, LEFT_EYE, RIGHT_EYE = 2, 3, 4
MM = 1e-3
# torch's forward-mode autograd (the fit's Jacobians) loads its decompositions with torch.jit.script once per process.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def shape_code():
    """An identity other than the template's, so the fits see a shaped head."""
    return 0.5 * torch.randn(1, 100, generator=torch.Generator().manual_seed(3))


@pytest.fixture(scope="module")
def neutral(model, shape_code):
    with torch.no_grad():
        return model(shape_code, torch.zeros(1, 50), torch.zeros(1, 6))


def posed_landmarks(model, shape_code, expression, jaw_pose) -> np.ndarray:
    pose = torch.zeros(1, 6)
    pose[0, 3:] = torch.as_tensor(jaw_pose, dtype=torch.float32)
    with torch.no_grad():
        return model(shape_code, torch.as_tensor(expression, dtype=torch.float32)[None], pose).landmarks3d[0].numpy()


def landmark_jaw_weights(model, flame) -> np.ndarray:
    """(68,) how much of each landmark the jaw joint carries: the mean jaw weight of its face's corners."""
    corners = model.faces[model.full_face_ids].numpy()
    return flame.weights[corners, JAW].mean(axis=1)


# ---------------------------------------------------------------------------------------------------------------
# FLAME facts, established on the model


def test_the_landmark_rig_matches_the_whole_model(model, shape_code):
    generator = torch.Generator().manual_seed(0)
    expression = torch.randn(2, 50, generator=generator)
    jaw = torch.tensor([[0.2, 0.05, -0.03], [0.0, 0.0, 0.0]])
    with torch.no_grad():
        whole = model(shape_code.expand(2, -1), expression, torch.cat([torch.zeros(2, 3), jaw], dim=1)).landmarks3d
    rig = FlameLandmarkRig(model, shape_code).landmarks(expression.double(), jaw.double())
    np.testing.assert_allclose(rig.numpy(), whole.double().numpy(), atol=1e-7)


def test_the_jaw_opens_about_plus_x_moving_the_chin_down_and_back(model, shape_code, neutral, flame):
    assert jaw_opening_sign(model, shape_code) == 1.0
    pose = torch.zeros(1, 6)
    pose[0, 3] = 0.2
    with torch.no_grad():
        moved = (model(shape_code, torch.zeros(1, 50), pose).vertices - neutral.vertices)[0].numpy()
    chin = flame.weights[:, JAW] > 0.9
    assert moved[chin, 1].mean() < -5 * MM and moved[chin, 2].mean() < 0


def test_joint_3_is_the_subjects_left_eye(model, shape_code, neutral):
    joints = neutral.joints[0].numpy()
    assert joints[LEFT_EYE, 0] > 0.02 and joints[RIGHT_EYE, 0] < -0.02
    assert left_eye_slot(model, shape_code) == 0


def test_the_contour_runs_from_the_subjects_right_to_left(neutral):
    """iBUG's 0–7 are the image's left, the subject's right (−x); 9–16 the subject's left (+x)."""
    landmarks = neutral.landmarks3d[0].numpy()
    assert (landmarks[0:8, 0] < 0).all() and (landmarks[9:17, 0] > 0).all()


# ---------------------------------------------------------------------------------------------------------------
# (a) the model's own motion is recovered


def test_a_target_the_model_makes_is_recovered(model, shape_code, neutral):
    expression = np.zeros(50)
    expression[:10] = np.random.default_rng(1).normal(size=10)
    jaw_pose = np.array([0.12, 0.0, 0.0])
    target = posed_landmarks(model, shape_code, expression, jaw_pose) - neutral.landmarks3d[0].numpy()
    target_size = np.linalg.norm(target, axis=1).mean()
    assert target_size > 3 * MM
    fit = solve_flame_expression(model, shape_code, target)
    assert fit.landmark_error_mean_m < 0.05 * target_size      # about 0.08 mm against 4 mm
    assert fit.landmark_error_max_m < 0.1 * target_size
    assert abs(fit.jaw_pose[0] - 0.12) < 0.01 and np.abs(fit.jaw_pose[1:]).max() < 0.005
    assert fit.expression.shape == (50,) and fit.vertex_offsets.shape == (5023, 3)
    assert 1 <= fit.iterations <= 30
    again = solve_flame_expression(model, shape_code, target)
    np.testing.assert_array_equal(again.expression, fit.expression)       # deterministic


def test_without_the_prior_the_recovery_is_exact(model, shape_code, neutral):
    expression = np.zeros(50)
    expression[[0, 4, 20]] = [1.0, -0.8, 1.5]
    jaw_pose = np.array([0.08, 0.02, 0.0])
    target = posed_landmarks(model, shape_code, expression, jaw_pose) - neutral.landmarks3d[0].numpy()
    fit = solve_flame_expression(model, shape_code, target, expression_prior=1e-8,
                                 jaw_prior=JawPrior(sideways_weight=0.0, twist_weight=0.0))
    assert fit.landmark_error_max_m < 1e-6
    np.testing.assert_allclose(fit.jaw_pose, jaw_pose, atol=1e-4)


# ---------------------------------------------------------------------------------------------------------------
# (b) a jaw-open target


def test_a_jaw_open_target_is_met_mostly_by_the_jaw(model, shape_code, neutral, flame):
    """The landmarks the jaw carries move down and a little back (a jaw opening moves the chin on an arc), each as
    much as the jaw carries it."""
    target = landmark_jaw_weights(model, flame)[:, None] * np.array([0.0, -6 * MM, -4 * MM])
    fit = solve_flame_expression(model, shape_code, target)
    assert fit.jaw_pose[0] > 0.03                                   # opened, the way FLAME opens
    assert np.abs(fit.jaw_pose[1:]).max() < 0.2 * fit.jaw_pose[0]
    jaw_only = posed_landmarks(model, shape_code, np.zeros(50), fit.jaw_pose) - neutral.landmarks3d[0].numpy()
    assert (jaw_only * target).sum() / (target * target).sum() > 0.5  # about 0.65
    chin = flame.weights[:, JAW] > 0.9
    assert fit.vertex_offsets[chin, 1].mean() < -4 * MM
    without_jaw = solve_flame_expression(model, shape_code, target, jaw=False)
    assert np.all(without_jaw.jaw_pose == 0)
    assert fit.landmark_error_mean_m < 0.8 * without_jaw.landmark_error_mean_m


def test_the_jaw_does_not_close_past_its_rest_pose(model, shape_code, flame):
    target = landmark_jaw_weights(model, flame)[:, None] * np.array([0.0, 6 * MM, 4 * MM])   # chin up into the skull
    fit = solve_flame_expression(model, shape_code, target)
    assert fit.jaw_pose[0] > -0.002


# ---------------------------------------------------------------------------------------------------------------
# (c) one side


def test_a_target_on_the_subjects_left_moves_the_left_side(model, shape_code, neutral):
    landmarks = neutral.landmarks3d[0].numpy()
    left, right = landmarks[:, 0] > 0.01, landmarks[:, 0] < -0.01
    target = np.zeros((68, 3))
    target[left, 1] = 3 * MM
    fit = solve_flame_expression(model, shape_code, target)
    moved = posed_landmarks(model, shape_code, fit.expression, fit.jaw_pose) - landmarks
    assert moved[left, 1].mean() > 2 * MM and abs(moved[right, 1].mean()) < 0.5 * MM
    vertices = neutral.vertices[0].numpy()
    face = vertices[:, 2] > 0.03
    distance = np.linalg.norm(fit.vertex_offsets, axis=1)
    left_motion, right_motion = (distance[face & side].mean() for side in (vertices[:, 0] > 0.01,
                                                                           vertices[:, 0] < -0.01))
    assert left_motion > 3 * right_motion                          # about 2.6 mm against 0.5 mm


# ---------------------------------------------------------------------------------------------------------------
# (d) eyes


def test_eye_look_pose_points_the_gaze(model):
    for yaw, pitch in ((0.3, 0.0), (-0.2, 0.1), (0.0, -0.25)):
        rotation = lbs.rodrigues(torch.tensor(eye_look_pose(yaw, pitch, "left")[:3]))
        expected = [np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)]
        np.testing.assert_allclose(rotation.numpy() @ [0.0, 0.0, 1.0], expected, atol=1e-12)
    both = eye_look_pose(0.1, 0.2, "both")
    np.testing.assert_array_equal(both[:3], both[3:])
    assert np.all(eye_look_pose(0.1, 0.2, "right")[:3] == 0)
    swapped = eye_look_pose(0.1, 0.2, "left", left_eye_slot=1)
    assert np.all(swapped[:3] == 0) and np.any(swapped[3:] != 0)


def test_the_left_eye_turns_towards_the_requested_side(model, shape_code, neutral, flame):
    """The synthetic eyes are skin patches around the eye joints: the mean normal of the left one (its front) tilts
    the way the gaze turns, and nothing the right eye carries moves."""
    angles = {"eyeLookOutLeft": (0.3, 0.0, "left"), "eyeLookInLeft": (-0.3, 0.0, "left"),
              "eyeLookUpLeft": (0.0, 0.3, "left"), "eyeLookDownLeft": (0.0, -0.3, "left")}
    fits = solve_arkit_shapes(model, shape_code, {}, angles)
    assert list(fits) == ["eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft"]   # ARKit's order
    eye_weight = flame.weights[:, LEFT_EYE]
    right_eye = flame.weights[:, RIGHT_EYE] > 0
    faces = model.faces
    rest = neutral.vertices

    def front_tilt(fit):
        normals = lbs.vertex_normals(rest + torch.tensor(fit.vertex_offsets)[None], faces)[0]
        change = (normals - lbs.vertex_normals(rest, faces)[0]).numpy()
        return (eye_weight[:, None] * change).sum(axis=0) / eye_weight.sum()

    for name, axis, sign in (("eyeLookOutLeft", 0, 1), ("eyeLookInLeft", 0, -1), ("eyeLookUpLeft", 1, 1),
                             ("eyeLookDownLeft", 1, -1)):
        tilt = front_tilt(fits[name])
        assert sign * tilt[axis] > 0.02, (name, tilt)
        assert abs(tilt[1 - axis]) < 0.5 * abs(tilt[axis]), (name, tilt)
        assert np.abs(fits[name].vertex_offsets[right_eye]).max() < 1e-7
        assert np.all(fits[name].expression == 0) and fits[name].iterations == 0


# ---------------------------------------------------------------------------------------------------------------
# A rig at once


def test_solve_arkit_shapes_fits_targets_and_eyes_together(model, shape_code, flame):
    jaw_open = landmark_jaw_weights(model, flame)[:, None] * np.array([0.0, -6 * MM, -4 * MM])
    alone = solve_flame_expression(model, shape_code, jaw_open)
    fits = solve_arkit_shapes(model, shape_code, {"jawOpen": jaw_open, "mouthClose": np.zeros((68, 3))},
                              {"eyeLookOutRight": (-0.3, 0.0, "right")})
    assert list(fits) == ["eyeLookOutRight", "jawOpen", "mouthClose"]
    np.testing.assert_allclose(fits["jawOpen"].expression, alone.expression, atol=1e-6)
    assert np.abs(fits["mouthClose"].vertex_offsets).max() < 1e-9
    assert fits["eyeLookOutRight"].eye_pose[4] < 0 and np.all(fits["eyeLookOutRight"].eye_pose[:3] == 0)


# ---------------------------------------------------------------------------------------------------------------
# (e) carrying a motion onto the landmarks


def test_landmark_targets_from_points_weights_by_inverse_distance():
    # Four points at the corners of a 2 cm square around the origin, at different depths (z is not a distance).
    points = np.array([[-0.01, -0.01, 0.0], [0.01, -0.01, 0.02], [-0.01, 0.01, -0.03], [0.01, 0.01, 0.01],
                       [0.5, 0.5, 0.0]])
    offsets = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 1.0], [9.0, 9.0, 9.0]]) * MM
    landmarks = np.zeros((68, 3))
    landmarks[1] = [0.01, -0.01, 0.5]          # on the second point (in x, y)
    landmarks[2] = [0.01, 0.0, 0.0]            # between the right-hand pair, closer to them than to the others
    landmarks[3] = [0.5, 0.5, 0.0]             # on the far point
    moved = landmark_targets_from_points(points, offsets, landmarks)
    assert moved.shape == (68, 3)
    np.testing.assert_allclose(moved[0], offsets[:4].mean(axis=0), atol=1e-15)    # the centre: all four equally
    np.testing.assert_allclose(moved[1], offsets[1], atol=1e-12)
    near, far = 1 / 0.01 ** 2, 1 / (0.02 ** 2 + 0.01 ** 2)
    expected = (near * (offsets[1] + offsets[3]) + far * (offsets[0] + offsets[2])) / (2 * near + 2 * far)
    np.testing.assert_allclose(moved[2], expected, atol=1e-15)
    np.testing.assert_allclose(moved[3], offsets[4], atol=1e-12)
    only_nearest = landmark_targets_from_points(points, offsets, landmarks, neighbours=1)
    np.testing.assert_allclose(only_nearest[2], offsets[1], atol=1e-15)    # a tie goes to the first point


# ---------------------------------------------------------------------------------------------------------------
# (f) bad input


def test_bad_shapes_name_the_array_and_the_expected_shape(model, shape_code):
    good = np.zeros((68, 3))
    with pytest.raises(ValueError, match=r"target_offsets must have shape \(68, 3\), got \(67, 3\)"):
        solve_flame_expression(model, shape_code, np.zeros((67, 3)))
    with pytest.raises(ValueError, match=r"shape_code must have shape \(1, S≤100\), got \(100,\)"):
        solve_flame_expression(model, shape_code[0], good)
    with pytest.raises(ValueError, match=r"shape_code must have shape \(1, S≤100\), got \(1, 101\)"):
        solve_flame_expression(model, torch.zeros(1, 101), good)
    with pytest.raises(ValueError, match=r"landmark_weights must have shape \(68,\), got \(68, 1\)"):
        solve_flame_expression(model, shape_code, good, landmark_weights=np.ones((68, 1)))
    with pytest.raises(ValueError, match="target_offsets holds NaN"):
        solve_flame_expression(model, shape_code, np.full((68, 3), np.nan))
    with pytest.raises(ValueError, match=r"source_offsets must have shape \(5, 3\), got \(4, 3\)"):
        landmark_targets_from_points(np.zeros((5, 3)), np.zeros((4, 3)), good)
    with pytest.raises(ValueError, match=r"source_points must have shape \(N, 3\), got \(5, 2\)"):
        landmark_targets_from_points(np.zeros((5, 2)), np.zeros((5, 3)), good)
    with pytest.raises(ValueError, match=r"flame_landmarks must have shape \(68, 3\), got \(68, 2\)"):
        landmark_targets_from_points(np.zeros((5, 3)), np.zeros((5, 3)), np.zeros((68, 2)))
    with pytest.raises(ValueError, match=r"targets\['jawOpen'\] must have shape \(68, 3\), got \(3, 68\)"):
        solve_arkit_shapes(model, shape_code, {"jawOpen": np.zeros((3, 68))}, {})


def test_bad_names_and_sides_are_refused(model, shape_code):
    with pytest.raises(ValueError, match="which must be one of left, right, both"):
        eye_look_pose(0.1, 0.0, "image-left")
    with pytest.raises(ValueError, match="'jawDrop' not among the 52 ARKit"):
        solve_arkit_shapes(model, shape_code, {"jawDrop": np.zeros((68, 3))}, {})
    with pytest.raises(ValueError, match="eyeLookUpLeft given both"):
        solve_arkit_shapes(model, shape_code, {"eyeLookUpLeft": np.zeros((68, 3))},
                           {"eyeLookUpLeft": (0.0, 0.2, "left")})
    with pytest.raises(ValueError, match=r"eye_angles\['eyeLookUpLeft'\] must be \(yaw_rad, pitch_rad, which\)"):
        solve_arkit_shapes(model, shape_code, {}, {"eyeLookUpLeft": (0.0, 0.2)})
