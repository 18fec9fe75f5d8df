// Runs the package's own C# (compiled against the stubs in unity_api_stubs/) on inputs from the tests and prints
// what it computed, one value per line, for tests/unity to compare with the numpy mirror and the schema.
//
//   weights     stdin: the mesh's blendshape names (comma-separated), their weights 0-100 (space-separated), the
//               component's expression names (comma-separated); stdout: the MaxExpressions shader weights from the
//               renderer's MaterialPropertyBlock, as the component leaves them after Apply().
//   limits      stdout: "MaxExpressions=N" and "WeightProperties=NAME,NAME,..." of the PromptFaceBlend component.
//   settings    stdout: "name=value" for every ModelImporter setting ApplyToModel makes, and the clip Clips makes
//               for frames 1..73 of a take.
//   block       stdout: "stage name=value" for the renderer's property block after Apply() and after the component
//               is disabled, where another component had set _OtherTint in that block and the material holds its own
//               _ExpressionWeights0.
//   textures    stdout: "kind name=value" for a colour texture and a mask after ApplyToTexture.
//   arrays      stdout: "array=format" for the texture arrays the editor builds: expressions, masks, no masks.
//   sidecar     stdout: "Class.field=type" for every field JsonUtility would fill in PromptFaceSidecar.
//   paths       stdout: the sidecar path of a few model paths and the major version of a few version strings.
//   arkit-order stdout: ArkitShapes.Names, one a line.
//   arkit-names stdin: one name a line; stdout: "name<TAB>canonical name (empty for none)<TAB>ARKit index".
//   face        stdin: a sidecar file's path, the mesh's blendshape names (comma-separated), then one operation a
//               line on the PromptFaceArkit component the importer's ConfigureModel added (set NAME W, tryset NAME W,
//               setmany N1=W1;N2=W2, index I W, get NAME, getindex I, has NAME, pose NAME, reset); stdout: what the
//               import configured ("sidecar ...", "components ..."), "get"/"tryset"/"has" results, "error OP: TYPE:
//               MESSAGE" for an operation that threw, warnings, then every blendshape's weight (0-100) and the
//               MaxExpressions shader weights after PromptFaceBlend.Apply(). A sidecar the package refuses: "refused MESSAGE".
using System;
using System.Globalization;
using System.Reflection;
using PromptFace;
using PromptFace.Editor;
using UnityEditor;
using UnityEngine;

public static class PromptFaceHarness
{
    public static int Main(string[] args)
    {
        switch (args.Length == 1 ? args[0] : "")
        {
            case "weights": Weights(); return 0;
            case "limits": Limits(); return 0;
            case "block": PropertyBlock(); return 0;
            case "arrays": Arrays(); return 0;
            case "settings": Settings(); return 0;
            case "textures": Textures(); return 0;
            case "sidecar": SidecarFields(typeof(PromptFaceSidecar), "PromptFaceSidecar"); return 0;
            case "paths": Paths(); return 0;
            case "arkit-order": foreach (string name in ArkitShapes.Names) Console.WriteLine(name); return 0;
            case "arkit-names": ArkitNames(); return 0;
            case "face": Face(); return 0;
            default: Console.Error.WriteLine("usage: PromptFaceHarness.exe weights|limits|block|settings|textures|arrays|sidecar|paths|arkit-order|arkit-names|face"); return 2;
        }
    }

    static void Weights()
    {
        string[] meshNames = Split(Console.ReadLine(), ',');
        string[] percents = Split(Console.ReadLine(), ' ');
        string[] expressions = Split(Console.ReadLine(), ',');
        var mesh = new Mesh { name = "PromptFace" };
        var renderer = new GameObject().AddComponent<SkinnedMeshRenderer>();
        renderer.sharedMesh = mesh;
        for (int i = 0; i < meshNames.Length; i++)
        {
            mesh.AddBlendShapeFrame(meshNames[i], 100f, null, null, null);
            renderer.SetBlendShapeWeight(i, float.Parse(percents[i], CultureInfo.InvariantCulture));
        }
        var blend = new GameObject().AddComponent<PromptFaceBlend>();
        blend.Configure(renderer, expressions);
        blend.Apply();
        var block = new MaterialPropertyBlock();
        renderer.GetPropertyBlock(block);
        foreach (string property in PromptFaceBlend.WeightProperties)
        {
            Vector4 packed = block.GetVector(Shader.PropertyToID(property));
            foreach (float weight in new[] { packed.x, packed.y, packed.z, packed.w })
            {
                Console.WriteLine(weight.ToString("R", CultureInfo.InvariantCulture));
            }
        }
    }

    static void Limits()
    {
        Console.WriteLine("MaxExpressions=" + PromptFaceBlend.MaxExpressions);
        Console.WriteLine("WeightProperties=" + string.Join(",", PromptFaceBlend.WeightProperties));
    }

    static void PropertyBlock()
    {
        var mesh = new Mesh { name = "PromptFace" };
        mesh.AddBlendShapeFrame("happy", 100f, null, null, null);
        var renderer = new GameObject().AddComponent<SkinnedMeshRenderer>();
        renderer.sharedMesh = mesh;
        renderer.SetBlendShapeWeight(0, 50f);
        int weights0 = Shader.PropertyToID(PromptFaceBlend.WeightProperties[0]);
        renderer.sharedMaterial = new Material((Shader)null);
        renderer.sharedMaterial.SetVector(weights0, new Vector4(0.125f, 0f, 0f, 0f));
        int tint = Shader.PropertyToID("_OtherTint");
        var other = new MaterialPropertyBlock();
        other.SetFloat(tint, 0.75f);
        renderer.SetPropertyBlock(other);

        var blend = new GameObject().AddComponent<PromptFaceBlend>();
        blend.Configure(renderer, new[] { "happy" });
        blend.Apply();
        PrintBlock("applied", renderer, tint, weights0);
        blend.enabled = false;
        PrintBlock("disabled", renderer, tint, weights0);
    }

    static void PrintBlock(string stage, Renderer renderer, int tint, int weights0)
    {
        var block = new MaterialPropertyBlock();
        renderer.GetPropertyBlock(block);
        Console.WriteLine(stage + " _OtherTint=" + block.GetFloat(tint).ToString("R", CultureInfo.InvariantCulture));
        Console.WriteLine(stage + " _ExpressionWeights0.x=" +
                          block.GetVector(weights0).x.ToString("R", CultureInfo.InvariantCulture));
    }

    static void Arrays()
    {
        var slices = new[] { new Texture2D(4, 4), new Texture2D(4, 4) };
        Console.WriteLine("expressions=" + PromptFaceAssets.BuildExpressionArray(slices).format);
        Console.WriteLine("masks=" + PromptFaceAssets.BuildMaskArray(slices).format);
        Console.WriteLine("no masks=" + PromptFaceAssets.BuildMaskArray(new Texture2D[0]).format);
    }

    static void Settings()
    {
        var importer = new ModelImporter();
        PromptFaceImportSettings.ApplyToModel(importer);
        PrintProperties("", importer, typeof(ModelImporter));
        var sidecar = new PromptFaceSidecar { timeline = new PromptFaceSidecar.Timeline { fps = 30f, frame_start = 1, frame_end = 73 } };
        var take = new ModelImporterClipAnimation { name = "Scene", takeName = "Scene", firstFrame = 0f, lastFrame = 80f };
        ModelImporterClipAnimation[] clips = PromptFaceImportSettings.Clips(new[] { take }, sidecar, "face");
        Console.WriteLine("clips=" + clips.Length);
        PrintProperties("clip.", clips[0], typeof(ModelImporterClipAnimation));
        Console.WriteLine("clips_without_take=" + PromptFaceImportSettings.Clips(new ModelImporterClipAnimation[0], sidecar, "face").Length);
    }

    static void Textures()
    {
        var colour = new TextureImporter();
        PromptFaceImportSettings.ApplyToTexture(colour, false, true);
        PrintProperties("texture ", colour, typeof(TextureImporter));
        var mask = new TextureImporter();
        PromptFaceImportSettings.ApplyToTexture(mask, true, true);
        PrintProperties("mask ", mask, typeof(TextureImporter));
        foreach (var importer in new[] { colour, mask })
        {
            var settings = new TextureImporterSettings();
            importer.ReadTextureSettings(settings);
            Console.WriteLine((importer == colour ? "texture" : "mask") + " singleChannelComponent=" +
                              settings.singleChannelComponent);
        }
    }

    static void SidecarFields(Type type, string prefix)
    {
        foreach (FieldInfo field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
        {
            Type fieldType = field.FieldType.IsArray ? field.FieldType.GetElementType() : field.FieldType;
            string suffix = field.FieldType.IsArray ? "[]" : "";
            Console.WriteLine(prefix + "." + field.Name + "=" + fieldType.Name + suffix);
            if (fieldType.IsClass && fieldType != typeof(string))
            {
                SidecarFields(fieldType, prefix + "." + field.Name);
            }
        }
    }

    static void Paths()
    {
        foreach (string model in new[] { "Assets/Faces/face.fbx", "Assets/a.b/Face.FBX", "face.fbx" })
        {
            Console.WriteLine(model + " -> " + PromptFaceSidecar.PathForModel(model));
        }
        foreach (string version in new[] { "1.0", "1.7", "2.0", "x", "" })
        {
            Console.WriteLine("major(" + version + ")=" + PromptFaceSidecar.MajorVersion(version));
        }
    }

    static void ArkitNames()
    {
        string line;
        while ((line = Console.ReadLine()) != null)
        {
            Console.WriteLine(line + "\t" + (ArkitShapes.CanonicalName(line) ?? "") + "\t" + ArkitShapes.IndexOf(line));
        }
    }

    static void Face()
    {
        Console.SetError(Console.Out);  // warnings in order with the rest
        string sidecarPath = Console.ReadLine();
        PromptFaceSidecar sidecar;
        try
        {
            sidecar = PromptFaceSidecar.Load(sidecarPath);
        }
        catch (System.IO.InvalidDataException error)
        {
            Console.WriteLine("refused " + error.Message);
            return;
        }
        var mesh = new Mesh { name = "Face" };
        string[] meshNames = Split(Console.ReadLine(), ',');
        foreach (string name in meshNames)
        {
            mesh.AddBlendShapeFrame(name, 100f, null, null, null);
        }
        var root = new GameObject();
        var renderer = root.AddComponent<SkinnedMeshRenderer>();
        renderer.sharedMesh = mesh;
        PromptFaceAssets.ConfigureModel(root, sidecar, null, null);
        Console.WriteLine("sidecar arkit=" + sidecar.IsArkitRig);
        Console.WriteLine("sidecar slots=" + string.Join(",", sidecar.BlendShapeNames()));
        Console.WriteLine("sidecar poses=" + string.Join(",", Array.ConvertAll(sidecar.Poses(), pose => pose.name)));
        var face = root.GetComponent<PromptFaceArkit>();
        Console.WriteLine("components PromptFaceArkit=" + (face != null));
        string line;
        while ((line = Console.ReadLine()) != null)
        {
            if (line.Length == 0) continue;
            try
            {
                FaceOperation(face, line.Split(' '));
            }
            catch (Exception error)
            {
                Console.WriteLine("error " + line + ": " + error.GetType().Name + ": " + error.Message.Split('\n')[0]);
            }
        }
        var blend = root.GetComponent<PromptFaceBlend>();
        blend.Apply();
        for (int i = 0; i < meshNames.Length; i++)
        {
            Console.WriteLine("blendshape " + meshNames[i] + "=" + Text(renderer.GetBlendShapeWeight(i)));
        }
        var block = new MaterialPropertyBlock();
        renderer.GetPropertyBlock(block);
        for (int i = 0; i < PromptFaceBlend.WeightProperties.Length; i++)
        {
            Vector4 packed = block.GetVector(Shader.PropertyToID(PromptFaceBlend.WeightProperties[i]));
            float[] weights = { packed.x, packed.y, packed.z, packed.w };
            for (int j = 0; j < 4; j++)
            {
                Console.WriteLine("shader " + (4 * i + j) + "=" + Text(weights[j]));
            }
        }
    }

    static void FaceOperation(PromptFaceArkit face, string[] words)
    {
        switch (words[0])
        {
            case "set": face.SetWeight(words[1], Number(words[2])); break;
            case "tryset": Console.WriteLine("tryset " + words[1] + "=" + face.TrySetWeight(words[1], Number(words[2]))); break;
            case "setmany": face.SetWeights(Weights(words[1])); break;
            case "index": face[int.Parse(words[1])] = Number(words[2]); break;
            case "get": Console.WriteLine("get " + words[1] + "=" + Text(face.GetWeight(words[1]))); break;
            case "getindex": Console.WriteLine("getindex " + words[1] + "=" + Text(face[int.Parse(words[1])])); break;
            case "has": Console.WriteLine("has " + words[1] + "=" + face.HasShape(words[1])); break;
            case "pose": face.ApplyPose(words[1]); break;
            case "reset": face.ResetWeights(); break;
            default: throw new ArgumentException("unknown operation " + words[0]);
        }
    }

    static System.Collections.Generic.Dictionary<string, float> Weights(string text)
    {
        var weights = new System.Collections.Generic.Dictionary<string, float>();
        foreach (string pair in text.Split(';'))
        {
            string[] parts = pair.Split('=');
            weights[parts[0]] = Number(parts[1]);
        }
        return weights;
    }

    static float Number(string text)
    {
        return float.Parse(text, CultureInfo.InvariantCulture);
    }

    static string Text(float value)
    {
        return value.ToString("R", CultureInfo.InvariantCulture);
    }

    static void PrintProperties(string prefix, object target, Type type)
    {
        foreach (PropertyInfo property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
        {
            object value = property.GetValue(target, null);
            if (value == null || value is Array) continue;
            string text = value is float ? ((float)value).ToString("R", CultureInfo.InvariantCulture) : value.ToString();
            Console.WriteLine(prefix + property.Name + "=" + text);
        }
    }

    static string[] Split(string line, char separator)
    {
        return string.IsNullOrEmpty(line) ? new string[0] : line.Split(separator);
    }
}
