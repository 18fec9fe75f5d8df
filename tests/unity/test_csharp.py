"""The Unity package's C# compiles against the stubbed Unity API, and its editor code makes the import choices the
export relies on. The stubs prove signatures and types, not Unity's behaviour (see unity_api_stubs/)."""
import json
import re

import pytest
from csharp_build import PACKAGE, STUBS, CompileError, compile_csharp

from addon.core.unity_sidecar import SIDECAR_SCHEMA


def test_the_package_compiles_as_its_assembly_definitions_split_it(assemblies):
    for assembly in (assemblies.runtime, assemblies.editor, assemblies.harness):
        assert assembly.is_file()


def test_a_compile_error_fails(assemblies, tmp_path):
    broken = tmp_path / "Broken.cs"
    broken.write_text((PACKAGE / "Runtime" / "BlendShapes.cs").read_text().replace("Mathf.Clamp01", "Mathf.Clamp1"))
    with pytest.raises(CompileError, match="Clamp1"):
        compile_csharp([broken], tmp_path / "Broken.dll", [assemblies.unity_engine])


def test_the_runtime_assembly_cannot_use_the_editor_api(assemblies, tmp_path):
    """A player build has no UnityEditor: the runtime assembly is compiled without it, so using it fails here."""
    leaky = tmp_path / "Leaky.cs"
    leaky.write_text("public static class Leaky {\n"
                     "    public static void Save() { UnityEditor.AssetDatabase.SaveAssets(); }\n}\n")
    with pytest.raises(CompileError, match="UnityEditor"):
        compile_csharp([leaky], tmp_path / "Leaky.dll", [assemblies.unity_engine])


def test_stubs_are_named_and_marked_as_stubs():
    for stub in STUBS.glob("*.cs"):
        assert stub.stem.endswith("Stubs")
        assert stub.read_text().startswith("// STUB, NOT UNITY")


def test_package_manifest_and_assembly_definitions():
    manifest = json.loads((PACKAGE / "package.json").read_text())
    assert manifest["name"] == "com.promptface.face"
    assert manifest["unity"] == "2022.3"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    runtime = json.loads((PACKAGE / "Runtime" / "PromptFace.Runtime.asmdef").read_text())
    editor = json.loads((PACKAGE / "Editor" / "PromptFace.Editor.asmdef").read_text())
    assert runtime["name"] == "PromptFace.Runtime" and runtime["includePlatforms"] == []
    assert editor["name"] == "PromptFace.Editor"
    assert editor["includePlatforms"] == ["Editor"]
    assert editor["references"] == ["PromptFace.Runtime"]


def settings(lines: list[str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in lines)


def test_model_import_settings(assemblies):
    applied = settings(assemblies.run("settings"))
    # Blendshapes, metres, and normals: Blender writes zero normal deltas for every shape, so Unity must calculate
    # blendshape normals from the smoothing groups rather than import the zeros.
    assert applied["importBlendShapes"] == "True"
    assert applied["importBlendShapeNormals"] == "Calculate"
    assert applied["normalSmoothingSource"] == "FromSmoothingGroups"
    assert applied["importNormals"] == "Import"
    assert (applied["useFileScale"], applied["globalScale"]) == ("True", "1")
    # Rest pose neutral; the clip drives the weights.
    assert applied["importBlendShapeDeformPercent"] == "False"
    # One Generic clip from the baked curves, uncompressed, over the sidecar's frames, looping.
    assert (applied["importAnimation"], applied["animationType"], applied["animationCompression"]) == \
        ("True", "Generic", "Off")
    assert applied["materialImportMode"] == "None"
    assert applied["clips"] == "1" and applied["clips_without_take"] == "0"
    assert (applied["clip.name"], applied["clip.takeName"]) == ("face", "Scene")
    assert (applied["clip.firstFrame"], applied["clip.lastFrame"], applied["clip.loopTime"]) == ("1", "73", "True")


def test_the_component_keeps_what_other_components_set_in_the_property_block(assemblies):
    """The renderer has one property block for every component: PromptFaceBlend reads it, changes only its weight
    vectors and writes it back, and when disabled hands its weights back to the material's values."""
    block = settings(line.replace(" ", ".", 1) for line in assemblies.run("block"))
    assert block["applied._OtherTint"] == "0.75"  # another component's value, set before our update
    assert block["applied._ExpressionWeights0.x"] == "0.5"  # blendshape "happy" at 50
    assert block["disabled._OtherTint"] == "0.75"
    assert block["disabled._ExpressionWeights0.x"] == "0.125"  # the material's own value


def test_masks_are_single_channel_r8(assemblies):
    """A mask is one byte a texel: the PNG imports as one channel, the array the shaders sample is R8 (they read .r)."""
    assert settings(assemblies.run("arrays")) == {"expressions": "RGBA32", "masks": "R8", "no masks": "R8"}
    applied = settings(line.replace(" ", ".", 1) for line in assemblies.run("textures"))
    assert (applied["mask.textureType"], applied["mask.singleChannelComponent"]) == ("SingleChannel", "Red")
    assert applied["texture.textureType"] == "Default"


def test_texture_import_settings(assemblies):
    applied = settings(line.replace(" ", ".", 1) for line in assemblies.run("textures"))
    assert applied["texture.sRGBTexture"] == "True" and applied["mask.sRGBTexture"] == "False"
    for kind in ("texture", "mask"):
        assert applied[f"{kind}.isReadable"] == "True"  # copied into the Texture2DArrays by the editor
        assert applied[f"{kind}.textureCompression"] == "Uncompressed"
        assert applied[f"{kind}.wrapMode"] == "Clamp"
        assert applied[f"{kind}.npotScale"] == "None"


JSON_TO_CSHARP = {"string": "String", "number": "Single", "integer": "Int32"}


def schema_fields(schema: dict, prefix: str) -> dict[str, str]:
    """Dotted field → the C# type JsonUtility needs to read it, from the JSON schema."""
    fields = {}
    for name, child in schema["properties"].items():
        path = f"{prefix}.{name}"
        kind = child.get("type", "string")  # `const` strings carry no type
        if kind == "object":
            fields[path] = "object"
            fields.update(schema_fields(child, path))
        elif kind == "array" and isinstance(child["items"], dict) and child["items"].get("type") == "object":
            fields[path] = "object[]"
            fields.update(schema_fields(child["items"], path))
        elif kind == "array":  # of values: `items`, or for a fixed list (rig.shapes) its `prefixItems`
            element = child["items"] if isinstance(child["items"], dict) else child["prefixItems"][0]
            fields[path] = JSON_TO_CSHARP[element.get("type", "string")] + "[]"
        else:
            fields[path] = JSON_TO_CSHARP[kind]
    return fields


def test_the_csharp_sidecar_reads_every_field_of_the_schema(assemblies):
    """JsonUtility fills fields by name and silently leaves a misnamed one empty, so names and types must agree."""
    fields = settings(assemblies.run("sidecar"))
    expected = schema_fields(SIDECAR_SCHEMA, "PromptFaceSidecar")
    assert sorted(fields) == sorted(expected)
    for path, kind in expected.items():
        if kind == "object":
            assert fields[path][0].isupper() and not fields[path].endswith("[]"), path
        elif kind == "object[]":
            assert fields[path].endswith("[]") and fields[path][0].isupper(), path
        else:
            assert fields[path] == kind, path


def test_sidecar_paths_and_versions(assemblies):
    lines = assemblies.run("paths")
    assert "Assets/Faces/face.fbx -> Assets/Faces/face.promptface.json" in lines
    assert "Assets/a.b/Face.FBX -> Assets/a.b/Face.promptface.json" in lines
    assert "face.fbx -> face.promptface.json" in lines
    assert [line for line in lines if line.startswith("major")] == \
        ["major(1.0)=1", "major(1.7)=1", "major(2.0)=2", "major(x)=-1", "major()=-1"]
