import numpy as np
import pytest

from addon.core.vocabulary import all_action_unit_names
from backend.subject.action_units import build_action_unit_basis
from backend.subject.face_topology import INNER_BROW, face_frame
from backend.prompts.emotion_prototypes import EMOTION_PROTOTYPES, MAX_INTENSITY, emotion_action_units
from backend.subject.calibration import STABLE_MOBILITY

CHIN, UPPER_LIP, LOWER_LIP = 152, 13, 14
LIP_CORNER_RIGHT, LIP_CORNER_LEFT = 61, 291  # the subject's right (image left) and left (image right)


@pytest.fixture(scope="module")
def landmarks_m(subject):
    return subject.crop_to_mesh.to_metres(subject.landmarks_px)


@pytest.fixture(scope="module")
def basis(subject, landmarks_m):
    """Built here from the subject's neutral mesh, so the test exercises build_action_unit_basis itself."""
    return build_action_unit_basis(landmarks_m, subject.topology.landmark_triangles)


def _field(basis, name):
    return basis.fields[basis.names.index(name)]


def test_every_vocabulary_name_has_a_finite_field(basis):
    assert set(all_action_unit_names()) <= set(basis.names)
    assert basis.fields.shape == (len(basis.names), 468, 3)
    assert np.isfinite(basis.fields).all()
    for name in all_action_unit_names():
        assert np.abs(_field(basis, name)).max() > 0, name


def test_unknown_action_unit_is_named(basis):
    with pytest.raises(KeyError, match="AU99"):
        basis.displacement({"AU12": 1.0, "AU99": 0.5})


def test_displacement_is_linear_in_the_intensities(basis):
    mixed = basis.displacement({"AU12": 0.5, "AU26": 0.25})
    np.testing.assert_allclose(mixed, 0.5 * _field(basis, "AU12") + 0.25 * _field(basis, "AU26"))


def test_au12_pulls_the_lip_corners_up_and_out(basis, subject):
    field = _field(basis, "AU12")
    width = subject.frame.width
    left, right = field[LIP_CORNER_LEFT], field[LIP_CORNER_RIGHT]
    assert left[1] > 0.02 * width and right[1] > 0.02 * width  # up
    assert left[0] > 0.02 * width and right[0] < -0.02 * width  # outwards, away from the midline
    assert abs(field[10]).max() < 0.001 * width  # the forehead stays put


def test_au26_drops_the_chin_but_not_the_upper_lip(basis):
    field = _field(basis, "AU26")
    chin_motion = np.linalg.norm(field[CHIN])
    assert field[CHIN, 1] < 0
    assert field[LOWER_LIP, 1] < -0.5 * chin_motion  # the lower lip goes with the jaw
    # The geodesic falloff runs round the open mouth, so the upper lip just above stays put.
    assert np.linalg.norm(field[UPPER_LIP]) < 0.1 * chin_motion


def test_au43_closes_the_eyes(basis, landmarks_m):
    closed = landmarks_m + _field(basis, "AU43")
    for upper, lower in ((159, 145), (386, 374)):
        neutral_gap = np.linalg.norm(landmarks_m[upper] - landmarks_m[lower])
        assert np.linalg.norm(closed[upper] - closed[lower]) < 0.15 * neutral_gap


def test_au4_lowers_and_draws_together_the_inner_brows(basis, subject):
    field = _field(basis, "AU4")
    for landmark in INNER_BROW[0] + INNER_BROW[1]:
        assert field[landmark, 1] < 0, landmark
    width = subject.frame.width
    assert field[107, 0] > 0.01 * width   # the subject's right brow moves towards the image's right
    assert field[336, 0] < -0.01 * width  # and the left brow towards the image's left


def test_one_sided_variants_split_the_field(basis):
    np.testing.assert_allclose(_field(basis, "AU12L") + _field(basis, "AU12R"), _field(basis, "AU12"), atol=1e-12)
    left_only = _field(basis, "AU12L")
    assert np.linalg.norm(left_only[LIP_CORNER_LEFT]) > 20 * np.linalg.norm(left_only[LIP_CORNER_RIGHT])
    right_only = _field(basis, "AU12R")
    assert np.linalg.norm(right_only[LIP_CORNER_RIGHT]) > 20 * np.linalg.norm(right_only[LIP_CORNER_LEFT])


def test_emotion_mixture_averages_the_prototypes():
    mixed = emotion_action_units({"happy": 0.5, "surprised": 0.5})
    happy, surprised = EMOTION_PROTOTYPES["happy"], EMOTION_PROTOTYPES["surprised"]
    assert set(mixed) == set(happy) | set(surprised)
    for unit, value in mixed.items():
        assert value == pytest.approx(0.5 * happy.get(unit, 0.0) + 0.5 * surprised.get(unit, 0.0))
    shared = set(happy) & set(surprised)
    assert shared and all(mixed[unit] == pytest.approx(0.5 * (happy[unit] + surprised[unit])) for unit in shared)


def test_emotion_intensities_are_clipped_to_the_maximum():
    strong = emotion_action_units({"happy": 2.0, "surprised": 1.0})
    assert strong["AU12"] == MAX_INTENSITY  # 2 × 1.0
    assert strong["AU1"] == pytest.approx(EMOTION_PROTOTYPES["surprised"]["AU1"])  # from surprised only
    assert all(0.0 <= value <= MAX_INTENSITY for value in strong.values())
    assert emotion_action_units({"happy": -1.0}) == {}  # nothing is negative
    assert emotion_action_units({"neutral": 1.0}) == {}


def test_mobility_is_zero_on_the_forehead_and_one_at_the_lip_corners(basis):
    mobility = basis.mobility()
    assert mobility.shape == (468,)
    assert mobility.min() >= 0.0 and mobility.max() <= 1.0
    assert mobility[10] < STABLE_MOBILITY
    assert mobility.min() < 1e-3
    assert mobility[LIP_CORNER_LEFT] == 1.0 and mobility[LIP_CORNER_RIGHT] == 1.0


def test_face_frame_is_orthonormal_right_handed_and_anatomical(landmarks_m):
    frame = face_frame(landmarks_m)
    np.testing.assert_allclose(frame.axes @ frame.axes.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(frame.axes) == pytest.approx(1.0)
    x_axis, y_axis, z_axis = frame.axes
    assert (landmarks_m[454] - landmarks_m[234]) @ x_axis > 0  # towards the subject's left
    assert (landmarks_m[10] - landmarks_m[152]) @ y_axis > 0   # up
    assert (landmarks_m[1] - landmarks_m.mean(axis=0)) @ z_axis > 0  # the nose points out of the face
    assert frame.width == pytest.approx(np.linalg.norm(landmarks_m[454] - landmarks_m[234]))
