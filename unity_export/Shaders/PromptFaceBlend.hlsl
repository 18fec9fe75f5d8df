// The texture blend of DESIGN.md "Texture blending", shared by the Built-in and URP shaders. addon/core/texture_blend.py
// is the definition; tests/unity/shader_mirror.py mirrors every code line below in numpy and checks it against it.
//
//   e_k = (1 - M_k) * w_k + M_k * smoothstep(a, b, w_k)
//   T   = clamp(T0 + sum_k e_k * (T_k - T0), 0, 1)
//
// Before including, a shader declares its textures and defines
//   PROMPTFACE_SAMPLE_EXPRESSION(k, uv, dx, dy)  float3: slice k of the expression texture array (sRGB-decoded)
//   PROMPTFACE_SAMPLE_MASK(k, uv, dx, dy)        float: slice k of the change mask array (linear)
// Sampling takes explicit UV gradients, taken once before the loop, so the loop may skip expressions at rest.
#ifndef PROMPTFACE_BLEND_INCLUDED
#define PROMPTFACE_BLEND_INCLUDED

// Texture slots (the expressions, then an ARKit rig's textured shapes), their weights packed four to a float4 in
// _ExpressionWeights0..7. The one definition of the number on the shader side; the PromptFaceBlend component's
// MaxExpressions and addon/core/unity_sidecar.py's MAX_UNITY_EXPRESSIONS equal it (tests/unity check that).
#define PROMPTFACE_MAX_EXPRESSIONS 32

float PromptFaceSmoothstep(float edgeLow, float edgeHigh, float x)
{
    float t = saturate((x - edgeLow) / (edgeHigh - edgeLow));
    return t * t * (3.0 - 2.0 * t);
}

float PromptFaceEffectiveWeight(float mask, float weight, float edgeLow, float edgeHigh)
{
    return (1.0 - mask) * weight + mask * PromptFaceSmoothstep(edgeLow, edgeHigh, weight);
}

// Weight k of the slots, packed four to a vector (_ExpressionWeights0..7, set by the PromptFaceBlend component).
// Selects rather than an array: a dynamically indexed local array may be spilled to scratch memory.
float PromptFaceWeight(float4 weights0, float4 weights1, float4 weights2, float4 weights3, float4 weights4,
                       float4 weights5, float4 weights6, float4 weights7, int k)
{
    float4 low = k < 8 ? (k < 4 ? weights0 : weights1) : (k < 12 ? weights2 : weights3);
    float4 high = k < 24 ? (k < 20 ? weights4 : weights5) : (k < 28 ? weights6 : weights7);
    float4 group = k < 16 ? low : high;
    return group[k & 3];
}

// The loop runs over the `count` slots in use (the sidecar's, capped at PROMPTFACE_MAX_EXPRESSIONS) and samples only
// those with a weight above 0: a pixel's cost grows with the slots a face uses, and its texture samples with the
// slots away from rest, not with PROMPTFACE_MAX_EXPRESSIONS. Unused slots cost a face nothing but constant space.
float3 PromptFaceBlend(float3 base, float2 uv, int count, float4 weights0, float4 weights1, float4 weights2,
                       float4 weights3, float4 weights4, float4 weights5, float4 weights6, float4 weights7,
                       float edgeLow, float edgeHigh)
{
    float2 dx = ddx(uv);
    float2 dy = ddy(uv);
    float3 blended = base;
    int used = min(count, PROMPTFACE_MAX_EXPRESSIONS);
    [loop] for (int k = 0; k < used; k++)
    {
        float weight = PromptFaceWeight(weights0, weights1, weights2, weights3, weights4, weights5, weights6,
                                        weights7, k);
        // At rest e_k is 0 (smoothstep of 0 is 0 for edges in [0, 1]): skip the two samples.
        if (weight <= 0.0) continue;
        float mask = PROMPTFACE_SAMPLE_MASK(k, uv, dx, dy);
        float3 expression = PROMPTFACE_SAMPLE_EXPRESSION(k, uv, dx, dy);
        blended += PromptFaceEffectiveWeight(mask, weight, edgeLow, edgeHigh) * (expression - base);
    }
    return saturate(blended);
}

#endif // PROMPTFACE_BLEND_INCLUDED
