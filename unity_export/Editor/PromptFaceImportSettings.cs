using UnityEditor;
using UnityEngine;

namespace PromptFace.Editor
{
    /// <summary>The import settings of a PromptFace export: the FBX and the PNGs its sidecar names.</summary>
    public static class PromptFaceImportSettings
    {
        /// <summary>Settings for the FBX: metres, blendshapes with computed normals, one Generic clip.</summary>
        public static void ApplyToModel(ModelImporter importer)
        {
            // The FBX is in metres (Y up, the face towards +Z): 1 Unity unit = 1 m.
            importer.useFileScale = true;
            importer.globalScale = 1f;
            importer.importBlendShapes = true;
            // The FBX's static DeformPercent is whatever frame Blender stood on at export; at rest the face is
            // neutral (weights 0) and the clip drives the weights.
            importer.importBlendShapeDeformPercent = false;
            importer.importNormals = ModelImporterNormals.Import;
            // Blender writes every blendshape's normal deltas as zeros, so importing them would light each
            // expression like the neutral face. Unity computes them from the shapes and the smoothing groups.
            importer.importBlendShapeNormals = ModelImporterNormals.Calculate;
            importer.normalSmoothingSource = ModelImporterNormalSmoothingSource.FromSmoothingGroups;
            // The package builds the material (a node-mixed Blender material exports without textures anyway).
            importer.materialImportMode = ModelImporterMaterialImportMode.None;
            importer.importCameras = false;
            importer.importLights = false;
            importer.importAnimation = true;
            importer.animationType = ModelImporterAnimationType.Generic;
            // Keys are baked on every frame; compression would move them off Blender's values.
            importer.animationCompression = ModelImporterAnimationCompression.Off;
        }

        /// <summary>One clip over the sidecar's frames, from the FBX's take (none when it has no animation).</summary>
        public static ModelImporterClipAnimation[] Clips(ModelImporterClipAnimation[] takes, PromptFaceSidecar sidecar,
                                                         string clipName)
        {
            if (takes == null || takes.Length == 0)
            {
                return new ModelImporterClipAnimation[0];
            }
            ModelImporterClipAnimation clip = takes[0];
            clip.name = clipName;
            clip.firstFrame = sidecar.timeline.frame_start;
            clip.lastFrame = sidecar.timeline.frame_end;
            clip.loopTime = true;
            return new[] { clip };
        }

        /// <summary>Settings for a PNG the sidecar names: exact texels the editor can copy into texture arrays.</summary>
        public static void ApplyToTexture(TextureImporter importer, bool isMask, bool copiedIntoArray)
        {
            // Masks are grey PNGs, kept as one channel (R8 uncompressed): a quarter of the memory of RGBA32.
            importer.textureType = isMask ? TextureImporterType.SingleChannel : TextureImporterType.Default;
            // Colour textures are sRGB; masks are data, read as stored (the reference maths' raw byte / 255).
            importer.sRGBTexture = !isMask;
            importer.isReadable = copiedIntoArray;
            importer.textureCompression = TextureImporterCompression.Uncompressed;
            importer.npotScale = TextureImporterNPOTScale.None;
            importer.mipmapEnabled = true;
            // A UV atlas does not tile: never blend in texels from the opposite edge.
            importer.wrapMode = TextureWrapMode.Clamp;
            if (isMask)
            {
                var settings = new TextureImporterSettings();
                importer.ReadTextureSettings(settings);
                settings.singleChannelComponent = TextureImporterSingleChannelComponent.Red;
                importer.SetTextureSettings(settings);
            }
        }
    }
}
