"""The Unity shader's blend maths, mirrored line by line in numpy (shader_mirror.py), against the reference maths
addon/core/texture_blend.py that the Blender node group also matches."""
import re
from pathlib import Path

import numpy as np
import pytest
import shader_mirror
from shader_mirror import MAX_EXPRESSIONS, blend, expression_weight, packed_weights

from addon.core.texture_blend import blend_textures, effective_weight

ROOT = Path(__file__).resolve().parents[2]
INCLUDE = ROOT / "unity_export" / "Shaders" / "PromptFaceBlend.hlsl"
COMPONENT_SOURCES = [ROOT / "unity_export" / "Runtime" / name for name in ("PromptFaceBlend.cs", "BlendShapes.cs")]
INCLUDE_GUARD = re.compile(r"^#(ifndef|endif)\b|^#define PROMPTFACE_BLEND_INCLUDED$")


def normalised(line: str) -> str:
    return " ".join(line.split())


def code_lines(source: str, comment: str) -> list[str]:
    """The source's lines without comments, blank lines, lone braces and the include guard, whitespace folded."""
    lines = [normalised(line.split(comment)[0]) for line in source.splitlines()]
    return [line for line in lines if line and line not in "{}" and not INCLUDE_GUARD.match(line)]


def mirror_comments(tag: str) -> list[str]:
    source = Path(shader_mirror.__file__).read_text()
    return [normalised(match) for match in re.findall(rf"# {tag}: (.*)", source)]


def test_the_mirror_has_every_code_line_of_the_include_in_order():
    assert mirror_comments("hlsl") == code_lines(INCLUDE.read_text(), "//")


def test_the_component_lines_the_mirror_follows_are_in_the_component():
    component = {normalised(line) for source in COMPONENT_SOURCES for line in source.read_text().splitlines()}
    for line in mirror_comments("cs"):
        assert line in component, line


def textures_and_masks(count: int, seed: int, size: int = 8):
    """Random base and expression colours; masks mixing 0, 1 and values between (as the pipeline's feathered masks)."""
    rng = np.random.default_rng(seed)
    base = rng.random((size, size, 3))
    textures = rng.random((count, size, size, 3))
    masks = rng.choice([0.0, 1.0, 0.25, 0.5, 0.9], size=(count, size, size))
    return base, textures, masks


CASES = {
    "no expressions": (0, [], (0.35, 0.65)),
    "one, halfway": (1, [0.5], (0.35, 0.65)),
    "three, mixed, one at rest": (3, [0.7, 0.0, 0.3], (0.35, 0.65)),
    "sixteen, graded": (16, list(np.linspace(0.0, 1.0, 16)), (0.35, 0.65)),
    "twenty, a rig's shapes past the fourth vector": (20, list(np.linspace(0.05, 0.9, 20)), (0.35, 0.65)),
    "all slots at full": (MAX_EXPRESSIONS, [1.0] * MAX_EXPRESSIONS, (0.35, 0.65)),
    "all slots, graded, overshooting the clamp": (MAX_EXPRESSIONS, list(np.linspace(0.0, 1.0, MAX_EXPRESSIONS)),
                                                  (0.35, 0.65)),
    "custom edges": (4, [0.1, 0.4, 0.6, 0.95], (0.2, 0.9)),
    "edges at the ends": (2, [0.0001, 0.9999], (0.0, 1.0)),
}


@pytest.mark.parametrize("count, weights, edges", CASES.values(), ids=CASES.keys())
def test_the_shader_mirror_equals_the_reference(count, weights, edges):
    base, textures, masks = textures_and_masks(count, seed=count)
    weights = np.array(weights, dtype=np.float64)
    vectors = packed_weights(np.pad(weights, (0, MAX_EXPRESSIONS - count)).astype(np.float32))
    expected = blend_textures(base, textures, masks, weights, *edges)
    actual = blend(base, textures, masks, count, *vectors, *edges)
    np.testing.assert_allclose(actual, expected, atol=2e-6)


def test_the_cases_exercise_the_smoothstep_where_masks_are_set():
    """With mask 1 and weight 0.4 the reference is far from a plain cross-fade, so a shader that lost the smoothstep
    (or the mask) would fail the comparison above."""
    assert abs(effective_weight(1.0, 0.4) - 0.4) > 0.2
    base, textures, masks = textures_and_masks(1, seed=1)
    crossfade = blend_textures(base, textures, np.zeros_like(masks), [0.4])
    assert np.abs(blend_textures(base, textures, masks, [0.4]) - crossfade).max() > 0.05


def test_expressions_beyond_the_count_are_not_read():
    base, textures, masks = textures_and_masks(4, seed=4)
    vectors = packed_weights(np.full(MAX_EXPRESSIONS, 0.8, np.float32))  # stale weights past the count must not matter
    np.testing.assert_allclose(blend(base, textures, masks, 2, *vectors, 0.35, 0.65),
                               blend_textures(base, textures[:2], masks[:2], [0.8, 0.8]), atol=2e-6)


def test_each_slot_reads_its_own_weight():
    """The shader picks weight k out of the eight vectors by selects: every slot, in every vector and lane."""
    weights = np.arange(1, MAX_EXPRESSIONS + 1, dtype=np.float32) / MAX_EXPRESSIONS
    vectors = packed_weights(weights)
    assert len(vectors) == 8
    assert [expression_weight(*vectors, k) for k in range(MAX_EXPRESSIONS)] == list(weights)


def test_slots_at_rest_are_not_sampled():
    """Only slots with a weight above 0 are read: a slot whose slices are NaN changes nothing while at rest."""
    base, textures, masks = textures_and_masks(MAX_EXPRESSIONS, seed=7)
    weights = np.zeros(MAX_EXPRESSIONS, np.float32)
    weights[[3, 17, 30]] = [0.6, 0.25, 0.9]
    resting = weights == 0
    textures[resting], masks[resting] = np.nan, np.nan
    actual = blend(base, textures, masks, MAX_EXPRESSIONS, *packed_weights(weights), 0.35, 0.65)
    expected = blend_textures(base, textures[~resting], masks[~resting], weights[~resting])
    np.testing.assert_allclose(actual, expected, atol=2e-6)
