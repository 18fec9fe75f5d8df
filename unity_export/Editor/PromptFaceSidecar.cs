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

        /// <summary>Blendshape names in the order of the texture-array slices.</summary>
        public string[] BlendShapeNames()
        {
            return Array.ConvertAll(expressions, expression => expression.blendshape);
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
            return Array.Exists(expressions, expression => Resolve(expression.texture) == assetPath);
        }

        public bool IsMask(string assetPath)
        {
            return Array.Exists(expressions, expression => Resolve(expression.mask) == assetPath);
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
            if (expressions == null || expressions.Length > PromptFaceBlend.MaxExpressions)
            {
                problems.Add("expressions must list at most " + PromptFaceBlend.MaxExpressions + " blendshapes");
            }
            else if (Array.Exists(expressions, e => string.IsNullOrEmpty(e.blendshape) ||
                                                    string.IsNullOrEmpty(e.texture) || string.IsNullOrEmpty(e.mask)))
            {
                problems.Add("every expression needs blendshape, texture and mask");
            }
            if (timeline == null || !(timeline.fps > 0f) || timeline.frame_end < timeline.frame_start)
            {
                problems.Add("timeline needs fps above 0 and frame_end not before frame_start");
            }
            return problems;
        }

        static string ParentFolder(string assetPath)
        {
            int slash = assetPath.LastIndexOf('/');
            return slash < 0 ? "" : assetPath.Substring(0, slash);
        }
    }
}
