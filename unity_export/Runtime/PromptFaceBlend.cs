using System;
using System.Collections.Generic;
using UnityEngine;

namespace PromptFace
{
    /// <summary>
    /// Feeds a PromptFace face's blendshape weights to its texture-blend shader, every frame.
    /// </summary>
    /// <remarks>
    /// The SkinnedMeshRenderer's blendshape weights are the single source of truth: the imported animation clip (the
    /// FBX's DeformPercent curves) drives them in Unity's 0-100 range, and this component hands them to the shader as
    /// 0-1 weights, looked up by name in the order of the material's texture-array slices. It runs in LateUpdate, after
    /// the Animator has written the frame's weights, and in edit mode, so scrubbing the Animation window updates the
    /// texture too. The weights go through the renderer's MaterialPropertyBlock, so the shared material asset is never
    /// modified, and only the weight vectors in that block are ever written. An ARKit rig's textured shapes
    /// (creases, tongue) are slots like the expressions, so whatever sets their blendshape weights (PromptFaceArkit,
    /// a lip-sync tool) blends their textures.
    /// </remarks>
    [ExecuteAlways]
    // Late among LateUpdates, so weights other scripts set in their own LateUpdate show in the same frame.
    [DefaultExecutionOrder(1000)]
    [DisallowMultipleComponent]
    [AddComponentMenu("PromptFace/PromptFace Blend")]
    public sealed class PromptFaceBlend : MonoBehaviour
    {
        /// <summary>Texture slots the shader blends, the expressions then an ARKit rig's textured shapes: its
        /// PROMPTFACE_MAX_EXPRESSIONS (PromptFaceBlend.hlsl), weights packed four to a float4 vector.</summary>
        public const int MaxExpressions = 32;

        /// <summary>The shader properties holding weights 4i..4i+3: _ExpressionWeights0 to _ExpressionWeights7.
        /// </summary>
        public static readonly string[] WeightProperties = WeightPropertyNames();

        [Tooltip("The face's renderer, whose blendshapes drive the texture blend.")]
        [SerializeField] SkinnedMeshRenderer faceRenderer;

        [Tooltip("Blendshape names in the order of the material's texture-array slices (from the export's sidecar): " +
                 "the expressions, then an ARKit rig's textured shapes.")]
        [SerializeField] string[] expressionNames = new string[0];

        MaterialPropertyBlock properties;
        Mesh indexedMesh;
        int[] blendShapeIndices = new int[0];
        readonly float[] weights = new float[MaxExpressions];
        readonly Vector4[] packed = new Vector4[MaxExpressions / 4];
        int[] weightPropertyIds;

        public SkinnedMeshRenderer FaceRenderer { get { return faceRenderer; } }

        public IList<string> ExpressionNames { get { return Array.AsReadOnly(expressionNames); } }

        /// <summary>Bind the component to a renderer and the expressions of its material, in slice order.</summary>
        public void Configure(SkinnedMeshRenderer renderer, string[] names)
        {
            if (names == null || names.Length > MaxExpressions)
            {
                throw new ArgumentException(string.Format(
                    "PromptFace blends at most {0} expressions; got {1}", MaxExpressions,
                    names == null ? "none" : names.Length.ToString()));
            }
            faceRenderer = renderer;
            expressionNames = (string[])names.Clone();
            indexedMesh = null;
        }

        void LateUpdate()
        {
            Apply();
        }

        /// <summary>Hand the renderer back: our weights return to the material's values, and whatever other
        /// components set in the renderer's property block stays.</summary>
        void OnDisable()
        {
            if (faceRenderer == null || properties == null)
            {
                return;  // never applied
            }
            // A MaterialPropertyBlock cannot drop a single property, so ours are set to what the material holds.
            Material material = faceRenderer.sharedMaterial;
            faceRenderer.GetPropertyBlock(properties);
            foreach (int id in weightPropertyIds)
            {
                properties.SetVector(id, material != null && material.HasProperty(id) ? material.GetVector(id)
                                                                                     : Vector4.zero);
            }
            faceRenderer.SetPropertyBlock(properties);
        }

        /// <summary>Copy the renderer's current blendshape weights into the shader's weight vectors.</summary>
        public void Apply()
        {
            if (faceRenderer == null || faceRenderer.sharedMesh == null)
            {
                return;
            }
            if (indexedMesh != faceRenderer.sharedMesh)
            {
                indexedMesh = faceRenderer.sharedMesh;
                blendShapeIndices = BlendShapeIndices(indexedMesh, expressionNames, this);
            }
            ReadWeights(faceRenderer, blendShapeIndices, weights);
            PackWeights(weights, packed);
            if (properties == null)
            {
                properties = new MaterialPropertyBlock();
                weightPropertyIds = Array.ConvertAll(WeightProperties, Shader.PropertyToID);
            }
            // Read the renderer's block first and change only our vectors: other components' values stay.
            faceRenderer.GetPropertyBlock(properties);
            for (int i = 0; i < packed.Length; i++)
            {
                properties.SetVector(weightPropertyIds[i], packed[i]);
            }
            faceRenderer.SetPropertyBlock(properties);
        }

        /// <summary>A blendshape weight (0-100, as the SkinnedMeshRenderer and the FBX's DeformPercent hold it) as the
        /// shader's weight in [0, 1].</summary>
        public static float ShaderWeight(float blendShapeWeight)
        {
            return BlendShapes.ToUnit(blendShapeWeight);
        }

        /// <summary>The mesh's blendshape index for each name (or the name after a dotted prefix, see
        /// BlendShapes.IndexOf), -1 (weight 0, with a warning) where it has none.</summary>
        public static int[] BlendShapeIndices(Mesh mesh, string[] names, UnityEngine.Object context)
        {
            var indices = new int[names.Length];
            for (int k = 0; k < names.Length; k++)
            {
                indices[k] = BlendShapes.IndexOf(mesh, names[k]);
                if (indices[k] < 0)
                {
                    Debug.LogWarning(string.Format(
                        "PromptFace: mesh '{0}' has no blendshape '{1}'; its texture stays at rest", mesh.name,
                        names[k]), context);
                }
            }
            return indices;
        }

        /// <summary>weights[k] = the shader weight of blendshape indices[k]; 0 past the expressions or where missing.
        /// </summary>
        public static void ReadWeights(SkinnedMeshRenderer renderer, int[] indices, float[] weights)
        {
            for (int k = 0; k < weights.Length; k++)
            {
                bool present = k < indices.Length && indices[k] >= 0;
                weights[k] = present ? ShaderWeight(renderer.GetBlendShapeWeight(indices[k])) : 0f;
            }
        }

        static string[] WeightPropertyNames()
        {
            var names = new string[MaxExpressions / 4];
            for (int i = 0; i < names.Length; i++)
            {
                names[i] = "_ExpressionWeights" + i;
            }
            return names;
        }

        /// <summary>Weights four to a vector: packed[i] = (w[4i], w[4i+1], w[4i+2], w[4i+3]).</summary>
        public static void PackWeights(float[] weights, Vector4[] packed)
        {
            for (int i = 0; i < packed.Length; i++)
            {
                packed[i] = new Vector4(weights[4 * i], weights[4 * i + 1], weights[4 * i + 2], weights[4 * i + 3]);
            }
        }
    }
}
