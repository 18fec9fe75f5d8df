using System;
using System.Collections.Generic;
using System.IO;
using UnityEngine;

namespace PromptFace.Editor
{
    /// <summary>
    /// The JSON sidecar beside an exported FBX (<c>face.fbx</c> → <c>face.promptface.json</c>), format
    /// <c>promptface.unity_face/1</c>, written by PromptFace's addon/core/unity_sidecar.py. Field names follow the JSON.
    /// </summary>
    /// <remarks>
    /// Version 1.1 adds an optional <c>rig</c>: the face is an ARKit-52 rig. JsonUtility leaves a field the JSON
    /// lacks empty rather than null, so a 1.0 sidecar reads as a rig without a kind: no rig.
    /// </remarks>
    [Serializable]
    public sealed class PromptFaceSidecar
    {
        public const string FormatName = "promptface.unity_face";
        public const int SupportedMajorVersion = 1;
        public const string Suffix = ".promptface.json";

        public string format;
        public string version;
        public string fbx;
        public string base_texture;
        public BlendSettings blend;
        public Expression[] expressions;
        public Timeline timeline;
        public Rig rig;

        public const string ArkitRigKind = "arkit";

        [Serializable]
        public sealed class BlendSettings
        {
            public float edge_low;
            public float edge_high;
        }

        [Serializable]
        public sealed class Expression
        {
            public string blendshape;
            public string texture;
            public string mask;
            public string prompt;
        }

        /// <summary>A blendshape with its texture and change mask: one texture-array slice.</summary>
        [Serializable]
        public sealed class TexturedShape
        {
            public string blendshape;
            public string texture;
            public string mask;
        }

        [Serializable]
        public sealed class Rig
        {
            public string kind;
            /// <summary>ARKit's 52 names in ARKit's order, each an FBX blendshape of that name.</summary>
            public string[] shapes;
            /// <summary>The shapes that change the skin, in slice order after the expressions.</summary>
            public TexturedShape[] textured;
            public ArkitPose[] poses;
        }

        [Serializable]
        public sealed class Timeline
        {
            public float fps;
            public int frame_start;
            public int frame_end;
            public float length_s;
        }

        /// <summary>The sidecar's own asset path ("Assets/.../face.promptface.json"); not part of the JSON.</summary>
        public string AssetPath { get; private set; }

        /// <summary>The folder the sidecar's relative paths start from.</summary>
        public string Folder
        {
            get { return ParentFolder(AssetPath); }
        }

        /// <summary>The exported FBX's asset path.</summary>
        public string ModelPath
        {
            get { return Resolve(fbx); }
        }

        /// <summary>Whether the face is an ARKit rig (a 1.0 sidecar, or one without a rig, is not).</summary>
        public bool IsArkitRig
        {
            get { return rig != null && rig.kind == ArkitRigKind; }
        }

        /// <summary>The texture-array slices: the expressions, then an ARKit rig's textured shapes.</summary>
        public TexturedShape[] TextureSlots()
        {
            var slots = new List<TexturedShape>();
            foreach (Expression expression in expressions)
            {
                slots.Add(new TexturedShape
                {
                    blendshape = expression.blendshape, texture = expression.texture, mask = expression.mask,
                });
            }
            if (IsArkitRig && rig.textured != null)
            {
                slots.AddRange(rig.textured);
            }
            return slots.ToArray();
        }

        /// <summary>Blendshape names in the order of the texture-array slices.</summary>
        public string[] BlendShapeNames()
        {
            return Array.ConvertAll(TextureSlots(), slot => slot.blendshape);
        }

        /// <summary>The rig's poses (none without an ARKit rig).</summary>
        public ArkitPose[] Poses()
        {
            return IsArkitRig && rig.poses != null ? rig.poses : new ArkitPose[0];
        }

        public string Resolve(string relativePath)
        {
            return Folder.Length == 0 ? relativePath : Folder + "/" + relativePath;
        }

        /// <summary>Whether the asset is this export's base texture, an expression texture or a mask.</summary>
        public bool References(string assetPath)
        {
            return assetPath == Resolve(base_texture) || IsExpressionTexture(assetPath) || IsMask(assetPath);
        }

        public bool IsExpressionTexture(string assetPath)
        {
            return Array.Exists(TextureSlots(), slot => Resolve(slot.texture) == assetPath);
        }

        public bool IsMask(string assetPath)
        {
            return Array.Exists(TextureSlots(), slot => Resolve(slot.mask) == assetPath);
        }

        public static bool IsSidecarPath(string assetPath)
        {
            return assetPath.EndsWith(Suffix, StringComparison.OrdinalIgnoreCase);
        }

        /// <summary>"Assets/Faces/face.fbx" → "Assets/Faces/face.promptface.json".</summary>
        public static string PathForModel(string modelPath)
        {
            string name = modelPath.Substring(modelPath.LastIndexOf('/') + 1);
            int dot = name.LastIndexOf('.');
            string stem = dot < 0 ? name : name.Substring(0, dot);
            string folder = ParentFolder(modelPath);
            return (folder.Length == 0 ? "" : folder + "/") + stem + Suffix;
        }

        /// <summary>The sidecar of the model at modelPath, or null when it has none (not a PromptFace export).</summary>
        public static PromptFaceSidecar LoadForModel(string modelPath)
        {
            string path = PathForModel(modelPath);
            return File.Exists(path) ? Load(path) : null;
        }

        public static PromptFaceSidecar Load(string sidecarPath)
        {
            return Parse(File.ReadAllText(sidecarPath), sidecarPath);
        }

        /// <summary>Read and check a sidecar; throws InvalidDataException naming the file and every problem.</summary>
        public static PromptFaceSidecar Parse(string json, string sidecarPath)
        {
            PromptFaceSidecar sidecar;
            try
            {
                sidecar = JsonUtility.FromJson<PromptFaceSidecar>(json);
            }
            catch (ArgumentException error)
            {
                throw new InvalidDataException(sidecarPath + " is not valid JSON: " + error.Message);
            }
            if (sidecar == null)
            {
                throw new InvalidDataException(sidecarPath + " is empty");
            }
            sidecar.AssetPath = sidecarPath;
            List<string> problems = sidecar.Problems();
            if (problems.Count > 0)
            {
                throw new InvalidDataException(sidecarPath + " is not a PromptFace sidecar this package reads: " +
                                               string.Join("; ", problems.ToArray()));
            }
            return sidecar;
        }

        /// <summary>The major part of "1.0"; -1 when it is not a number.</summary>
        public static int MajorVersion(string versionText)
        {
            if (string.IsNullOrEmpty(versionText))
            {
                return -1;
            }
            int dot = versionText.IndexOf('.');
            int major;
            return int.TryParse(dot < 0 ? versionText : versionText.Substring(0, dot), out major) ? major : -1;
        }

        List<string> Problems()
        {
            var problems = new List<string>();
            if (format != FormatName)
            {
                problems.Add("format is '" + format + "', expected '" + FormatName + "'");
            }
            if (MajorVersion(version) != SupportedMajorVersion)
            {
                problems.Add("version '" + version + "' is not " + SupportedMajorVersion + ".x; update the package");
            }
            if (string.IsNullOrEmpty(fbx) || string.IsNullOrEmpty(base_texture))
            {
                problems.Add("fbx and base_texture are required");
            }
            if (blend == null || !(blend.edge_low < blend.edge_high))
            {
                problems.Add("blend.edge_low must be below blend.edge_high");
            }
            if (expressions == null)
            {
                problems.Add("expressions are required");
            }
            else
            {
                problems.AddRange(RigProblems());
                problems.AddRange(SlotProblems());
            }
            if (timeline == null || !(timeline.fps > 0f) || timeline.frame_end < timeline.frame_start)
            {
                problems.Add("timeline needs fps above 0 and frame_end not before frame_start");
            }
            return problems;
        }

        List<string> SlotProblems()
        {
            var problems = new List<string>();
            TexturedShape[] slots = TextureSlots();
            if (slots.Length > PromptFaceBlend.MaxExpressions)
            {
                problems.Add("expressions and the rig's textured shapes must be at most " +
                             PromptFaceBlend.MaxExpressions + " blendshapes together, the shader's slots; got " +
                             slots.Length);
            }
            if (Array.Exists(slots, slot => slot == null || string.IsNullOrEmpty(slot.blendshape) ||
                                            string.IsNullOrEmpty(slot.texture) || string.IsNullOrEmpty(slot.mask)))
            {
                problems.Add("every expression and textured rig shape needs blendshape, texture and mask");
            }
            return problems;
        }

        /// <summary>An ARKit rig must list ARKit's 52 shapes in order, texture only its own shapes and pose them at
        /// weights 0-1. No rig (or one without a kind, as JsonUtility reads a 1.0 sidecar) has no problems.</summary>
        List<string> RigProblems()
        {
            var problems = new List<string>();
            if (rig == null || string.IsNullOrEmpty(rig.kind))
            {
                return problems;
            }
            if (rig.kind != ArkitRigKind)
            {
                problems.Add("rig kind '" + rig.kind + "' is not one this package knows ('" + ArkitRigKind +
                             "'); update the package");
                return problems;
            }
            if (!IsArkitOrder(rig.shapes))
            {
                problems.Add("rig.shapes must be ARKit's 52 blendshape names in ARKit's order");
            }
            if (rig.textured != null && Array.Exists(rig.textured, shape => shape != null &&
                                                     !IsArkitName(shape.blendshape)))
            {
                problems.Add("rig.textured may name only the rig's ARKit shapes");
            }
            if (rig.poses != null && !Array.TrueForAll(rig.poses, IsValidPose))
            {
                problems.Add("every rig pose needs a name and ARKit shapes at weights 0-1");
            }
            return problems;
        }

        static bool IsArkitOrder(string[] shapes)
        {
            if (shapes == null || shapes.Length != ArkitShapes.Count)
            {
                return false;
            }
            for (int i = 0; i < shapes.Length; i++)
            {
                if (shapes[i] != ArkitShapes.Names[i])
                {
                    return false;
                }
            }
            return true;
        }

        /// <summary>ARKit's own spelling (the sidecar's names are the FBX blendshapes', exactly).</summary>
        static bool IsArkitName(string name)
        {
            return name != null && ArkitShapes.CanonicalName(name) == name;
        }

        static bool IsValidPose(ArkitPose pose)
        {
            return pose != null && !string.IsNullOrEmpty(pose.name) && pose.weights != null &&
                   Array.TrueForAll(pose.weights, weight => weight != null && IsArkitName(weight.shape) &&
                                                            weight.weight >= 0f && weight.weight <= 1f);
        }

        static string ParentFolder(string assetPath)
        {
            int slash = assetPath.LastIndexOf('/');
            return slash < 0 ? "" : assetPath.Substring(0, slash);
        }
    }
}
