using System;
using System.Collections.Generic;

namespace PromptFace
{
    /// <summary>
    /// Apple's 52 ARKit blendshapes, in the order of ARKit's documentation (PromptFace's addon/core/arkit.py), and the
    /// spellings other tools use for them.
    /// </summary>
    /// <remarks>
    /// Left and right are the subject's own, as in ARKit. The aliases follow PromptFace's take reader
    /// (addon/core/face_takes.py, arkit_name): any case (Live Link Face's EyeBlinkLeft), a _L/_R or _Left/_Right side
    /// suffix (eyeBlink_L) and a dotted prefix (blendShape2.eyeBlinkLeft, Face.eyeBlinkLeft) all name the same shape.
    /// </remarks>
    public static class ArkitShapes
    {
        public const int Count = 52;

        static readonly string[] names =
        {
            "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
            "eyeWideLeft",
            "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
            "eyeSquintRight", "eyeWideRight",
            "jawForward", "jawLeft", "jawRight", "jawOpen",
            "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft",
            "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight",
            "mouthStretchLeft", "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
            "mouthShrugUpper", "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
            "mouthUpperUpLeft", "mouthUpperUpRight",
            "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
            "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
            "noseSneerLeft", "noseSneerRight",
            "tongueOut",
        };

        // Lower-cased spelling → index in names.
        static readonly Dictionary<string, int> aliases = AliasTable();

        /// <summary>The 52 names, in ARKit's order: Names[i] is the shape of ARKit index i.</summary>
        public static IList<string> Names
        {
            get { return Array.AsReadOnly(names); }
        }

        /// <summary>The ARKit index (0-51) of a shape in any of its spellings; -1 when it names none.</summary>
        public static int IndexOf(string name)
        {
            int index;
            return name != null && aliases.TryGetValue(BlendShapes.Unprefixed(name).ToLowerInvariant(), out index)
                ? index : -1;
        }

        /// <summary>ARKit's own spelling of a shape ("EyeBlink_L" → "eyeBlinkLeft"); null when it names none.
        /// </summary>
        public static string CanonicalName(string name)
        {
            int index = IndexOf(name);
            return index < 0 ? null : names[index];
        }

        static Dictionary<string, int> AliasTable()
        {
            var table = new Dictionary<string, int>();
            for (int i = 0; i < names.Length; i++)
            {
                foreach (string spelling in Spellings(names[i]))
                {
                    table[spelling.ToLowerInvariant()] = i;
                }
            }
            return table;
        }

        /// <summary>The name itself and, for a Left/Right shape, base_L and base_Left (or base_R, base_Right).
        /// </summary>
        static IEnumerable<string> Spellings(string name)
        {
            yield return name;
            foreach (string[] side in new[] { new[] { "Left", "L" }, new[] { "Right", "R" } })
            {
                if (name.EndsWith(side[0], StringComparison.Ordinal))
                {
                    string stem = name.Substring(0, name.Length - side[0].Length);
                    yield return stem + "_" + side[1];
                    yield return stem + "_" + side[0];
                }
            }
        }
    }
}
