// PromptFace face for the Built-in render pipeline: Standard lighting on the blended texture (PromptFaceBlend.hlsl).
// The PromptFaceBlend component sets _ExpressionWeights0..7 every frame from the SkinnedMeshRenderer's blendshapes;
// the editor importer sets the textures, the expression count and the edges from the export's sidecar.
Shader "PromptFace/Face Blend (Built-in)"
{
    Properties
    {
        [MainTexture] _BaseMap ("Base Texture (neutral)", 2D) = "white" {}
        [NoScaleOffset] _ExpressionTextures ("Expression Textures", 2DArray) = "" {}
        [NoScaleOffset] _ExpressionMasks ("Change Masks (linear)", 2DArray) = "" {}
        [IntRange] _ExpressionCount ("Expression Count", Range(0, 32)) = 0
        _EdgeLow ("Smoothstep Edge Low", Range(0, 1)) = 0.35
        _EdgeHigh ("Smoothstep Edge High", Range(0, 1)) = 0.65
        _Smoothness ("Smoothness", Range(0, 1)) = 0.4
        [HideInInspector] _ExpressionWeights0 ("Weights 1-4", Vector) = (0, 0, 0, 0)
        [HideInInspector] _ExpressionWeights1 ("Weights 5-8", Vector) = (0, 0, 0, 0)
        [HideInInspector] _ExpressionWeights2 ("Weights 9-12", Vector) = (0, 0, 0, 0)
        [HideInInspector] _ExpressionWeights3 ("Weights 13-16", Vector) = (0, 0, 0, 0)
        [HideInInspector] _ExpressionWeights4 ("Weights 17-20", Vector) = (0, 0, 0, 0)
        [HideInInspector] _ExpressionWeights5 ("Weights 21-24", Vector) = (0, 0, 0, 0)
        [HideInInspector] _ExpressionWeights6 ("Weights 25-28", Vector) = (0, 0, 0, 0)
        [HideInInspector] _ExpressionWeights7 ("Weights 29-32", Vector) = (0, 0, 0, 0)
    }
    SubShader
    {
        Tags { "RenderType" = "Opaque" "Queue" = "Geometry" }
        LOD 200

        CGPROGRAM
        #pragma surface Surface Standard fullforwardshadows
        #pragma target 3.5
        #pragma require 2darray

        sampler2D _BaseMap;
        UNITY_DECLARE_TEX2DARRAY(_ExpressionTextures);
        UNITY_DECLARE_TEX2DARRAY(_ExpressionMasks);
        float4 _ExpressionWeights0;
        float4 _ExpressionWeights1;
        float4 _ExpressionWeights2;
        float4 _ExpressionWeights3;
        float4 _ExpressionWeights4;
        float4 _ExpressionWeights5;
        float4 _ExpressionWeights6;
        float4 _ExpressionWeights7;
        float _ExpressionCount;
        float _EdgeLow;
        float _EdgeHigh;
        half _Smoothness;

        #if defined(SHADER_TARGET_SURFACE_ANALYSIS)
            // The surface-shader analysis pass only reads the inputs and outputs; it needs no texture arrays.
            #define PROMPTFACE_SAMPLE_EXPRESSION(k, uv, dx, dy) float3(0.0, 0.0, 0.0)
            #define PROMPTFACE_SAMPLE_MASK(k, uv, dx, dy) 0.0
        #else
            #define PROMPTFACE_SAMPLE_EXPRESSION(k, uv, dx, dy) \
                _ExpressionTextures.SampleGrad(sampler_ExpressionTextures, float3(uv, k), dx, dy).rgb
            #define PROMPTFACE_SAMPLE_MASK(k, uv, dx, dy) \
                _ExpressionMasks.SampleGrad(sampler_ExpressionMasks, float3(uv, k), dx, dy).r
        #endif
        #include "PromptFaceBlend.hlsl"

        struct Input
        {
            float2 uv_BaseMap;
        };

        void Surface(Input input, inout SurfaceOutputStandard output)
        {
            float3 base = tex2D(_BaseMap, input.uv_BaseMap).rgb;
            output.Albedo = PromptFaceBlend(base, input.uv_BaseMap, (int)_ExpressionCount, _ExpressionWeights0,
                                            _ExpressionWeights1, _ExpressionWeights2, _ExpressionWeights3,
                                            _ExpressionWeights4, _ExpressionWeights5, _ExpressionWeights6,
                                            _ExpressionWeights7, _EdgeLow, _EdgeHigh);
            output.Metallic = 0.0;
            output.Smoothness = _Smoothness;
            output.Alpha = 1.0;
        }
        ENDCG
    }
    FallBack "Diffuse"
}
