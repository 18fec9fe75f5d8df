// STUB, NOT UNITY: a compile-time stand-in for the few members of UnityEngine that unity_export/ uses, with the
// signatures of Unity 2022.3 / Unity 6, so that Debian's mcs can compile the package without Unity. The bodies do only
// what the tests' harness needs (store and return values); they say nothing about how Unity behaves. The one exception
// is JsonUtility.FromJson, a small JSON reader that fills fields by name the way Unity's documentation describes, so
// the harness can read the sidecars PromptFace writes.
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

        public string GetBlendShapeName(int shapeIndex) { return blendShapes[shapeIndex]; }

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

    /// <summary>FromJson as Unity documents it: public fields (and [SerializeField] ones) filled by name, keys the
    /// type lacks ignored, numbers into float or int fields, arrays of values or of [Serializable] classes. A
    /// [Serializable] class field the JSON lacks is an empty instance, as Unity's serializer keeps no null for custom
    /// classes; arrays and strings the JSON lacks keep their initial values. Malformed JSON: ArgumentException.
    /// </summary>
    public static class JsonUtility
    {
        public static T FromJson<T>(string json)
        {
            var reader = new StubJsonReader(json);
            object value = reader.ReadValue();
            reader.ExpectEnd();
            return (T)Fill(typeof(T), value);
        }

        static object Fill(Type type, object value)
        {
            if (value == null) return type.IsValueType ? Activator.CreateInstance(type) : null;
            if (type == typeof(string)) return (string)value;
            if (type == typeof(float)) return (float)(double)value;
            if (type == typeof(int)) return (int)(double)value;
            if (type == typeof(bool)) return (bool)value;
            if (type.IsArray)
            {
                var items = (List<object>)value;
                Array array = Array.CreateInstance(type.GetElementType(), items.Count);
                for (int i = 0; i < items.Count; i++) array.SetValue(Fill(type.GetElementType(), items[i]), i);
                return array;
            }
            var fields = (Dictionary<string, object>)value;
            object target = Activator.CreateInstance(type, true);
            foreach (FieldInfo field in SerializedFields(type))
            {
                object fieldValue;
                if (fields.TryGetValue(field.Name, out fieldValue)) field.SetValue(target, Fill(field.FieldType, fieldValue));
                else if (IsCustomClass(field.FieldType) && field.GetValue(target) == null)
                    field.SetValue(target, Fill(field.FieldType, new Dictionary<string, object>()));
            }
            return target;
        }

        static IEnumerable<FieldInfo> SerializedFields(Type type)
        {
            foreach (FieldInfo field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            {
                if (field.IsPublic || field.IsDefined(typeof(SerializeField), false)) yield return field;
            }
        }

        static bool IsCustomClass(Type type)
        {
            return type.IsClass && !type.IsArray && type != typeof(string) && type.IsDefined(typeof(SerializableAttribute), false);
        }
    }

    /// <summary>JSON text → Dictionary&lt;string, object&gt;, List&lt;object&gt;, string, double, bool or null.</summary>
    sealed class StubJsonReader
    {
        readonly string text;
        int position;

        public StubJsonReader(string text) { this.text = text ?? ""; }

        public void ExpectEnd()
        {
            SkipSpace();
            if (position != text.Length) throw Error("text after the JSON value");
        }

        public object ReadValue()
        {
            SkipSpace();
            if (position >= text.Length) throw Error("a value was expected");
            char next = text[position];
            if (next == '{') return ReadObject();
            if (next == '[') return ReadArray();
            if (next == '"') return ReadString();
            if (Take("true")) return true;
            if (Take("false")) return false;
            if (Take("null")) return null;
            return ReadNumber();
        }

        Dictionary<string, object> ReadObject()
        {
            var fields = new Dictionary<string, object>();
            position++;
            SkipSpace();
            if (Take("}")) return fields;
            do
            {
                SkipSpace();
                string key = ReadString();
                SkipSpace();
                if (!Take(":")) throw Error("':' was expected");
                fields[key] = ReadValue();
                SkipSpace();
            } while (Take(","));
            if (!Take("}")) throw Error("'}' was expected");
            return fields;
        }

        List<object> ReadArray()
        {
            var items = new List<object>();
            position++;
            SkipSpace();
            if (Take("]")) return items;
            do
            {
                items.Add(ReadValue());
                SkipSpace();
            } while (Take(","));
            if (!Take("]")) throw Error("']' was expected");
            return items;
        }

        string ReadString()
        {
            if (!Take("\"")) throw Error("a string was expected");
            var result = new System.Text.StringBuilder();
            while (position < text.Length && text[position] != '"')
            {
                char c = text[position++];
                if (c != '\\') { result.Append(c); continue; }
                if (position >= text.Length) break;
                char escaped = text[position++];
                switch (escaped)
                {
                    case 'n': result.Append('\n'); break;
                    case 't': result.Append('\t'); break;
                    case 'r': result.Append('\r'); break;
                    case 'b': result.Append('\b'); break;
                    case 'f': result.Append('\f'); break;
                    case 'u':
                        result.Append((char)Convert.ToInt32(text.Substring(position, 4), 16));
                        position += 4;
                        break;
                    default: result.Append(escaped); break;
                }
            }
            if (!Take("\"")) throw Error("unterminated string");
            return result.ToString();
        }

        double ReadNumber()
        {
            int start = position;
            while (position < text.Length && "+-0123456789.eE".IndexOf(text[position]) >= 0) position++;
            double number;
            if (!double.TryParse(text.Substring(start, position - start), System.Globalization.NumberStyles.Float,
                                 System.Globalization.CultureInfo.InvariantCulture, out number))
                throw Error("a number was expected");
            return number;
        }

        bool Take(string token)
        {
            if (string.CompareOrdinal(text, position, token, 0, token.Length) != 0) return false;
            position += token.Length;
            return true;
        }

        void SkipSpace()
        {
            while (position < text.Length && char.IsWhiteSpace(text[position])) position++;
        }

        ArgumentException Error(string what) { return new ArgumentException("JSON parse error at " + position + ": " + what); }
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
    public sealed class DefaultExecutionOrder : Attribute
    {
        public DefaultExecutionOrder(int order) { }
    }

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
