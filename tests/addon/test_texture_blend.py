import math

import numpy as np
import pytest

from addon.core.texture_blend import (DEFAULT_EDGE_HIGH, DEFAULT_EDGE_LOW, blend_textures, effective_weight,
                                      smoothstep)


def test_defaults_match_the_design():
    assert (DEFAULT_EDGE_LOW, DEFAULT_EDGE_HIGH) == (0.35, 0.65)


def test_smoothstep_known_values():
    x = np.array([-1.0, 0.2, 0.25, 0.4, 0.6, 0.8, 2.0])  # edges 0.2 and 0.6: t = 0, 0, 0.125, 0.5, 1, 1, 1
    values = smoothstep(0.2, 0.6, x)
    assert values[0] == 0.0 and values[1] == 0.0
    assert values[2] == pytest.approx(3 * (0.125 ** 2) - 2 * (0.125 ** 3))
    assert values[3] == pytest.approx(0.5)
    assert values[4] == 1.0 and values[5] == 1.0 and values[6] == 1.0


def test_smoothstep_is_monotonic_with_flat_ends():
    x = np.linspace(0, 1, 101)
    values = smoothstep(0.35, 0.65, x)
    assert np.all(np.diff(values) >= 0)
    # Zero slope at both edges: the first step inside the edges is tiny compared with a linear ramp.
    assert smoothstep(0.35, 0.65, 0.36) < 0.36 - 0.35


@pytest.mark.parametrize("low, high", [(0.5, 0.5), (0.7, 0.3)])
def test_smoothstep_refuses_edges_out_of_order(low, high):
    with pytest.raises(ValueError, match="edge_low < edge_high"):
        smoothstep(low, high, 0.5)


def test_mask_zero_is_a_linear_cross_fade():
    weights = np.linspace(0, 1, 21)
    assert np.allclose(effective_weight(0.0, weights), weights)


def test_mask_one_switches_late_and_fast():
    assert effective_weight(1.0, 0.35) == pytest.approx(0.0)
    assert effective_weight(1.0, 0.2) == pytest.approx(0.0)
    assert effective_weight(1.0, 0.5) == pytest.approx(0.5)
    assert effective_weight(1.0, 0.65) == pytest.approx(1.0)
    assert effective_weight(1.0, 0.9) == pytest.approx(1.0)


def test_partial_mask_mixes_linear_and_smoothstep():
    t = (0.4 - 0.35) / 0.3
    expected = 0.5 * 0.4 + 0.5 * (3 * t * t - 2 * t ** 3)
    assert effective_weight(np.full((2, 2), 0.5), 0.4) == pytest.approx(np.full((2, 2), expected))


def test_effective_weight_honours_custom_edges():
    assert effective_weight(1.0, 0.15, edge_low=0.1, edge_high=0.2) == pytest.approx(0.5)


def _uniform(value, height=2, width=3, channels=3):
    return np.full((height, width, channels), value, dtype=np.float32)


def test_blend_with_mask_zero_cross_fades():
    base, texture = _uniform(0.2), _uniform(0.6)
    result = blend_textures(base, texture[None], np.zeros((1, 2, 3)), [0.25])
    assert result.dtype == np.float32 and result.shape == (2, 3, 3)
    assert np.allclose(result, 0.3)


def test_blend_with_mask_one_holds_base_then_switches():
    base, texture, mask = _uniform(0.2), _uniform(0.6), np.ones((1, 2, 3))
    assert np.allclose(blend_textures(base, texture[None], mask, [0.35]), 0.2)
    assert np.allclose(blend_textures(base, texture[None], mask, [0.65]), 0.6)


def test_blend_applies_the_mask_per_pixel():
    base, texture = _uniform(0.2), _uniform(0.6)
    mask = np.zeros((1, 2, 3))
    mask[0, :, 2] = 1.0
    result = blend_textures(base, texture[None], mask, [0.4])
    assert np.allclose(result[:, :2], 0.2 + 0.4 * 0.4)
    t = 0.05 / 0.3
    assert np.allclose(result[:, 2], 0.2 + 0.4 * (3 * t * t - 2 * t ** 3), atol=1e-6)


def test_blend_adds_deltas_of_several_expressions():
    base = _uniform(0.5)
    textures = np.stack([_uniform(0.7), _uniform(0.4)])
    result = blend_textures(base, textures, np.zeros((2, 2, 3)), [0.5, 1.0])
    assert np.allclose(result, 0.5 + 0.5 * 0.2 + 1.0 * -0.1)


def test_blend_clamps_to_unit_range():
    high = blend_textures(_uniform(0.8), np.stack([_uniform(1.0)] * 2), np.zeros((2, 2, 3)), [1.0, 1.0])
    low = blend_textures(_uniform(0.1), np.stack([_uniform(0.0)] * 2), np.zeros((2, 2, 3)), [1.0, 1.0])
    assert np.allclose(high, 1.0)
    assert np.allclose(low, 0.0)


def test_blend_matches_the_formula_pixel_by_pixel():
    rng = np.random.default_rng(7)
    base = rng.random((3, 4, 3))
    textures = rng.random((2, 3, 4, 3))
    masks = rng.random((2, 3, 4))
    weights = np.array([0.45, 0.8])
    result = blend_textures(base, textures, masks, weights)

    def smooth(w):
        t = min(max((w - 0.35) / 0.3, 0.0), 1.0)
        return t * t * (3 - 2 * t)

    for y, x, c in np.ndindex(base.shape):
        colour = base[y, x, c]
        for k in range(2):
            e = (1 - masks[k, y, x]) * weights[k] + masks[k, y, x] * smooth(weights[k])
            colour += e * (textures[k, y, x, c] - base[y, x, c])
        assert math.isclose(result[y, x, c], min(max(colour, 0.0), 1.0), abs_tol=1e-6)


def test_no_expressions_returns_the_base():
    base = np.random.default_rng(1).random((2, 3, 4)).astype(np.float32)
    assert np.array_equal(blend_textures(base, np.zeros((0, 2, 3, 4)), np.zeros((0, 2, 3)), np.zeros(0)), base)
    assert np.array_equal(blend_textures(base, [], [], []), base)


@pytest.mark.parametrize("change, name", [
    (lambda a: {**a, "base": a["base"][0]}, "base"),
    (lambda a: {**a, "base": (a["base"] * 255).astype(np.uint8)}, "base"),
    (lambda a: {**a, "textures": a["textures"][:, :1]}, "textures"),
    (lambda a: {**a, "textures": a["textures"][0]}, "textures"),
    (lambda a: {**a, "masks": a["masks"][..., :2]}, "masks"),
    (lambda a: {**a, "masks": a["masks"][..., None]}, "masks"),
    (lambda a: {**a, "weights": np.array([[0.5]])}, "weights"),
    (lambda a: {**a, "weights": np.array([0.5, 0.5])}, "textures"),
    (lambda a: {**a, "weights": np.array([1.5])}, "weights"),
])
def test_blend_refuses_mismatched_inputs(change, name):
    arguments = {"base": _uniform(0.5), "textures": _uniform(0.6)[None], "masks": np.zeros((1, 2, 3)),
                 "weights": np.array([0.5])}
    blend_textures(**arguments)  # the unchanged arguments are fine
    with pytest.raises(ValueError, match=name):
        blend_textures(**change(arguments))
