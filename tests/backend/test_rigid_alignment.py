import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from backend.geometry.rigid_alignment import fit_similarity


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(7)


def test_recovers_a_3d_similarity(rng):
    source = rng.normal(size=(40, 3))
    rotation = Rotation.from_euler("xyz", [20, -35, 70], degrees=True).as_matrix()
    target = 2.5 * source @ rotation.T + np.array([1.0, -2.0, 0.5])
    fit = fit_similarity(source, target)
    assert fit.scale == pytest.approx(2.5)
    np.testing.assert_allclose(fit.rotation, rotation, atol=1e-10)
    np.testing.assert_allclose(fit.translation, [1.0, -2.0, 0.5], atol=1e-10)
    np.testing.assert_allclose(fit.apply(source), target, atol=1e-10)


def test_recovers_a_2d_similarity(rng):
    source = rng.uniform(0, 512, size=(30, 2))
    angle = np.radians(-12.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = 0.8 * source @ rotation.T + np.array([-30.0, 14.0])
    fit = fit_similarity(source, target)
    assert fit.scale == pytest.approx(0.8)
    np.testing.assert_allclose(fit.rotation, rotation, atol=1e-10)
    np.testing.assert_allclose(fit.translation, [-30.0, 14.0], atol=1e-8)


def test_least_squares_under_noise(rng):
    source = rng.normal(size=(200, 3))
    target = 1.5 * source + 3.0 + rng.normal(scale=0.01, size=source.shape)
    fit = fit_similarity(source, target)
    assert fit.scale == pytest.approx(1.5, rel=1e-2)
    np.testing.assert_allclose(fit.rotation, np.eye(3), atol=1e-2)


def test_a_reflection_still_gives_a_proper_rotation(rng):
    source = rng.normal(size=(50, 3))
    mirrored = source * np.array([-1.0, 1.0, 1.0])
    fit = fit_similarity(source, mirrored)
    assert np.linalg.det(fit.rotation) == pytest.approx(1.0)
    np.testing.assert_allclose(fit.rotation @ fit.rotation.T, np.eye(3), atol=1e-10)
    assert fit.scale > 0
    # A reflection cannot be matched by a rotation; the best proper fit leaves a residual.
    assert np.abs(fit.apply(source) - mirrored).max() > 0.1


def test_too_few_points_is_an_error():
    with pytest.raises(ValueError, match="at least"):
        fit_similarity(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="matching"):
        fit_similarity(np.zeros((5, 3)), np.zeros((6, 3)))
