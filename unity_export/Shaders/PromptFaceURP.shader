// PromptFace face for the Universal Render Pipeline (URP 14 in Unity 2022.3, URP 17 in Unity 6): PBR lighting on
// the blended texture (PromptFaceBlend.hlsl). The SubShader only exists where URP is installed (PackageRequirements),
// so a Built-in project compiles this file without errors. Shadow casting and depth passes are URP Lit's (UsePass
// names pass names in upper case, as Unity stores them).
Shader "PromptFace/Face Blend (URP)"
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
        PackageRequirements
        {
            "com.unity.render-pipelines.universal": "14.0.0"
        }
        Tags { "RenderType" = "Opaque" "RenderPipeline" = "UniversalPipeline" "Queue" = "Geometry" }

        Pass
        {
            Name "ForwardLit"
            Tags { "LightMode" = "UniversalForward" }

            HLSLPROGRAM
            #pragma target 3.5
            #pragma require 2darray
            #pragma vertex Vertex
            #pragma fragment Fragment
            #pragma multi_compile _ _MAIN_LIGHT_SHADOWS _MAIN_LIGHT_SHADOWS_CASCADE _MAIN_LIGHT_SHADOWS_SCREEN
            #pragma multi_compile _ _ADDITIONAL_LIGHTS_VERTEX _ADDITIONAL_LIGHTS
            // Forward+ (its keyword is _FORWARD_PLUS up to URP 17.0, _CLUSTER_LIGHT_LOOP from Unity 6.1).
            #pragma multi_compile _ _FORWARD_PLUS _CLUSTER_LIGHT_LOOP
            #pragma multi_compile_fragment _ _ADDITIONAL_LIGHT_SHADOWS
            #pragma multi_compile_fragment _ _SHADOWS_SOFT
            #pragma multi_compile_fog

            #include "Packages/com.unity.render-pipelines.universal/ShaderLibrary/Core.hlsl"
            #include "Packages/com.unity.render-pipelines.universal/ShaderLibrary/Lighting.hlsl"

            TEXTURE2D(_BaseMap);
            SAMPLER(sampler_BaseMap);
            TEXTURE2D_ARRAY(_ExpressionTextures);
            SAMPLER(sampler_ExpressionTextures);
            TEXTURE2D_ARRAY(_ExpressionMasks);
            SAMPLER(sampler_ExpressionMasks);

            CBUFFER_START(UnityPerMaterial)
                float4 _BaseMap_ST;
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
            CBUFFER_END

            #define PROMPTFACE_SAMPLE_EXPRESSION(k, uv, dx, dy) \
                SAMPLE_TEXTURE2D_ARRAY_GRAD(_ExpressionTextures, sampler_ExpressionTextures, uv, k, dx, dy).rgb
            #define PROMPTFACE_SAMPLE_MASK(k, uv, dx, dy) \
                SAMPLE_TEXTURE2D_ARRAY_GRAD(_ExpressionMasks, sampler_ExpressionMasks, uv, k, dx, dy).r
            #include "PromptFaceBlend.hlsl"

            struct Attributes
            {
                float4 positionOS : POSITION;
                float3 normalOS : NORMAL;
                float2 uv : TEXCOORD0;
            };

            struct Varyings
            {
                float4 positionCS : SV_POSITION;
                float2 uv : TEXCOORD0;
                float3 positionWS : TEXCOORD1;
                float3 normalWS : TEXCOORD2;
                float fogFactor : TEXCOORD3;
            };

            Varyings Vertex(Attributes input)
            {
                VertexPositionInputs positions = GetVertexPositionInputs(input.positionOS.xyz);
                VertexNormalInputs normals = GetVertexNormalInputs(input.normalOS);
                Varyings output;
                output.positionCS = positions.positionCS;
                output.positionWS = positions.positionWS;
                output.normalWS = normals.normalWS;
                output.uv = TRANSFORM_TEX(input.uv, _BaseMap);
                output.fogFactor = ComputeFogFactor(positions.positionCS.z);
                return output;
            }

            half4 Fragment(Varyings input) : SV_Target
            {
                float3 base = SAMPLE_TEXTURE2D(_BaseMap, sampler_BaseMap, input.uv).rgb;
                float3 albedo = PromptFaceBlend(base, input.uv, (int)_ExpressionCount, _ExpressionWeights0,
                                                _ExpressionWeights1, _ExpressionWeights2, _ExpressionWeights3,
                                                _ExpressionWeights4, _ExpressionWeights5, _ExpressionWeights6,
                                                _ExpressionWeights7, _EdgeLow, _EdgeHigh);

                InputData lighting = (InputData)0;
                lighting.positionWS = input.positionWS;
                lighting.normalWS = normalize(input.normalWS);
                lighting.viewDirectionWS = GetWorldSpaceNormalizeViewDir(input.positionWS);
                lighting.shadowCoord = TransformWorldToShadowCoord(input.positionWS);
                lighting.fogCoord = input.fogFactor;
                lighting.bakedGI = SampleSH(lighting.normalWS);
                lighting.normalizedScreenSpaceUV = GetNormalizedScreenSpaceUV(input.positionCS);
                lighting.shadowMask = half4(1, 1, 1, 1);

                SurfaceData surface = (SurfaceData)0;
                surface.albedo = albedo;
                surface.metallic = 0.0;
                surface.smoothness = _Smoothness;
                surface.occlusion = 1.0;
                surface.alpha = 1.0;

                half4 color = UniversalFragmentPBR(lighting, surface);
                color.rgb = MixFog(color.rgb, lighting.fogCoord);
                return color;
            }
            ENDHLSL
        }

        UsePass "Universal Render Pipeline/Lit/SHADOWCASTER"
        UsePass "Universal Render Pipeline/Lit/DEPTHONLY"
        UsePass "Universal Render Pipeline/Lit/DEPTHNORMALS"
    }
}
