using System;
using System.Collections.Generic;
using UnityEngine;

namespace PromptFace
{
    /// <summary>
    /// The 52 ARKit weights of a PromptFace ARKit rig, for whatever drives the face: a Live Link Face or Audio2Face
    /// stream, a lip-sync tool's visemes, a script.
    /// </summary>
    /// <remarks>
    /// Weights are 0-1 here and written straight to the SkinnedMeshRenderer's blendshapes (0-100), found by name:
    /// the renderer stays the only source of truth, so PromptFaceBlend blends the textured shapes' textures from them
    /// and GetWeight reads back what the Animator or any other script wrote too. Names may be spelt as ARKit does or
    /// as other tools do (see ArkitShapes); indices are ARKit's order, never the mesh's.
    /// </remarks>
    [DisallowMultipleComponent]
    [AddComponentMenu("PromptFace/PromptFace ARKit")]
    public sealed class PromptFaceArkit : MonoBehaviour
    {
        [Tooltip("The face's renderer, whose blendshapes are named as ARKit's 52.")]
        [SerializeField] SkinnedMeshRenderer faceRenderer;

        [Tooltip("The rig's named poses (the prompts, the visemes), from the export's sidecar.")]
        [SerializeField] ArkitPose[] poses = new ArkitPose[0];

        Mesh indexedMesh;
        int[] blendShapeIndices = new int[0];

        public SkinnedMeshRenderer FaceRenderer { get { return faceRenderer; } }

        public IList<ArkitPose> Poses { get { return Array.AsReadOnly(poses); } }

        /// <summary>Bind the component to the face's renderer and the rig's poses.</summary>
        public void Configure(SkinnedMeshRenderer renderer, ArkitPose[] rigPoses)
        {
            faceRenderer = renderer;
            poses = rigPoses == null ? new ArkitPose[0] : (ArkitPose[])rigPoses.Clone();
            indexedMesh = null;
        }

        /// <summary>The weight (0-1) of the shape with this ARKit index (0-51, ARKit's order).</summary>
        public float this[int arkitIndex]
        {
            get
            {
                int blendShape = BlendShapeIndex(arkitIndex);
                return blendShape < 0 ? 0f : BlendShapes.ToUnit(faceRenderer.GetBlendShapeWeight(blendShape));
            }
            set
            {
                int blendShape = BlendShapeIndex(arkitIndex);
                if (float.IsNaN(value))
                {
                    throw new ArgumentException("PromptFace: the weight of " + ArkitShapes.Names[arkitIndex] +
                                                " is NaN");
                }
                if (blendShape >= 0)
                {
                    faceRenderer.SetBlendShapeWeight(blendShape, BlendShapes.ToPercent(value));
                }
            }
        }

        public float GetWeight(string arkitName)
        {
            return this[ShapeIndex(arkitName)];
        }

        /// <summary>Set one shape's weight, 0-1 (clamped). Throws ArgumentException for a name that is no ARKit
        /// shape.</summary>
        public void SetWeight(string arkitName, float weight01)
        {
            this[ShapeIndex(arkitName)] = weight01;
        }

        /// <summary>SetWeight, or false (and nothing set) for a name that is no ARKit shape, such as a stream's
        /// head rotation.</summary>
        public bool TrySetWeight(string arkitName, float weight01)
        {
            int index = ArkitShapes.IndexOf(arkitName);
            if (index < 0)
            {
                return false;
            }
            this[index] = weight01;
            return true;
        }

        /// <summary>Set the weights of the named shapes; the others keep theirs. Every name is checked first, so a
        /// bad one changes nothing.</summary>
        public void SetWeights(IReadOnlyDictionary<string, float> weights)
        {
            foreach (KeyValuePair<string, float> pair in weights)
            {
                ShapeIndex(pair.Key);
            }
            foreach (KeyValuePair<string, float> pair in weights)
            {
                SetWeight(pair.Key, pair.Value);
            }
        }

        /// <summary>Every shape back to 0: the neutral face.</summary>
        public void ResetWeights()
        {
            for (int i = 0; i < ArkitShapes.Count; i++)
            {
                this[i] = 0f;
            }
        }

        /// <summary>The weights of a named pose, {ARKit name: weight}; the shapes it leaves out are 0 in it.</summary>
        public IReadOnlyDictionary<string, float> GetPose(string poseName)
        {
            ArkitPose pose = Array.Find(poses, candidate => candidate.name == poseName);
            if (pose == null)
            {
                string known = string.Join(", ", Array.ConvertAll(poses, candidate => candidate.name));
                throw new ArgumentException("PromptFace: no pose '" + poseName + "'; the rig's poses are: " +
                                            (known.Length > 0 ? known : "none"));
            }
            var weights = new Dictionary<string, float>();
            foreach (ArkitPose.ShapeWeight shapeWeight in pose.weights)
            {
                weights[shapeWeight.shape] = shapeWeight.weight;
            }
            return weights;
        }

        /// <summary>Show a named pose: its shapes at its weights, every other shape at 0.</summary>
        public void ApplyPose(string poseName)
        {
            var weights = new float[ArkitShapes.Count];
            foreach (KeyValuePair<string, float> pair in GetPose(poseName))
            {
                weights[ShapeIndex(pair.Key)] = pair.Value;
            }
            for (int i = 0; i < weights.Length; i++)
            {
                this[i] = weights[i];
            }
        }

        /// <summary>Whether the face's mesh has a blendshape for this ARKit shape.</summary>
        public bool HasShape(string arkitName)
        {
            return BlendShapeIndex(ShapeIndex(arkitName)) >= 0;
        }

        /// <summary>The ARKit index of a name in any spelling ArkitShapes knows; ArgumentException for another.
        /// </summary>
        public static int ShapeIndex(string arkitName)
        {
            int index = ArkitShapes.IndexOf(arkitName);
            if (index < 0)
            {
                throw new ArgumentException("PromptFace: '" + arkitName + "' is not one of the 52 ARKit blendshapes " +
                                            "(eyeBlinkLeft, jawOpen, ...; also EyeBlinkLeft, eyeBlink_L, " +
                                            "prefix.eyeBlinkLeft)");
            }
            return index;
        }

        /// <summary>For each ARKit index, the mesh's blendshape of that shape (by name, in any spelling ArkitShapes
        /// knows; ARKit's own spelling wins over another), -1 where it has none (with one warning naming them).
        /// </summary>
        public static int[] BlendShapeIndices(Mesh mesh, UnityEngine.Object context)
        {
            var indices = new int[ArkitShapes.Count];
            var exact = new bool[ArkitShapes.Count];
            for (int i = 0; i < indices.Length; i++)
            {
                indices[i] = -1;
            }
            for (int blendShape = 0; blendShape < mesh.blendShapeCount; blendShape++)
            {
                string name = mesh.GetBlendShapeName(blendShape);
                int shape = ArkitShapes.IndexOf(name);
                bool isExact = shape >= 0 && BlendShapes.Unprefixed(name) == ArkitShapes.Names[shape];
                if (shape >= 0 && (indices[shape] < 0 || (isExact && !exact[shape])))
                {
                    indices[shape] = blendShape;
                    exact[shape] = isExact;
                }
            }
            WarnOfMissing(mesh, indices, context);
            return indices;
        }

        static void WarnOfMissing(Mesh mesh, int[] indices, UnityEngine.Object context)
        {
            var missing = new List<string>();
            for (int i = 0; i < indices.Length; i++)
            {
                if (indices[i] < 0)
                {
                    missing.Add(ArkitShapes.Names[i]);
                }
            }
            if (missing.Count > 0)
            {
                Debug.LogWarning(string.Format("PromptFace: mesh '{0}' has no blendshape for {1} of the 52 ARKit " +
                                               "shapes ({2}); they stay at 0", mesh.name, missing.Count,
                                               string.Join(", ", missing.ToArray())), context);
            }
        }

        /// <summary>The mesh's blendshape of an ARKit index, -1 where it has none; the mapping is rebuilt when the
        /// renderer's mesh changes.</summary>
        int BlendShapeIndex(int arkitIndex)
        {
            if (arkitIndex < 0 || arkitIndex >= ArkitShapes.Count)
            {
                throw new ArgumentOutOfRangeException("arkitIndex", arkitIndex, "ARKit indices are 0 to 51");
            }
            if (faceRenderer == null || faceRenderer.sharedMesh == null)
            {
                throw new InvalidOperationException("PromptFace: the ARKit component has no face renderer with a " +
                                                    "mesh; Configure it");
            }
            if (indexedMesh != faceRenderer.sharedMesh)
            {
                indexedMesh = faceRenderer.sharedMesh;
                blendShapeIndices = BlendShapeIndices(indexedMesh, this);
            }
            return blendShapeIndices[arkitIndex];
        }
    }
}
