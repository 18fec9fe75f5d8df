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

#define PROMPTFACE_MAX_EXPRESSIONS 16

float PromptFaceSmoothstep(float edgeLow, float edgeHigh, float x)
{
    float t = saturate((x - edgeLow) / (edgeHigh - edgeLow));
    return t * t * (3.0 - 2.0 * t);
}

float PromptFaceEffectiveWeight(float mask, float weight, float edgeLow, float edgeHigh)
{
    return (1.0 - mask) * weight + mask * PromptFaceSmoothstep(edgeLow, edgeHigh, weight);
}

// Weight k of the 16 packed four to a vector (_ExpressionWeights0..3, set by the PromptFaceBlend component).
float PromptFaceWeight(float4 weights0, float4 weights1, float4 weights2, float4 weights3, int k)
{
    float4 group = k < 4 ? weights0 : (k < 8 ? weights1 : (k < 12 ? weights2 : weights3));
    return group[k & 3];
}

float3 PromptFaceBlend(float3 base, float2 uv, int count, float4 weights0, float4 weights1, float4 weights2,
                       float4 weights3, float edgeLow, float edgeHigh)
{
    float2 dx = ddx(uv);
    float2 dy = ddy(uv);
    float3 blended = base;
    int used = min(count, PROMPTFACE_MAX_EXPRESSIONS);
    [loop] for (int k = 0; k < used; k++)
    {
        float weight = PromptFaceWeight(weights0, weights1, weights2, weights3, k);
        // At rest e_k is 0 (smoothstep of 0 is 0 for edges in [0, 1]): skip the two samples.
        if (weight <= 0.0) continue;
        float mask = PROMPTFACE_SAMPLE_MASK(k, uv, dx, dy);
        float3 expression = PROMPTFACE_SAMPLE_EXPRESSION(k, uv, dx, dy);
        blended += PromptFaceEffectiveWeight(mask, weight, edgeLow, edgeHigh) * (expression - base);
    }
    return saturate(blended);
}

#endif // PROMPTFACE_BLEND_INCLUDED
