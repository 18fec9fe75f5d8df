// STUB, NOT UNITY: a compile-time stand-in for the few members of UnityEditor that unity_export/Editor uses, with the
// signatures of Unity 2022.3 / Unity 6. Importer settings are plain stored properties, so the tests' harness can read
// back what the package sets; nothing here imports, builds or saves anything.
using System;
using UnityEngine;

namespace UnityEditor
{
    public class AssetImporter : UnityEngine.Object
    {
        public string assetPath { get; set; }
    }

    public enum ModelImporterNormals { Import = 0, Calculate = 1, None = 2 }

    public enum ModelImporterNormalSmoothingSource { PreferSmoothingGroups = 0, FromSmoothingGroups = 1, FromAngle = 2, None = 3 }

    public enum ModelImporterMaterialImportMode { None = 0, ImportStandard = 1, ImportViaMaterialDescription = 2 }

    public enum ModelImporterAnimationType { None = 0, Legacy = 1, Generic = 2, Human = 3 }

    public enum ModelImporterAnimationCompression { Off = 0, KeyframeReduction = 1, KeyframeReductionAndCompression = 2, Optimal = 3 }

    public sealed class ModelImporterClipAnimation
    {
        public string name { get; set; }
        public string takeName { get; set; }
        public float firstFrame { get; set; }
        public float lastFrame { get; set; }
        public bool loopTime { get; set; }
    }

    public sealed class ModelImporter : AssetImporter
    {
        public bool useFileScale { get; set; }
        public float globalScale { get; set; }
        public bool importBlendShapes { get; set; }
        public bool importBlendShapeDeformPercent { get; set; }
        public ModelImporterNormals importNormals { get; set; }
        public ModelImporterNormals importBlendShapeNormals { get; set; }
        public ModelImporterNormalSmoothingSource normalSmoothingSource { get; set; }
        public ModelImporterMaterialImportMode materialImportMode { get; set; }
        public bool importCameras { get; set; }
        public bool importLights { get; set; }
        public bool importAnimation { get; set; }
        public ModelImporterAnimationType animationType { get; set; }
        public ModelImporterAnimationCompression animationCompression { get; set; }
        public ModelImporterClipAnimation[] clipAnimations { get; set; }
        public ModelImporterClipAnimation[] defaultClipAnimations { get; set; }
    }

    public enum TextureImporterType { Default = 0, SingleChannel = 10 }

    public enum TextureImporterSingleChannelComponent { Alpha = 0, Red = 1 }

    /// <summary>Unity's holds every texture import setting; these stubs carry the two that the package reads and writes
    /// through it.</summary>
    public sealed class TextureImporterSettings
    {
        public TextureImporterType textureType { get; set; }
        public TextureImporterSingleChannelComponent singleChannelComponent { get; set; }
    }

    public enum TextureImporterCompression { Uncompressed = 0, Compressed = 1 }

    public enum TextureImporterNPOTScale { None = 0, ToNearest = 1 }

    public sealed class TextureImporter : AssetImporter
    {
        public TextureImporterType textureType { get; set; }
        public bool sRGBTexture { get; set; }
        public bool isReadable { get; set; }
        public TextureImporterCompression textureCompression { get; set; }
        public TextureImporterNPOTScale npotScale { get; set; }
        public bool mipmapEnabled { get; set; }
        public TextureWrapMode wrapMode { get; set; }

        TextureImporterSingleChannelComponent singleChannelComponent;

        public void ReadTextureSettings(TextureImporterSettings dest)
        {
            dest.textureType = textureType;
            dest.singleChannelComponent = singleChannelComponent;
        }

        public void SetTextureSettings(TextureImporterSettings src)
        {
            textureType = src.textureType;
            singleChannelComponent = src.singleChannelComponent;
        }
    }

    public class AssetPostprocessor
    {
        public string assetPath { get; set; }
        public AssetImporter assetImporter { get; set; }
        public AssetImporters.AssetImportContext context { get; set; }

        public virtual uint GetVersion() { return 0; }
    }

    [Flags]
    public enum ImportAssetOptions { Default = 0, ForceUpdate = 1 }

    public static class AssetDatabase
    {
        public static T LoadAssetAtPath<T>(string assetPath) where T : UnityEngine.Object { return null; }

        public static UnityEngine.Object[] LoadAllAssetsAtPath(string assetPath) { return new UnityEngine.Object[0]; }

        public static void CreateAsset(UnityEngine.Object asset, string path) { }

        public static void SaveAssets() { }

        public static void ImportAsset(string path, ImportAssetOptions options) { }
    }

    public static class EditorUtility
    {
        public static void SetDirty(UnityEngine.Object target) { }

        public static void CopySerialized(UnityEngine.Object source, UnityEngine.Object dest) { }
    }
}

namespace UnityEditor.AssetImporters
{
    public class AssetImportContext
    {
        public void DependsOnSourceAsset(string path) { }
    }
}

namespace UnityEditor.Animations
{
    public sealed class AnimatorController : RuntimeAnimatorController
    {
        public static AnimatorController CreateAnimatorControllerAtPathWithClip(string path, AnimationClip clip)
        {
            return new AnimatorController();
        }
    }
}
