"""The PromptFaceBlend component's weight mapping: blendshape weights 0-100, looked up by name, become the shader's
0-1 weights in slice order. The real C# (run with mono against the stubs) is compared with the numpy mirror, and the
mirror with the reference: a shape key's value v is exported as DeformPercent 100·v."""
import numpy as np
import pytest
from shader_mirror import MAX_EXPRESSIONS, blend, packed_weights, shader_weights

from addon.core.texture_blend import blend_textures


def component_weights(assemblies, mesh_names, percents, expressions) -> np.ndarray:
    stdin = "\n".join([",".join(mesh_names), " ".join(repr(float(p)) for p in percents), ",".join(expressions)])
    return np.array([float(value) for value in assemblies.run("weights", stdin + "\n")], np.float32)


CASES = {
    "same order": (["happy", "sad"], [25.0, 100.0], ["happy", "sad"]),
    "other order": (["happy", "sad", "angry"], [10.0, 55.5, 90.0], ["angry", "happy", "sad"]),
    "missing blendshape": (["happy"], [40.0], ["happy", "surprised"]),
    "mesh-name prefix": (["Face.happy", "sad", "Face.sad"], [20.0, 70.0, 90.0], ["happy", "sad"]),  # exact wins
    "textured rig shapes": (["Face.tongueOut", "happy", "browInnerUp"], [40.0, 10.0, 90.0],
                            ["happy", "browInnerUp", "tongueOut"]),
    "outside 0-100": (["a", "b", "c"], [-5.0, 150.0, 100.0], ["a", "b", "c"]),
    "sixteen": ([f"e{i}" for i in range(16)], list(np.linspace(0, 100, 16)), [f"e{i}" for i in reversed(range(16))]),
    "every slot": ([f"e{i}" for i in range(MAX_EXPRESSIONS)], list(np.linspace(0, 100, MAX_EXPRESSIONS)),
                   [f"e{i}" for i in reversed(range(MAX_EXPRESSIONS))]),
    "twelve expressions and twenty rig shapes": (
        [f"Face.rig_{i}" for i in range(20)] + [f"mood_{i}" for i in range(12)], list(np.linspace(100, 5, 32)),
        [f"mood_{i}" for i in range(12)] + [f"rig_{i}" for i in range(20)]),
    "no expressions": (["happy"], [30.0], []),
}


@pytest.mark.parametrize("mesh_names, percents, expressions", CASES.values(), ids=CASES.keys())
def test_the_component_maps_weights_as_the_mirror_does(assemblies, mesh_names, percents, expressions):
    np.testing.assert_array_equal(component_weights(assemblies, mesh_names, percents, expressions),
                                  shader_weights(mesh_names, percents, expressions))


def test_the_mirror_gives_back_the_shape_key_values():
    values = np.array([0.0, 0.123456, 0.5, 0.7, 1.0])
    names = [f"e{i}" for i in range(len(values))]
    weights = shader_weights(names, list(100.0 * values), names)
    np.testing.assert_allclose(weights[:len(values)], values, atol=1e-7)
    assert not weights[len(values):].any()


def test_blendshape_weights_to_blended_texture_end_to_end(assemblies):
    """Unity's weights (0-100, mesh order) → the component → the shader mirror equals the reference blend at the
    shape-key values w = percent / 100."""
    mesh_names, percents = ["surprised", "happy", "angry"], [35.0, 80.0, 0.0]
    expressions = ["happy", "angry", "surprised"]
    rng = np.random.default_rng(3)
    base, textures = rng.random((6, 6, 3)), rng.random((3, 6, 6, 3))
    masks = rng.choice([0.0, 0.6, 1.0], size=(3, 6, 6))
    weights = component_weights(assemblies, mesh_names, percents, expressions)
    actual = blend(base, textures, masks, len(expressions), *packed_weights(weights), 0.35, 0.65)
    expected = blend_textures(base, textures, masks, [0.8, 0.0, 0.35])
    np.testing.assert_allclose(actual, expected, atol=2e-6)
