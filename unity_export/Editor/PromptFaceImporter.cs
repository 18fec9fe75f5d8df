using System;
using System.Collections.Generic;
using System.IO;
using UnityEditor;
using UnityEditor.Animations;
using UnityEngine;

namespace PromptFace.Editor
{
    /// <summary>
    /// Recognises a PromptFace export by its sidecar (face.fbx beside face.promptface.json) and sets it up: the FBX's
    /// and textures' import settings, then the texture arrays, material, controller and PromptFaceBlend component.
    /// </summary>
    /// <remarks>
    /// Unity imports the PNGs and the FBX first; once they are in, OnPostprocessAllAssets builds the material and the
    /// controller, and imports the FBX once more when they are new so that OnPostprocessModel can hand them to it.
    /// </remarks>
    public sealed class PromptFaceImporter : AssetPostprocessor
    {
        const uint Version = 2;  // 2: masks import as one channel (R8)

        public override uint GetVersion()
        {
            return Version;
        }

        void OnPreprocessModel()
        {
            if (SidecarOfModel() != null)
            {
                PromptFaceImportSettings.ApplyToModel((ModelImporter)assetImporter);
            }
        }

        void OnPreprocessAnimation()
        {
            PromptFaceSidecar sidecar = SidecarOfModel();
            if (sidecar == null)
            {
                return;
            }
            var importer = (ModelImporter)assetImporter;
            string clipName = Path.GetFileNameWithoutExtension(assetPath);
            importer.clipAnimations = PromptFaceImportSettings.Clips(importer.defaultClipAnimations, sidecar, clipName);
        }

        void OnPreprocessTexture()
        {
            foreach (PromptFaceSidecar sidecar in SidecarsBeside(assetPath))
            {
                if (sidecar.References(assetPath))
                {
                    context.DependsOnSourceAsset(sidecar.AssetPath);
                    bool isMask = sidecar.IsMask(assetPath);
                    PromptFaceImportSettings.ApplyToTexture((TextureImporter)assetImporter, isMask,
                                                            isMask || sidecar.IsExpressionTexture(assetPath));
                    return;
                }
            }
        }

        void OnPostprocessModel(GameObject root)
        {
            PromptFaceSidecar sidecar = SidecarOfModel();
            if (sidecar == null)
            {
                return;
            }
            var material = AssetDatabase.LoadAssetAtPath<Material>(PromptFaceAssets.MaterialPath(sidecar));
            var controller = AssetDatabase.LoadAssetAtPath<AnimatorController>(PromptFaceAssets.ControllerPath(sidecar));
            PromptFaceAssets.ConfigureModel(root, sidecar, material, controller);
        }

        static void OnPostprocessAllAssets(string[] importedAssets, string[] deletedAssets, string[] movedAssets,
                                           string[] movedFromAssetPaths)
        {
            var touched = new List<string>(importedAssets);
            touched.AddRange(movedAssets);
            foreach (string sidecarPath in SidecarsTouchedBy(touched))
            {
                try
                {
                    PromptFaceSidecar sidecar = PromptFaceSidecar.Load(sidecarPath);
                    if (!File.Exists(sidecar.ModelPath))
                    {
                        continue;  // the FBX arrives in a later import
                    }
                    if (PromptFaceAssets.Build(sidecar))
                    {
                        AssetDatabase.ImportAsset(sidecar.ModelPath, ImportAssetOptions.ForceUpdate);
                    }
                }
                catch (Exception error)
                {
                    // One broken export must not stop the rest of the import; the message names the file.
                    Debug.LogError("PromptFace could not set up " + sidecarPath + ": " + error.Message);
                }
            }
        }

        /// <summary>The sidecar of the model being imported (recorded as a dependency), or null.</summary>
        PromptFaceSidecar SidecarOfModel()
        {
            string sidecarPath = PromptFaceSidecar.PathForModel(assetPath);
            if (!File.Exists(sidecarPath))
            {
                return null;
            }
            context.DependsOnSourceAsset(sidecarPath);
            return PromptFaceSidecar.Load(sidecarPath);
        }

        /// <summary>Sidecars whose export one of these assets belongs to: the sidecar itself, its FBX or a PNG.</summary>
        static IEnumerable<string> SidecarsTouchedBy(IEnumerable<string> assetPaths)
        {
            var sidecars = new HashSet<string>();
            foreach (string path in assetPaths)
            {
                if (PromptFaceSidecar.IsSidecarPath(path))
                {
                    sidecars.Add(path);
                }
                else if (path.EndsWith(".fbx", StringComparison.OrdinalIgnoreCase))
                {
                    string sidecarPath = PromptFaceSidecar.PathForModel(path);
                    if (File.Exists(sidecarPath))
                    {
                        sidecars.Add(sidecarPath);
                    }
                }
                else if (path.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                {
                    foreach (PromptFaceSidecar sidecar in SidecarsBeside(path))
                    {
                        if (sidecar.References(path))
                        {
                            sidecars.Add(sidecar.AssetPath);
                        }
                    }
                }
            }
            return sidecars;
        }

        /// <summary>The readable sidecars in a texture's folder and the folder above (exports keep PNGs in textures/).
        /// </summary>
        static IEnumerable<PromptFaceSidecar> SidecarsBeside(string texturePath)
        {
            string folder = texturePath.Substring(0, Math.Max(0, texturePath.LastIndexOf('/')));
            int slash = folder.LastIndexOf('/');
            string[] folders = slash < 0 ? new[] { folder } : new[] { folder, folder.Substring(0, slash) };
            foreach (string candidate in folders)
            {
                if (candidate.Length == 0 || !Directory.Exists(candidate))
                {
                    continue;
                }
                foreach (string file in Directory.GetFiles(candidate, "*" + PromptFaceSidecar.Suffix))
                {
                    PromptFaceSidecar sidecar;
                    try
                    {
                        sidecar = PromptFaceSidecar.Load(file.Replace('\\', '/'));
                    }
                    catch (InvalidDataException)
                    {
                        continue;  // reported when the sidecar itself or its FBX is imported
                    }
                    yield return sidecar;
                }
            }
        }
    }
}
