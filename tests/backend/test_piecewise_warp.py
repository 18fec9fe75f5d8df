import cv2
import numpy as np
import pytest

from backend.geometry.piecewise_warp import border_anchors, warp_piecewise_affine

SIZE = 512


@pytest.fixture(scope="module")
def points():
    """60 scattered interior points plus the border anchors: a mesh covering the whole image."""
    scattered = np.random.default_rng(1).uniform(50, SIZE - 50, (60, 2))
    return np.concatenate([scattered, border_anchors(SIZE, SIZE)])


def test_identity_warp_returns_the_image_exactly(astronaut, points):
    warped = warp_piecewise_affine(astronaut, points, points, (SIZE, SIZE))
    assert warped.shape == astronaut.shape and warped.dtype == np.uint8
    np.testing.assert_array_equal(warped, astronaut)


def test_translating_the_points_shifts_the_content(astronaut, points):
    warped = warp_piecewise_affine(astronaut, points, points + np.array([5.0, 3.0]), (SIZE, SIZE))
    # Output pixel (x+5, y+3) shows input pixel (x, y).
    np.testing.assert_array_equal(warped[103:503, 105:505], astronaut[100:500, 100:500])
    assert np.abs(warped[100:500, 100:500].astype(int) - astronaut[100:500, 100:500]).mean() > 5


def test_affine_target_matches_cv2_warp_affine(astronaut, points):
    matrix = np.array([[0.9, -0.15, 40.0], [0.12, 0.95, -10.0]])
    target = np.column_stack([points, np.ones(len(points))]) @ matrix.T
    warped = warp_piecewise_affine(astronaut, points, target, (SIZE, SIZE))
    expected = cv2.warpAffine(astronaut, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    difference = np.abs(warped.astype(int) - expected)[100:400, 100:400]
    assert difference.mean() < 0.05
    assert np.percentile(difference, 99.9) <= 2  # only fixed-point rounding differs


def test_grey_images_warp_too(astronaut, points):
    grey = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    warped = warp_piecewise_affine(grey, points, points + np.array([5.0, 3.0]), (SIZE, SIZE))
    assert warped.shape == grey.shape
    np.testing.assert_array_equal(warped[103:503, 105:505], grey[100:500, 100:500])


def test_output_size_is_width_by_height(astronaut, points):
    scaled = points * np.array([0.5, 0.25])
    warped = warp_piecewise_affine(astronaut, points, scaled, (256, 128))
    assert warped.shape == (128, 256, 3)
    expected = cv2.warpAffine(astronaut, np.array([[0.5, 0.0, 0.0], [0.0, 0.25, 0.0]]), (256, 128),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(warped.astype(int) - expected)[20:108, 20:236].mean() < 0.05


def test_border_anchors_walk_round_the_border():
    anchors = border_anchors(100, 50, per_side=3)
    assert anchors.shape == (12, 2)
    corners = {(0.0, 0.0), (99.0, 0.0), (99.0, 49.0), (0.0, 49.0)}
    assert corners <= {tuple(point) for point in anchors.tolist()}
    on_border = (np.isclose(anchors[:, 0], 0) | np.isclose(anchors[:, 0], 99) |
                 np.isclose(anchors[:, 1], 0) | np.isclose(anchors[:, 1], 49))
    assert on_border.all()
    assert len({tuple(point) for point in anchors.tolist()}) == 12  # no duplicates
    assert border_anchors(512, 512).shape == (16, 2)
