using UnityEngine;

namespace PromptFace
{
    /// <summary>
    /// Blendshapes found by name, and their weights: Unity's 0-100 (as the SkinnedMeshRenderer and the FBX's
    /// DeformPercent hold them) against PromptFace's 0-1.
    /// </summary>
    public static class BlendShapes
    {
        /// <summary>A name without its dotted prefix: "Face.eyeBlinkLeft" and "blendShape2.eyeBlinkLeft" →
        /// "eyeBlinkLeft". Unity's FBX importer may put the mesh's name in front of a blendshape's; other tools
        /// prefix the blendshape node's.</summary>
        public static string Unprefixed(string name)
        {
            string trimmed = name.Trim();
            return trimmed.Substring(trimmed.LastIndexOf('.') + 1);
        }

        /// <summary>The index of the mesh's blendshape called name, or of the first one called name after a dotted
        /// prefix; -1 when it has none.</summary>
        public static int IndexOf(Mesh mesh, string name)
        {
            int exact = mesh.GetBlendShapeIndex(name);
            if (exact >= 0)
            {
                return exact;
            }
            for (int i = 0; i < mesh.blendShapeCount; i++)
            {
                if (Unprefixed(mesh.GetBlendShapeName(i)) == name)
                {
                    return i;
                }
            }
            return -1;
        }

        /// <summary>A blendshape weight 0-100 as a weight in [0, 1].</summary>
        public static float ToUnit(float percent)
        {
            return Mathf.Clamp01(percent / 100f);
        }

        /// <summary>A weight in [0, 1] (clamped into it) as a blendshape weight 0-100.</summary>
        public static float ToPercent(float unit)
        {
            return 100f * Mathf.Clamp01(unit);
        }
    }
}
