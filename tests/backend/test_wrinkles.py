"""Wrinkle shading: where each action unit creases the face, how deep, and that it keeps the photo's colours."""
import numpy as np
import pytest

from backend.editors.wrinkle_geometry import crease_depth
from backend.editors.wrinkles import shade_wrinkles

LUMINANCE = np.array([0.299, 0.587, 0.114])
INNER_BROWS = (107, 336)
CHEEKS = (50, 280)
NASOLABIAL = ((129, 61), (358, 291))  # (nose wing, lip corner) of the image-left and image-right folds


def _luminance(image):
    return image.astype(float) @ LUMINANCE


def _face_width(landmarks):
    return float(np.linalg.norm(landmarks[454, :2] - landmarks[234, :2]))


def _disc(shape, centre, radius):
    rows, columns = np.mgrid[0:shape[0], 0:shape[1]]
    return (columns - centre[0]) ** 2 + (rows - centre[1]) ** 2 <= radius ** 2


@pytest.fixture(scope="module")
def face(subject):
    """(crop, landmarks, face width in pixels, glabella disc, cheek discs)."""
    landmarks = subject.landmarks_px
    width = _face_width(landmarks)
    shape = subject.crop.shape[:2]
    glabella = _disc(shape, landmarks[list(INNER_BROWS), :2].mean(axis=0) + (0, 0.02 * width), 0.05 * width)
    cheeks = _disc(shape, landmarks[CHEEKS[0], :2], 0.06 * width) | _disc(shape, landmarks[CHEEKS[1], :2],
                                                                           0.06 * width)
    return subject.crop, landmarks, width, glabella, cheeks


def test_no_creasing_action_unit_leaves_the_image_as_it_was(face):
    crop, landmarks, *_ = face
    for units in ({}, {"AU4": 0.0, "AU12L": 0.0, "AU1": 0.0}, {"AU25": 1.0, "AU26": 0.8}):
        shaded = shade_wrinkles(crop, landmarks, units)
        np.testing.assert_array_equal(shaded, crop)
        assert shaded is not crop


def test_brow_lowering_darkens_between_the_brows_and_not_the_cheeks(face):
    crop, landmarks, _, glabella, cheeks = face
    shaded = shade_wrinkles(crop, landmarks, {"AU4": 1.0})
    darker = _luminance(crop) - _luminance(shaded)
    assert darker[glabella].mean() > 0.2  # the furrows' shadows outweigh the light their folds catch
    assert (darker[glabella] > 8.0).sum() > 20  # and the furrows themselves are clearly visible
    np.testing.assert_array_equal(shaded[cheeks], crop[cheeks])


def test_creases_deepen_with_intensity(face):
    crop, landmarks, _, glabella, _ = face
    darkening = [(_luminance(crop) - _luminance(shade_wrinkles(crop, landmarks, {"AU4": value})))[glabella].sum()
                 for value in (0.3, 0.7, 1.2)]
    assert 0 < darkening[0] < darkening[1] < darkening[2]
    depths = crease_depth(np.linspace(0.0, 1.5, 61))
    assert depths[0] == 0.0 and (np.diff(depths) > 0).all() and abs(crease_depth(1.0) - 1.0) < 1e-9


def test_a_one_sided_smile_creases_only_its_own_side(face):
    """AU12L: the subject's left = the image's right."""
    crop, landmarks, width, *_ = face
    shaded = shade_wrinkles(crop, landmarks, {"AU12L": 1.0})
    midline = landmarks[[168, 1, 152], 0].mean()
    np.testing.assert_array_equal(shaded[:, :int(midline)], crop[:, :int(midline)])
    wing, corner = NASOLABIAL[1]
    fold = _disc(crop.shape[:2], landmarks[[wing, corner], :2].mean(axis=0) + (0.04 * width, 0), 0.06 * width)
    assert np.abs(_luminance(shaded) - _luminance(crop))[fold].mean() > 0.5


def test_a_grey_photo_stays_grey(face):
    crop, landmarks, *_ = face
    grey = np.repeat(np.rint(_luminance(crop)).astype(np.uint8)[..., None], 3, axis=2)
    units = {"AU1": 1.0, "AU2": 1.0, "AU4": 1.0, "AU6": 1.5, "AU9": 1.0, "AU12": 1.0, "AU17": 1.0}
    shaded = shade_wrinkles(grey, landmarks, units)
    assert (shaded != grey).any()
    np.testing.assert_array_equal(shaded[..., 0], shaded[..., 1])
    np.testing.assert_array_equal(shaded[..., 0], shaded[..., 2])


def test_shading_stays_inside_the_face(subject, face):
    crop, landmarks, *_ = face
    units = {"AU1": 1.5, "AU2": 1.5, "AU4": 1.5, "AU6": 1.5, "AU9": 1.5, "AU12": 1.5, "AU17": 1.5}
    changed = (shade_wrinkles(crop, landmarks, units) != crop).any(axis=2)
    assert changed.sum() > 1000
    assert not (changed & ~subject.face_region).any()


def test_a_cheek_raiser_lights_the_apple_of_the_cheek_and_shades_below_it(face):
    crop, landmarks, width, _, cheeks = face
    raised = _luminance(shade_wrinkles(crop, landmarks, {"AU6": 1.0})) - _luminance(crop)
    below = np.zeros_like(cheeks)
    for apple, outward in ((CHEEKS[0], -1.0), (CHEEKS[1], 1.0)):
        centre = landmarks[apple, :2] + width * np.array([0.035 * outward, 0.07])
        below |= _disc(cheeks.shape, centre, 0.03 * width)
    assert raised[cheeks].mean() > 1.0 and raised[below].mean() < raised[cheeks].mean() - 1.0
    grey = np.repeat(np.rint(_luminance(crop)).astype(np.uint8)[..., None], 3, axis=2)
    shaded = shade_wrinkles(grey, landmarks, {"AU6": 1.0})
    assert (shaded.max(axis=2) == shaded.min(axis=2)).all()  # grey stays grey
