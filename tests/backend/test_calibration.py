import cv2
import numpy as np
import pytest

from addon.core.obj_mesh import check_mesh
from backend.subject.calibration import CROP_SIZE, FACE_WIDTH_M, border_colour, calibrate, crop_square
from backend.subject.face_topology import LANDMARK_COUNT

FOREHEAD_TOP, CHIN, NOSE_TIP, RIGHT_CHEEK, LEFT_CHEEK = 10, 152, 1, 234, 454


def test_crop_and_mesh_shapes(subject, astronaut_png):
    assert subject.crop.shape == (CROP_SIZE, CROP_SIZE, 3) and subject.crop.dtype == np.uint8
    assert subject.landmarks_px.shape == (LANDMARK_COUNT, 3)
    mesh = subject.base_mesh
    check_mesh(mesh)
    assert mesh.vertices.shape == (subject.topology.vertex_count, 3)
    np.testing.assert_array_equal(mesh.faces, subject.topology.triangles)
    assert subject.photo_size == (512, 512) and subject.photo_bytes == astronaut_png
    assert subject.face.faces_found == 1 and subject.notes == []


def test_face_is_the_standard_width(subject):
    vertices = subject.base_mesh.vertices.astype(np.float64)
    assert np.linalg.norm(vertices[LEFT_CHEEK] - vertices[RIGHT_CHEEK]) == pytest.approx(FACE_WIDTH_M, abs=1e-6)


def test_axes_are_y_up_z_towards_the_camera(subject):
    vertices = subject.base_mesh.vertices
    assert vertices[FOREHEAD_TOP, 1] > vertices[CHIN, 1] + 0.1  # a face is about 0.16 m tall
    assert vertices[NOSE_TIP, 2] > vertices[subject.topology.outer_loop, 2].mean() + 0.02
    assert vertices[LEFT_CHEEK, 0] > vertices[RIGHT_CHEEK, 0]  # subject's left on +X (right-handed, facing us)


def test_face_is_centred_on_the_origin(subject):
    centroid = subject.base_mesh.vertices[:LANDMARK_COUNT].mean(axis=0)
    assert np.linalg.norm(centroid) < 0.01


def test_crop_to_mesh_round_trips(subject):
    metres = subject.crop_to_mesh.to_metres(subject.landmarks_px)
    np.testing.assert_allclose(subject.crop_to_mesh.to_pixels(metres), subject.landmarks_px, atol=1e-9)
    np.testing.assert_allclose(subject.base_mesh.vertices[:LANDMARK_COUNT], metres, atol=1e-6)


def test_uvs_are_the_landmarks_crop_positions(subject):
    mesh = subject.base_mesh
    assert mesh.uvs.min() >= 0.0 and mesh.uvs.max() <= 1.0
    expected = np.column_stack([subject.landmarks_px[:, 0] / CROP_SIZE, 1.0 - subject.landmarks_px[:, 1] / CROP_SIZE])
    np.testing.assert_allclose(mesh.uvs[:LANDMARK_COUNT], expected, atol=1e-6)
    landmark_rows = len(subject.topology.landmark_triangles)
    np.testing.assert_array_equal(mesh.face_uvs[:landmark_rows], subject.topology.landmark_triangles)


def test_regions_cover_the_face(subject):
    face, skin = subject.face_region, subject.skin_region
    assert face.shape == skin.shape == (CROP_SIZE, CROP_SIZE)
    assert not (skin & ~face).any()
    nose = subject.landmarks_px[NOSE_TIP, :2].round().astype(int)
    assert face[nose[1], nose[0]] and skin[nose[1], nose[0]]
    upper_lip = subject.landmarks_px[13, :2].round().astype(int)
    assert face[upper_lip[1], upper_lip[0]] and not skin[upper_lip[1], upper_lip[0]]
    assert not face[5, 5]


def test_crop_square_partly_outside_fills_plainly_without_streaks(astronaut):
    crop = crop_square(astronaut, (-100.0, -100.0, 300.0), 512)
    assert crop.shape == (512, 512, 3)
    # Crop pixel u shows photo x = u·300/512 − 100: u < 170 lies left of (or above) the photo.
    outside = np.concatenate([crop[:168].reshape(-1, 3), crop[:, :168].reshape(-1, 3)])
    assert (outside == border_colour(astronaut)).all()  # one plain colour: no edge pixels repeated into streaks
    np.testing.assert_array_equal(crop[256, 256], astronaut[50, 50])  # 256·300/512 − 100 = 50


def test_a_face_near_the_photos_edge_gets_no_streaks_in_the_face_region(astronaut, face_finder, landmark_detector):
    """The astronaut cut so that her face touches the photo's left edge: the crop runs past it."""
    from backend.subject.calibration import calibrate
    cut = np.ascontiguousarray(astronaut[:, 150:])
    subject = calibrate(cut, "cut.png", b"", face_finder, landmark_detector)
    x, _, side = subject.crop_box
    assert x < 0  # the crop does run past the photo's left edge
    outside_columns = int(-x * 512 / side) - 2
    outside = subject.photo_crop[:, :outside_columns]
    assert (outside == outside[0, 0]).all()  # plain
    assert not subject.face_region[:, :outside_columns].any()  # and outside the face


def test_crop_square_shrinks_big_photos_without_aliasing(astronaut):
    big = cv2.resize(astronaut, (3072, 3072), interpolation=cv2.INTER_NEAREST)
    crop = crop_square(big, (0.0, 0.0, 3072.0), 512)
    assert np.abs(crop.astype(int) - astronaut).mean() < 3


@pytest.fixture(scope="module")
def big_subject(astronaut, face_finder, landmark_detector):
    big = cv2.resize(astronaut, (3072, 3072), interpolation=cv2.INTER_CUBIC)  # 9.4 MP
    return calibrate(big, "big.png", b"", face_finder, landmark_detector)


def test_huge_photo_gives_the_same_layout(subject, big_subject):
    assert big_subject.crop.shape == (CROP_SIZE, CROP_SIZE, 3)
    assert big_subject.photo_size == (3072, 3072)
    np.testing.assert_allclose(np.array(big_subject.crop_box) / 6, subject.crop_box, atol=0.02 * subject.crop_box[2])
    difference = np.abs(big_subject.landmarks_px[:, :2] - subject.landmarks_px[:, :2]) / CROP_SIZE
    assert difference.max() < 0.03 and difference.mean() < 0.01


def test_calibration_is_deterministic(subject, astronaut, astronaut_png, face_finder, landmark_detector):
    again = calibrate(astronaut, "astronaut.png", astronaut_png, face_finder, landmark_detector)
    assert again.crop_box == subject.crop_box
    np.testing.assert_array_equal(again.crop, subject.crop)
    np.testing.assert_array_equal(again.landmarks_px, subject.landmarks_px)
    np.testing.assert_array_equal(again.base_mesh.vertices, subject.base_mesh.vertices)
    np.testing.assert_array_equal(again.action_units.fields, subject.action_units.fields)
    np.testing.assert_array_equal(again.stable_landmarks, subject.stable_landmarks)


def test_grey_photo_calibrates(subject, astronaut, face_finder, landmark_detector):
    grey = np.repeat(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    grey_subject = calibrate(grey, "grey.png", b"", face_finder, landmark_detector)
    crop = grey_subject.crop.astype(int)
    assert (crop[..., 0] == crop[..., 1]).all() and (crop[..., 1] == crop[..., 2]).all()
    difference = np.abs(grey_subject.landmarks_px[:, :2] - subject.landmarks_px[:, :2]) / CROP_SIZE
    assert difference.max() < 0.03
