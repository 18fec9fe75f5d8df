import cv2
import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt

from backend.subject.calibration import polygon_mask
from backend.editors.warp import WarpEditor
from backend.subject.face_topology import polygon_area
from backend.reconstructors.landmarks import LandmarkReconstructor
from backend.texture.texture_steps import change_mask, enhance_texture

LIP_CORNERS = (61, 291)


@pytest.fixture(scope="module")
def editor():
    return WarpEditor()


@pytest.fixture(scope="module")
def reconstructor(landmark_detector):
    return LandmarkReconstructor(landmark_detector)


@pytest.fixture(scope="module")
def smile(editor, subject):
    return editor.edit(subject, {"AU12": 1.0})


@pytest.fixture(scope="module")
def smile_detected(reconstructor, subject, smile):
    """Reconstruction from FaceMesh re-detection on the warped crop (what an editor without landmarks gets)."""
    return reconstructor.reconstruct(subject, reconstructor.reconstruct_neutral(subject), smile.image)


def _face_width_px(subject):
    return subject.frame.width / subject.crop_to_mesh.metres_per_px


# --- warp editor ---------------------------------------------------------------------------------------------

def test_no_action_units_returns_the_crop(editor, subject):
    edit = editor.edit(subject, {})
    assert edit.image.shape == subject.crop.shape and edit.image.dtype == np.uint8
    assert np.abs(edit.image.astype(int) - subject.crop).mean() < 1.0
    np.testing.assert_allclose(edit.landmarks_px, subject.landmarks_px, atol=1e-9)


def test_smile_moves_the_lip_corners_in_the_image(subject, smile):
    for corner in LIP_CORNERS:
        assert smile.landmarks_px[corner, 1] < subject.landmarks_px[corner, 1] - 0.02 * _face_width_px(subject)
    assert np.abs(smile.image.astype(int) - subject.crop)[subject.face_region].mean() > 1.0
    # Far from the mouth (top rows: hair and background) nothing moves.
    np.testing.assert_array_equal(smile.image[:40], subject.crop[:40])


def test_jaw_drop_opens_a_mouth_with_a_dark_inside(editor, subject):
    edit = editor.edit(subject, {"AU26": 1.0})
    mouth = subject.topology.mouth_loop
    opened = polygon_mask(edit.landmarks_px[mouth, :2], subject.crop.shape[0])
    neutral_area = polygon_area(subject.landmarks_px[mouth, :2])
    assert opened.sum() > 1.5 * neutral_area + 100  # the lips really parted (her neutral's meet)
    # Her own teeth hang from the upper lip and ride the jaw; between them the mouth's inside is dark.
    grey = edit.image.astype(float).mean(axis=2)
    rows = [grey[row][opened[row]].mean() for row in range(grey.shape[0]) if opened[row].sum() > 10]
    assert min(rows) < subject.crop[opened].mean() - 60


def test_detected_smile_raises_the_lip_corners(subject, smile_detected):
    vertices, base = smile_detected.vertices, subject.base_mesh.vertices
    width = subject.frame.width
    up = subject.frame.axes[1]
    for corner in LIP_CORNERS:
        assert (vertices[corner] - base[corner]) @ up > 0.005 * width
    assert smile_detected.texture.shape == subject.crop.shape
    assert smile_detected.alignment_error < 0.01


def test_stable_landmarks_stay_put(subject, smile_detected):
    stable = subject.stable_landmarks
    assert len(stable) >= 10
    moved = np.linalg.norm(smile_detected.vertices[stable] - subject.base_mesh.vertices[stable], axis=1)
    assert moved.max() < 0.01 * subject.frame.width


def test_editor_landmarks_give_the_requested_motion(reconstructor, subject, smile):
    neutral = reconstructor.reconstruct_neutral(subject)
    result = reconstructor.reconstruct(subject, neutral, smile.image, known_landmarks=smile.landmarks_px)
    assert result.landmarks_source == "editor"
    field = subject.action_units.displacement({"AU12": 1.0})
    for corner in LIP_CORNERS:  # mobility 1 at the lip corners: the whole motion arrives
        motion = result.vertices[corner] - subject.base_mesh.vertices[corner]
        np.testing.assert_allclose(motion, field[corner], atol=0.002 * subject.frame.width)


def test_texture_puts_edited_pixels_at_the_neutral_uv_positions(reconstructor, subject, smile):
    # Unwarped into the neutral layout, the smile must look much more like the neutral crop than the smile does.
    neutral = reconstructor.reconstruct_neutral(subject)
    result = reconstructor.reconstruct(subject, neutral, smile.image, known_landmarks=smile.landmarks_px)
    face = subject.face_region
    before = np.abs(smile.image.astype(int) - subject.crop)[face].mean()
    after = np.abs(result.texture.astype(int) - subject.crop)[face].mean()
    assert after < 0.5 * before


# --- texture steps -------------------------------------------------------------------------------------------

def _local_contrast(image, region):
    pixels = image.astype(np.float32)
    return np.abs(pixels - cv2.GaussianBlur(pixels, (0, 0), 1.5))[region].mean()


def test_enhance_sharpens_the_face_only(subject):
    enhanced = enhance_texture(subject.crop, subject.face_region)
    assert enhanced.shape == subject.crop.shape and enhanced.dtype == np.uint8
    far = distance_transform_edt(~subject.face_region) > 20
    np.testing.assert_array_equal(enhanced[far], subject.crop[far])
    assert _local_contrast(enhanced, subject.face_region) > 1.15 * _local_contrast(subject.crop, subject.face_region)


def test_enhance_leaves_flat_skin_exactly_alone():
    flat = np.full((128, 128, 3), (180, 140, 120), np.uint8)
    region = np.zeros((128, 128), bool)
    region[30:90, 30:90] = True
    np.testing.assert_array_equal(enhance_texture(flat, region), flat)


def test_change_mask_is_zero_for_identical_textures(subject):
    mask = change_mask(subject.crop, subject.crop.copy(), subject.face_region)
    assert mask.shape == subject.face_region.shape and mask.dtype == np.uint8
    assert mask.max() == 0


def test_change_mask_marks_a_changed_patch_inside_the_face(subject):
    x, y = subject.landmarks_px[1, :2].round().astype(int)  # nose tip
    changed = subject.crop.copy()
    changed[y - 60:y - 40, x - 10:x + 10] = (0, 200, 0)  # a green square on the nose bridge
    mask = change_mask(changed, subject.crop, subject.face_region)
    assert mask[y - 55:y - 45, x - 5:x + 5].min() > 200
    far = np.ones_like(subject.face_region)
    far[y - 80:y - 20, x - 30:x + 30] = False
    assert mask[far].max() == 0
    # Outside the face, differences are ignored.
    changed = subject.crop.copy()
    changed[:60, :60] = (0, 200, 0)
    assert change_mask(changed, subject.crop, subject.face_region).max() == 0
