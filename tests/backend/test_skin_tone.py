import cv2
import numpy as np
import pytest
from skimage import data

from backend.texture.skin_tone import (SkinLabStats, difference_heat_map, match_skin_tone, rgb_to_lab, skin_lab_stats,
                               skin_mask)


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


@pytest.fixture(scope="module")
def face_region(astronaut):
    """(H,W) bool ellipse over the astronaut's face (forehead to chin, cheek to cheek)."""
    region = np.zeros(astronaut.shape[:2], np.uint8)
    cv2.ellipse(region, (224, 120), (42, 54), 0, 0, 360, 1, -1)
    return region.astype(bool)


@pytest.fixture(scope="module")
def drifted(astronaut, face_region):
    """The astronaut with a red/yellow cast and brighter skin inside the face region, as an editor might leave it."""
    pixels = astronaut.astype(np.float32)
    pixels[face_region] = pixels[face_region] * [1.08, 1.0, 0.85] + [18, 10, 0]
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _mean_lab(rgb, mask):
    return rgb_to_lab(rgb)[mask].mean(axis=0)


def test_skin_mask_keeps_skin_and_drops_teeth_and_eyes(astronaut, face_region):
    mask = skin_mask(astronaut, face_region)
    assert mask.dtype == bool and mask.shape == face_region.shape
    assert not (mask & ~face_region).any()
    assert 0.7 * face_region.sum() < mask.sum() < face_region.sum()
    teeth, cheek = mask[143:149, 212:228], mask[120:130, 188:198]
    assert teeth.mean() < 0.5 and cheek.mean() > 0.9


def test_skin_lab_stats_are_skin_coloured(astronaut, face_region):
    stats = skin_lab_stats(astronaut, face_region)
    assert isinstance(stats, SkinLabStats)
    lightness, a, b = stats.centre
    assert 50 < lightness < 90 and 3 < a < 25 and 8 < b < 30
    assert (stats.scale > 0).all()


def test_skin_mask_with_reference_stats_of_other_colour_is_empty(astronaut, face_region):
    blue = SkinLabStats(centre=np.array([50, 0, -40], np.float32), scale=np.array([5, 2, 2], np.float32))
    assert not skin_mask(astronaut, face_region, blue).any()


def test_match_restores_colour_and_moves_lightness_partially(astronaut, face_region, drifted):
    skin = skin_mask(astronaut, face_region)
    target = _mean_lab(astronaut, skin)
    before = _mean_lab(drifted, skin) - target
    result = match_skin_tone(astronaut, drifted, face_region, face_region, lightness_strength=0.5)
    after = _mean_lab(result.image, skin) - target
    assert result.warning is None
    assert np.linalg.norm(after[1:]) < 0.4 * np.linalg.norm(before[1:])
    assert 0.2 * abs(before[0]) < abs(after[0]) < 0.9 * abs(before[0])
    full = match_skin_tone(astronaut, drifted, face_region, face_region, lightness_strength=1.0)
    none = match_skin_tone(astronaut, drifted, face_region, face_region, lightness_strength=0.0)
    lightness_error = [abs(_mean_lab(r.image, skin)[0] - target[0]) for r in (full, result, none)]
    assert lightness_error[0] < lightness_error[1] < lightness_error[2]


def test_match_leaves_far_background_unchanged(astronaut, face_region, drifted):
    result = match_skin_tone(astronaut, drifted, face_region, face_region, feather_px=6)
    far = cv2.dilate(face_region.astype(np.uint8), np.ones((61, 61), np.uint8)) == 0
    np.testing.assert_array_equal(result.image[far], drifted[far])
    assert (result.difference[far] == 0).all()
    assert (result.blend_mask[far] == 0).all()
    assert result.difference[face_region].mean() > 5


def test_outputs_have_documented_shapes_and_ranges(astronaut, face_region, drifted):
    result = match_skin_tone(astronaut, drifted, face_region, face_region, strength=0.5)
    assert result.image.shape == drifted.shape and result.image.dtype == np.uint8
    assert result.blend_mask.shape == face_region.shape and result.blend_mask.dtype == np.float32
    assert 0.0 <= result.blend_mask.min() and result.blend_mask.max() <= 0.5 + 1e-6
    assert result.difference.shape == face_region.shape and result.difference.dtype == np.float32
    assert result.difference.min() >= 0


def test_half_strength_corrects_about_half(astronaut, face_region, drifted):
    skin = skin_mask(astronaut, face_region)
    target = _mean_lab(astronaut, skin)
    before = np.linalg.norm((_mean_lab(drifted, skin) - target)[1:])
    half = match_skin_tone(astronaut, drifted, face_region, face_region, strength=0.5)
    after = np.linalg.norm((_mean_lab(half.image, skin) - target)[1:])
    assert 0.3 * before < after < 0.7 * before


def test_strength_zero_returns_input_exactly(astronaut, face_region, drifted):
    result = match_skin_tone(astronaut, drifted, face_region, face_region, strength=0.0)
    np.testing.assert_array_equal(result.image, drifted)
    assert not result.blend_mask.any() and not result.difference.any()


def test_unchanged_photo_stays_nearly_unchanged(astronaut, face_region):
    result = match_skin_tone(astronaut, astronaut, face_region, face_region)
    assert result.difference.max() < 3.0


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan")])
def test_bad_strength_is_refused(astronaut, face_region, strength):
    with pytest.raises(ValueError, match="strength"):
        match_skin_tone(astronaut, astronaut, face_region, face_region, strength=strength)


def test_mismatched_region_is_refused(astronaut, face_region):
    with pytest.raises(ValueError, match="edited_face_region"):
        match_skin_tone(astronaut, astronaut, face_region, face_region[:100])


def test_no_skin_returns_input_with_warning(astronaut):
    tiny = np.zeros(astronaut.shape[:2], bool)
    tiny[120:125, 220:225] = True
    result = match_skin_tone(astronaut, astronaut, tiny, tiny)
    assert result.warning is not None and "no skin found" in result.warning
    np.testing.assert_array_equal(result.image, astronaut)
    assert not result.blend_mask.any() and not result.difference.any()


def test_heat_map_is_dark_where_nothing_changed():
    difference = np.zeros((40, 60), np.float32)
    difference[10:20, 10:20] = 30.0
    heat = difference_heat_map(difference, max_delta_e=20.0)
    assert heat.shape == (40, 60, 3) and heat.dtype == np.uint8
    assert heat[0, 0].sum() < 30  # INFERNO starts black
    assert heat[15, 15].sum() > 400  # and ends pale yellow


def test_neutral_and_edited_may_differ_in_size(astronaut, face_region, drifted):
    small = cv2.resize(drifted, (256, 256), interpolation=cv2.INTER_AREA)
    small_region = cv2.resize(face_region.astype(np.uint8), (256, 256), interpolation=cv2.INTER_NEAREST) > 0
    result = match_skin_tone(astronaut, small, face_region, small_region)
    assert result.warning is None and result.image.shape == small.shape
    target = _mean_lab(astronaut, skin_mask(astronaut, face_region))
    small_skin = skin_mask(result.image, small_region)
    assert np.linalg.norm((_mean_lab(result.image, small_skin) - target)[1:]) < 5
