"""unity_export/Shaders/PromptFaceBlend.hlsl and the PromptFaceBlend component's weight mapping, in numpy.

Every code line of the HLSL include appears below, in order, in a `# hlsl:` comment above the numpy that mirrors it;
test_shader_mirror.py checks that those comments are exactly the include's code lines, so a change to the shader
fails the tests until the mirror follows it. Arithmetic is float32, as on the GPU.

Sampling: the mirror evaluates one pixel per texel, at texel centres, where a bilinear sample returns the texel itself,
so PROMPTFACE_SAMPLE_*(k, uv, dx, dy) is slice k of the array and the UV gradients play no part.
"""
import numpy as np

F32 = np.float32


def saturate(x):
    return np.clip(x, F32(0.0), F32(1.0))


# hlsl: #define PROMPTFACE_MAX_EXPRESSIONS 32
MAX_EXPRESSIONS = 32
WEIGHT_VECTORS = MAX_EXPRESSIONS // 4


def smoothstep(edge_low, edge_high, x):
    # hlsl: float PromptFaceSmoothstep(float edgeLow, float edgeHigh, float x)
    # hlsl: float t = saturate((x - edgeLow) / (edgeHigh - edgeLow));
    t = saturate((x - edge_low) / (edge_high - edge_low))
    # hlsl: return t * t * (3.0 - 2.0 * t);
    return t * t * (F32(3.0) - F32(2.0) * t)


def effective_weight(mask, weight, edge_low, edge_high):
    # hlsl: float PromptFaceEffectiveWeight(float mask, float weight, float edgeLow, float edgeHigh)
    # hlsl: return (1.0 - mask) * weight + mask * PromptFaceSmoothstep(edgeLow, edgeHigh, weight);
    return (F32(1.0) - mask) * weight + mask * smoothstep(edge_low, edge_high, weight)


def expression_weight(weights0, weights1, weights2, weights3, weights4, weights5, weights6, weights7, k):
    # hlsl: float PromptFaceWeight(float4 weights0, float4 weights1, float4 weights2, float4 weights3, float4 weights4,
    # hlsl: float4 weights5, float4 weights6, float4 weights7, int k)
    # hlsl: float4 low = k < 8 ? (k < 4 ? weights0 : weights1) : (k < 12 ? weights2 : weights3);
    low = (weights0 if k < 4 else weights1) if k < 8 else (weights2 if k < 12 else weights3)
    # hlsl: float4 high = k < 24 ? (k < 20 ? weights4 : weights5) : (k < 28 ? weights6 : weights7);
    high = (weights4 if k < 20 else weights5) if k < 24 else (weights6 if k < 28 else weights7)
    # hlsl: float4 group = k < 16 ? low : high;
    group = low if k < 16 else high
    # hlsl: return group[k & 3];
    return group[k & 3]


def blend(base, expression_slices, mask_slices, count, weights0, weights1, weights2, weights3, weights4, weights5,
          weights6, weights7, edge_low, edge_high):
    """base (H,W,3), expression_slices (K,H,W,3), mask_slices (K,H,W): the arrays' texels as the shader reads them
    (colour sRGB-decoded, masks as stored); weights0..7: the eight float4 vectors. Returns (H,W,3) float32."""
    base = base.astype(F32)
    edge_low, edge_high = F32(edge_low), F32(edge_high)
    # hlsl: float3 PromptFaceBlend(float3 base, float2 uv, int count, float4 weights0, float4 weights1, float4 weights2,
    # hlsl: float4 weights3, float4 weights4, float4 weights5, float4 weights6, float4 weights7,
    # hlsl: float edgeLow, float edgeHigh)
    # hlsl: float2 dx = ddx(uv);
    # hlsl: float2 dy = ddy(uv);
    # hlsl: float3 blended = base;
    blended = base.copy()
    # hlsl: int used = min(count, PROMPTFACE_MAX_EXPRESSIONS);
    used = min(count, MAX_EXPRESSIONS)
    # hlsl: [loop] for (int k = 0; k < used; k++)
    for k in range(used):
        # hlsl: float weight = PromptFaceWeight(weights0, weights1, weights2, weights3, weights4, weights5, weights6,
        # hlsl: weights7, k);
        weight = F32(expression_weight(weights0, weights1, weights2, weights3, weights4, weights5, weights6, weights7,
                                       k))
        # hlsl: if (weight <= 0.0) continue;
        if weight <= 0.0:
            continue
        # hlsl: float mask = PROMPTFACE_SAMPLE_MASK(k, uv, dx, dy);
        mask = mask_slices[k].astype(F32)
        # hlsl: float3 expression = PROMPTFACE_SAMPLE_EXPRESSION(k, uv, dx, dy);
        expression = expression_slices[k].astype(F32)
        # hlsl: blended += PromptFaceEffectiveWeight(mask, weight, edgeLow, edgeHigh) * (expression - base);
        blended += effective_weight(mask, weight, edge_low, edge_high)[..., None] * (expression - base)
    # hlsl: return saturate(blended);
    return saturate(blended)


# The component (unity_export/Runtime/PromptFaceBlend.cs, with BlendShapes.cs), mirrored the same way with `# cs:`
# comments; the real C# is run against this mirror by test_weight_mapping.py.

def shader_weight(blend_shape_weight):
    # cs: return BlendShapes.ToUnit(blendShapeWeight);
    # cs: return Mathf.Clamp01(percent / 100f);
    return float(np.clip(F32(blend_shape_weight) / F32(100.0), 0.0, 1.0))


def unprefixed(name: str) -> str:
    # cs: string trimmed = name.Trim();
    trimmed = name.strip()
    # cs: return trimmed.Substring(trimmed.LastIndexOf('.') + 1);
    return trimmed[trimmed.rfind(".") + 1:]


def blend_shape_index(mesh_names: list[str], name: str) -> int:
    # cs: int exact = mesh.GetBlendShapeIndex(name);
    if name in mesh_names:
        return mesh_names.index(name)
    # cs: if (Unprefixed(mesh.GetBlendShapeName(i)) == name)
    return next((i for i, mesh_name in enumerate(mesh_names) if unprefixed(mesh_name) == name), -1)


def blend_shape_indices(mesh_names: list[str], names: list[str]) -> list[int]:
    # cs: indices[k] = BlendShapes.IndexOf(mesh, names[k]);
    return [blend_shape_index(mesh_names, name) for name in names]


def shader_weights(mesh_names: list[str], mesh_percents: list[float], names: list[str]) -> np.ndarray:
    """The MAX_EXPRESSIONS shader weights the component sets for a mesh whose blendshapes `mesh_names` hold
    `mesh_percents` (0-100), with the material's expressions `names` in slice order."""
    indices = blend_shape_indices(mesh_names, names)
    weights = np.zeros(MAX_EXPRESSIONS, F32)
    for k in range(MAX_EXPRESSIONS):
        # cs: bool present = k < indices.Length && indices[k] >= 0;
        present = k < len(indices) and indices[k] >= 0
        # cs: weights[k] = present ? ShaderWeight(renderer.GetBlendShapeWeight(indices[k])) : 0f;
        weights[k] = shader_weight(mesh_percents[indices[k]]) if present else 0.0
    return weights


def packed_weights(weights: np.ndarray) -> list[np.ndarray]:
    # cs: packed[i] = new Vector4(weights[4 * i], weights[4 * i + 1], weights[4 * i + 2], weights[4 * i + 3]);
    return [weights[4 * i:4 * i + 4] for i in range(WEIGHT_VECTORS)]
