// STUB, NOT UNITY: a compile-time stand-in for the few members of UnityEngine that unity_export/ uses, with the
// signatures of Unity 2022.3 / Unity 6, so that Debian's mcs can compile the package without Unity. The bodies do only
// what the tests' harness needs (store and return values); they say nothing about how Unity behaves.
using System;
using System.Collections.Generic;
using System.Reflection;

namespace UnityEngine
{
    public class Object
    {
        public string name { get; set; }

        public static void DestroyImmediate(Object obj) { }
    }

    public class Component : Object
    {
        public GameObject gameObject { get; internal set; }

        public T GetComponent<T>() where T : Component { return gameObject.GetComponent<T>(); }

        public T GetComponentInChildren<T>(bool includeInactive) where T : Component
        {
            return gameObject.GetComponentInChildren<T>(includeInactive);
        }
    }

    public class Behaviour : Component
    {
        bool isEnabled = true;

        /// <summary>As in Unity, a change sends the component's OnEnable or OnDisable message (a method of that
        /// name, private or not).</summary>
        public bool enabled
        {
            get { return isEnabled; }
            set
            {
                if (value == isEnabled) return;
                isEnabled = value;
                const BindingFlags anyInstance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
                MethodInfo message = GetType().GetMethod(value ? "OnEnable" : "OnDisable", anyInstance);
                if (message != null) message.Invoke(this, null);
            }
        }
    }

    public class MonoBehaviour : Behaviour { }

    public sealed class GameObject : Object
    {
        readonly List<Component> components = new List<Component>();

        public T AddComponent<T>() where T : Component
        {
            var component = (T)Activator.CreateInstance(typeof(T), true);
            component.gameObject = this;
            components.Add(component);
            return component;
        }

        public T GetComponent<T>() where T : Component
        {
            foreach (Component component in components)
            {
                if (component is T) return (T)component;
            }
            return null;
        }

        public T GetComponentInChildren<T>(bool includeInactive) where T : Component { return GetComponent<T>(); }
    }

    public class Renderer : Component
    {
        MaterialPropertyBlock block;

        public Material[] sharedMaterials { get; set; } = new Material[0];

        public Material sharedMaterial
        {
            get { return sharedMaterials.Length > 0 ? sharedMaterials[0] : null; }
            set { sharedMaterials = new[] { value }; }
        }

        public void GetPropertyBlock(MaterialPropertyBlock properties) { properties.CopyFrom(block); }

        public void SetPropertyBlock(MaterialPropertyBlock properties)
        {
            block = properties == null ? null : new MaterialPropertyBlock();
            if (block != null) block.CopyFrom(properties);
        }
    }

    public class SkinnedMeshRenderer : Renderer
    {
        readonly Dictionary<int, float> weights = new Dictionary<int, float>();

        public Mesh sharedMesh { get; set; }

        public float GetBlendShapeWeight(int index) { float weight; return weights.TryGetValue(index, out weight) ? weight : 0f; }

        public void SetBlendShapeWeight(int index, float value) { weights[index] = value; }
    }

    public sealed class Mesh : Object
    {
        readonly List<string> blendShapes = new List<string>();

        public int blendShapeCount { get { return blendShapes.Count; } }

        public int GetBlendShapeIndex(string blendShapeName) { return blendShapes.IndexOf(blendShapeName); }

        public void AddBlendShapeFrame(string shapeName, float frameWeight, Vector3[] deltaVertices,
                                       Vector3[] deltaNormals, Vector3[] deltaTangents)
        {
            blendShapes.Add(shapeName);
        }
    }

    public sealed class MaterialPropertyBlock
    {
        readonly Dictionary<int, Vector4> vectors = new Dictionary<int, Vector4>();
        readonly Dictionary<int, float> floats = new Dictionary<int, float>();

        public void SetVector(int nameID, Vector4 value) { vectors[nameID] = value; }

        public Vector4 GetVector(int nameID) { Vector4 value; return vectors.TryGetValue(nameID, out value) ? value : default(Vector4); }

        public void SetFloat(int nameID, float value) { floats[nameID] = value; }

        public float GetFloat(int nameID) { float value; return floats.TryGetValue(nameID, out value) ? value : 0f; }

        internal void CopyFrom(MaterialPropertyBlock other)
        {
            vectors.Clear();
            floats.Clear();
            if (other == null) return;
            foreach (KeyValuePair<int, Vector4> pair in other.vectors) vectors[pair.Key] = pair.Value;
            foreach (KeyValuePair<int, float> pair in other.floats) floats[pair.Key] = pair.Value;
        }
    }

    public class Material : Object
    {
        // Unity's HasProperty asks the shader; the stubs have no shaders, so a material "has" what was set on it.
        readonly Dictionary<int, Vector4> vectors = new Dictionary<int, Vector4>();

        public Material(Shader shader) { this.shader = shader; }

        public Shader shader { get; set; }

        public bool HasProperty(int nameID) { return vectors.ContainsKey(nameID); }

        public void SetVector(int nameID, Vector4 value) { vectors[nameID] = value; }

        public Vector4 GetVector(int nameID) { Vector4 value; return vectors.TryGetValue(nameID, out value) ? value : default(Vector4); }

        public void SetTexture(string name, Texture value) { }

        public void SetFloat(string name, float value) { }
    }

    public sealed class Shader : Object
    {
        static readonly Dictionary<string, int> ids = new Dictionary<string, int>();

        public static Shader Find(string name) { return null; }

        public static int PropertyToID(string name)
        {
            int id;
            if (!ids.TryGetValue(name, out id)) ids[name] = id = ids.Count + 1;
            return id;
        }
    }

    public class Texture : Object
    {
        public virtual int width { get; set; }
        public virtual int height { get; set; }
        public TextureWrapMode wrapMode { get; set; }
        public FilterMode filterMode { get; set; }
    }

    public sealed class Texture2D : Texture
    {
        public Texture2D(int width, int height) { this.width = width; this.height = height; }

        public Color32[] GetPixels32(int miplevel) { return new Color32[width * height]; }
    }

    public sealed class Texture2DArray : Texture
    {
        public Texture2DArray(int width, int height, int depth, TextureFormat textureFormat, bool mipChain, bool linear)
        {
            this.width = width;
            this.height = height;
            format = textureFormat;
        }

        public TextureFormat format { get; private set; }

        public void SetPixels32(Color32[] colors, int arrayElement, int miplevel) { }

        public void Apply(bool updateMipmaps, bool makeNoLongerReadable) { }
    }

    public enum TextureFormat { Alpha8 = 1, RGBA32 = 4, R8 = 63 }

    public enum TextureWrapMode { Repeat, Clamp, Mirror, MirrorOnce }

    public enum FilterMode { Point, Bilinear, Trilinear }

    public struct Color32
    {
        public byte r, g, b, a;

        public Color32(byte r, byte g, byte b, byte a) { this.r = r; this.g = g; this.b = b; this.a = a; }
    }

    public struct Vector3
    {
        public float x, y, z;
    }

    public struct Vector4
    {
        public float x, y, z, w;

        public Vector4(float x, float y, float z, float w) { this.x = x; this.y = y; this.z = z; this.w = w; }

        public static Vector4 zero { get { return new Vector4(0f, 0f, 0f, 0f); } }
    }

    public static class Mathf
    {
        public static float Clamp01(float value) { return value < 0f ? 0f : value > 1f ? 1f : value; }
    }

    public static class Debug
    {
        public static void LogWarning(object message, Object context) { Console.Error.WriteLine("warning: " + message); }

        public static void LogWarning(object message) { Console.Error.WriteLine("warning: " + message); }

        public static void LogError(object message) { Console.Error.WriteLine("error: " + message); }
    }

    public static class JsonUtility
    {
        public static T FromJson<T>(string json) { throw new NotSupportedException("stub: no JSON in the stubs"); }
    }

    public class RuntimeAnimatorController : Object { }

    public class Animator : Behaviour
    {
        public RuntimeAnimatorController runtimeAnimatorController { get; set; }
    }

    public sealed class AnimationClip : Object { }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class ExecuteAlways : Attribute { }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class DisallowMultipleComponent : Attribute { }

    [AttributeUsage(AttributeTargets.Class)]
    public sealed class AddComponentMenu : Attribute
    {
        public AddComponentMenu(string menuName) { }
    }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class SerializeField : Attribute { }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class TooltipAttribute : Attribute
    {
        public TooltipAttribute(string tooltip) { }
    }
}

namespace UnityEngine.Rendering
{
    public class RenderPipelineAsset : UnityEngine.Object { }

    public static class GraphicsSettings
    {
        public static RenderPipelineAsset currentRenderPipeline { get { return null; } }
    }
}
