using System;
using System.IO;
using UnityEditor;
using UnityEditor.Animations;
using UnityEngine;
using UnityEngine.Rendering;

namespace PromptFace.Editor
{
    /// <summary>
    /// The assets the package builds beside an export: the textures and the masks of the expressions (then of an ARKit
    /// rig's textured shapes) as two Texture2DArrays,
    /// the face material (Built-in or URP shader, whichever pipeline the project uses), and an Animator Controller
    /// that plays the imported clip. Named after the FBX: face.fbx → face.expressions.asset, face.masks.asset,
    /// face.PromptFace.mat, face.controller.
    /// </summary>
    public static class PromptFaceAssets
    {
        public const string BuiltinShaderName = "PromptFace/Face Blend (Built-in)";
        public const string UrpShaderName = "PromptFace/Face Blend (URP)";

        public static string ExpressionArrayPath(PromptFaceSidecar sidecar)
        {
            return BesideModel(sidecar, ".expressions.asset");
        }

        public static string MaskArrayPath(PromptFaceSidecar sidecar)
        {
            return BesideModel(sidecar, ".masks.asset");
        }

        public static string MaterialPath(PromptFaceSidecar sidecar)
        {
            return BesideModel(sidecar, ".PromptFace.mat");
        }

        public static string ControllerPath(PromptFaceSidecar sidecar)
        {
            return BesideModel(sidecar, ".controller");
        }

        /// <summary>Build or refresh the texture arrays, the material and the controller. Returns true when the
        /// material or the controller is new, so the model must be imported again to be given them.</summary>
        public static bool Build(PromptFaceSidecar sidecar)
        {
            var baseTexture = LoadTexture(sidecar.Resolve(sidecar.base_texture));
            PromptFaceSidecar.TexturedShape[] slots = sidecar.TextureSlots();
            Texture2D[] textures = Array.ConvertAll(slots, slot => LoadTexture(sidecar.Resolve(slot.texture)));
            Texture2D[] masks = Array.ConvertAll(slots, slot => LoadTexture(sidecar.Resolve(slot.mask)));
            var textureArray = SaveArray(BuildExpressionArray(textures), ExpressionArrayPath(sidecar));
            var maskArray = SaveArray(BuildMaskArray(masks), MaskArrayPath(sidecar));

            var material = AssetDatabase.LoadAssetAtPath<Material>(MaterialPath(sidecar));
            bool newMaterial = material == null;
            Shader shader = FaceShader();
            if (newMaterial)
            {
                material = new Material(shader);
                AssetDatabase.CreateAsset(material, MaterialPath(sidecar));
            }
            else if (material.shader != shader)
            {
                material.shader = shader;
            }
            ConfigureMaterial(material, sidecar, baseTexture, textureArray, maskArray);
            EditorUtility.SetDirty(material);
            bool newController = BuildController(sidecar);
            AssetDatabase.SaveAssets();
            return newMaterial || newController;
        }

        public static void ConfigureMaterial(Material material, PromptFaceSidecar sidecar, Texture2D baseTexture,
                                             Texture2DArray textures, Texture2DArray masks)
        {
            material.SetTexture("_BaseMap", baseTexture);
            material.SetTexture("_ExpressionTextures", textures);
            material.SetTexture("_ExpressionMasks", masks);
            material.SetFloat("_ExpressionCount", sidecar.TextureSlots().Length);
            material.SetFloat("_EdgeLow", sidecar.blend.edge_low);
            material.SetFloat("_EdgeHigh", sidecar.blend.edge_high);
        }

        /// <summary>During the model's import: the material on its renderer, the controller on its Animator and a
        /// PromptFaceBlend component on its root, bound to the sidecar's blendshapes; for an ARKit rig also a
        /// PromptFaceArkit component with the rig's poses.</summary>
        public static void ConfigureModel(GameObject root, PromptFaceSidecar sidecar, Material material,
                                          RuntimeAnimatorController controller)
        {
            var renderer = root.GetComponentInChildren<SkinnedMeshRenderer>(true);
            if (renderer == null)
            {
                Debug.LogWarning("PromptFace: " + sidecar.ModelPath + " has no skinned mesh (no blendshapes?); " +
                                 "the texture blend is not set up");
                return;
            }
            if (material != null)
            {
                var materials = new Material[Math.Max(1, renderer.sharedMaterials.Length)];
                for (int i = 0; i < materials.Length; i++)
                {
                    materials[i] = material;
                }
                renderer.sharedMaterials = materials;
            }
            var animator = AddComponent<Animator>(root);
            if (controller != null)
            {
                animator.runtimeAnimatorController = controller;
            }
            var blend = AddComponent<PromptFaceBlend>(root);
            blend.Configure(renderer, sidecar.BlendShapeNames());
            if (sidecar.IsArkitRig)
            {
                AddComponent<PromptFaceArkit>(root).Configure(renderer, sidecar.Poses());
            }
        }

        static T AddComponent<T>(GameObject root) where T : Component
        {
            T component = root.GetComponent<T>();
            return component != null ? component : root.AddComponent<T>();
        }

        /// <summary>The expression textures as one colour array (RGBA32), sampled sRGB-decoded.</summary>
        public static Texture2DArray BuildExpressionArray(Texture2D[] textures)
        {
            return BuildArray(textures, TextureFormat.RGBA32, false);
        }

        /// <summary>The change masks as one single-channel array (R8, a quarter of RGBA32's memory), sampled as
        /// stored (linear); the shaders read its red channel.</summary>
        public static Texture2DArray BuildMaskArray(Texture2D[] masks)
        {
            return BuildArray(masks, TextureFormat.R8, true);
        }

        /// <summary>The slices as one array, all of one size (an empty export gets a 1×1 placeholder the shader never
        /// samples), as the Blender node tree samples them: colour sRGB-decoded, masks linear.</summary>
        static Texture2DArray BuildArray(Texture2D[] slices, TextureFormat format, bool linear)
        {
            if (slices.Length == 0)
            {
                var placeholder = new Texture2DArray(1, 1, 1, format, false, linear);
                placeholder.SetPixels32(new[] { new Color32(0, 0, 0, 0) }, 0, 0);
                placeholder.Apply(false, false);
                return placeholder;
            }
            int width = slices[0].width;
            int height = slices[0].height;
            var array = new Texture2DArray(width, height, slices.Length, format, true, linear);
            array.wrapMode = TextureWrapMode.Clamp;
            array.filterMode = FilterMode.Bilinear;
            for (int k = 0; k < slices.Length; k++)
            {
                if (slices[k].width != width || slices[k].height != height)
                {
                    throw new InvalidDataException(string.Format(
                        "PromptFace: {0} is {1}x{2}, the export's other textures {3}x{4}; texture arrays need one size",
                        slices[k].name, slices[k].width, slices[k].height, width, height));
                }
                array.SetPixels32(slices[k].GetPixels32(0), k, 0);  // into R8 it keeps the red channel
            }
            array.Apply(true, false);  // mip maps from level 0; the pixels stay in memory so the asset keeps them
            return array;
        }

        /// <summary>The face shader of the project's pipeline: URP when a render pipeline asset is set, else Built-in.
        /// </summary>
        public static Shader FaceShader()
        {
            string name = GraphicsSettings.currentRenderPipeline != null ? UrpShaderName : BuiltinShaderName;
            Shader shader = Shader.Find(name);
            if (shader == null)
            {
                throw new InvalidOperationException("PromptFace: shader '" + name + "' was not found; is the " +
                                                    "com.promptface.face package installed whole?");
            }
            return shader;
        }

        static bool BuildController(PromptFaceSidecar sidecar)
        {
            if (AssetDatabase.LoadAssetAtPath<AnimatorController>(ControllerPath(sidecar)) != null)
            {
                return false;
            }
            AnimationClip clip = ImportedClip(sidecar.ModelPath);
            if (clip == null)
            {
                return false;  // no baked curves: nothing to play
            }
            AnimatorController.CreateAnimatorControllerAtPathWithClip(ControllerPath(sidecar), clip);
            return true;
        }

        static AnimationClip ImportedClip(string modelPath)
        {
            foreach (UnityEngine.Object asset in AssetDatabase.LoadAllAssetsAtPath(modelPath))
            {
                var clip = asset as AnimationClip;
                if (clip != null && !clip.name.StartsWith("__preview__", StringComparison.Ordinal))
                {
                    return clip;
                }
            }
            return null;
        }

        static Texture2D LoadTexture(string assetPath)
        {
            var texture = AssetDatabase.LoadAssetAtPath<Texture2D>(assetPath);
            if (texture == null)
            {
                throw new FileNotFoundException("PromptFace: " + assetPath + " is missing or not imported as a texture",
                                                assetPath);
            }
            return texture;
        }

        /// <summary>Keep the asset (and its GUID, which the material references) when it exists; copy the new pixels
        /// into it.</summary>
        static Texture2DArray SaveArray(Texture2DArray fresh, string assetPath)
        {
            var existing = AssetDatabase.LoadAssetAtPath<Texture2DArray>(assetPath);
            if (existing == null)
            {
                AssetDatabase.CreateAsset(fresh, assetPath);
                return fresh;
            }
            EditorUtility.CopySerialized(fresh, existing);
            UnityEngine.Object.DestroyImmediate(fresh);
            EditorUtility.SetDirty(existing);
            return existing;
        }

        static string BesideModel(PromptFaceSidecar sidecar, string suffix)
        {
            string model = sidecar.ModelPath;
            return model.Substring(0, model.Length - Path.GetExtension(model).Length) + suffix;
        }
    }
}
