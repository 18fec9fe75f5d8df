"""The Unity shaders: the shared blend include compiles as HLSL (glslang's HLSL front end, Debian glslang-tools), and
the two .shader files agree with it and with the C# that feeds them, and the shader, the component and the sidecar
schema have the same number of texture slots. ShaderLab and Unity's shader libraries cannot be compiled without
Unity; these checks cover what can be read."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import shader_mirror

from addon.core.unity_sidecar import MAX_UNITY_EXPRESSIONS

ROOT = Path(__file__).resolve().parents[2]
SHADERS = ROOT / "unity_export" / "Shaders"
INCLUDE = SHADERS / "PromptFaceBlend.hlsl"
SHADER_FILES = [SHADERS / "PromptFaceBuiltin.shader", SHADERS / "PromptFaceURP.shader"]
ASSETS = ROOT / "unity_export" / "Editor" / "PromptFaceAssets.cs"

# A fragment shader around the include, with the sampling macros defined the way the Built-in shader defines them.
ENTRY = """
Texture2DArray _ExpressionTextures; SamplerState sampler_ExpressionTextures;
Texture2DArray _ExpressionMasks; SamplerState sampler_ExpressionMasks;
cbuffer Material
{
    float4 w0; float4 w1; float4 w2; float4 w3; float4 w4; float4 w5; float4 w6; float4 w7;
    float count; float edgeLow; float edgeHigh;
};
#define PROMPTFACE_SAMPLE_EXPRESSION(k, uv, dx, dy) \\
    _ExpressionTextures.SampleGrad(sampler_ExpressionTextures, float3(uv, k), dx, dy).rgb
#define PROMPTFACE_SAMPLE_MASK(k, uv, dx, dy) \\
    _ExpressionMasks.SampleGrad(sampler_ExpressionMasks, float3(uv, k), dx, dy).r
#include "PromptFaceBlend.hlsl"
float4 main(float2 uv : TEXCOORD0) : SV_Target
{
    float3 blended = PromptFaceBlend(float3(0.5, 0.5, 0.5), uv, (int)count, w0, w1, w2, w3, w4, w5, w6, w7, edgeLow,
                                     edgeHigh);
    return float4(blended, 1.0);
}
"""


def compile_hlsl(include_dir: Path, work: Path) -> subprocess.CompletedProcess:
    validator = shutil.which("glslangValidator")
    if validator is None:
        pytest.fail("`glslangValidator` is not installed: `apt-get install glslang-tools` (.ci/run installs it)")
    entry = work / "entry.hlsl"
    entry.write_text(ENTRY)
    return subprocess.run([validator, "-D", "-V", "-S", "frag", "-e", "main", f"-I{include_dir}", str(entry),
                           "-o", str(work / "entry.spv")], capture_output=True, text=True, timeout=60)


def test_the_blend_include_compiles_as_hlsl(tmp_path):
    run = compile_hlsl(SHADERS, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "entry.spv").stat().st_size > 0


def test_an_hlsl_error_fails(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / INCLUDE.name).write_text(INCLUDE.read_text().replace("saturate(blended)", "saturate(blended"))
    assert compile_hlsl(broken, tmp_path).returncode != 0


def shader_properties(text: str) -> list[str]:
    block = re.search(r"^\s*Properties\s*\{(.*?)^\s*\}", text, flags=re.MULTILINE | re.DOTALL).group(1)
    return re.findall(r"^\s*(?:\[[^\]]*\]\s*)*(_\w+)\s*\(", block, flags=re.MULTILINE)


def test_both_shaders_blend_with_the_include_and_define_its_sampling():
    for shader in SHADER_FILES:
        text = shader.read_text()
        assert '#include "PromptFaceBlend.hlsl"' in text, shader.name
        for macro in ("PROMPTFACE_SAMPLE_EXPRESSION(k, uv, dx, dy)", "PROMPTFACE_SAMPLE_MASK(k, uv, dx, dy)"):
            assert f"#define {macro}" in text, (shader.name, macro)
        assert "#pragma require 2darray" in text
        # The mask array is R8: its one channel is red.
        mask_samples = [body for body in re.findall(r"#define PROMPTFACE_SAMPLE_MASK\(k, uv, dx, dy\)(.*?)\n\s*#",
                                                    text, flags=re.DOTALL) if "SAMPLE" in body.upper()]
        assert mask_samples and all(body.rstrip().endswith(").r") for body in mask_samples), shader.name
        assert text.count("PromptFaceBlend(base, ") == 1, shader.name


def component_limits(assemblies) -> dict[str, str]:
    """The component's MaxExpressions and WeightProperties, as the compiled C# has them."""
    return dict(line.split("=", 1) for line in assemblies.run("limits"))


def include_slots() -> int:
    return int(re.search(r"^#define PROMPTFACE_MAX_EXPRESSIONS (\d+)$", INCLUDE.read_text(), flags=re.MULTILINE)
               .group(1))


def test_the_shader_the_component_and_the_sidecar_have_the_same_slots(assemblies):
    """One number on each side, the same number: the include's PROMPTFACE_MAX_EXPRESSIONS, the component's
    MaxExpressions (which the importer checks sidecars against), the exporter's MAX_UNITY_EXPRESSIONS (the schema's
    maxItems and the run-time check), and the numpy mirror's."""
    slots = include_slots()
    assert int(component_limits(assemblies)["MaxExpressions"]) == slots
    assert MAX_UNITY_EXPRESSIONS == slots
    assert shader_mirror.MAX_EXPRESSIONS == slots
    assert slots == 32 and slots % 4 == 0


def test_every_slot_has_a_weight_vector_lane_and_an_expression_count_that_reaches_it(assemblies):
    vectors = [f"_ExpressionWeights{i}" for i in range(include_slots() // 4)]
    assert component_limits(assemblies)["WeightProperties"].split(",") == vectors
    include = INCLUDE.read_text()
    assert all(f"float4 weights{i}" in include for i in range(len(vectors)))
    assert f"float4 weights{len(vectors)}" not in include
    for shader in SHADER_FILES:
        text = shader.read_text()
        assert [name for name in shader_properties(text) if name.startswith("_ExpressionWeights")] == vectors
        call = " ".join(text[text.index("PromptFaceBlend(base, "):].split(";", 1)[0].split())
        assert ", ".join(vectors) in call, shader.name
        assert re.search(rf'_ExpressionCount \("Expression Count", Range\(0, {include_slots()}\)\)', text), shader.name


def test_the_shaders_have_the_properties_the_csharp_sets(assemblies):
    builtin, urp = (shader_properties(shader.read_text()) for shader in SHADER_FILES)
    assert builtin == urp
    set_by_editor = re.findall(r'material\.Set(?:Texture|Float)\("(\w+)"', ASSETS.read_text())
    set_by_component = component_limits(assemblies)["WeightProperties"].split(",")
    assert set(set_by_editor) | set(set_by_component) <= set(builtin)
    assert {"_BaseMap", "_ExpressionTextures", "_ExpressionMasks", "_ExpressionCount", "_EdgeLow",
            "_EdgeHigh"} <= set(set_by_editor)


def test_the_urp_shader_keeps_every_material_property_in_the_per_material_buffer():
    """URP's SRP Batcher needs every non-texture property in CBUFFER UnityPerMaterial."""
    text = SHADER_FILES[1].read_text()
    buffer = text[text.index("CBUFFER_START(UnityPerMaterial)"):text.index("CBUFFER_END")]
    textures = {"_BaseMap", "_ExpressionTextures", "_ExpressionMasks"}
    for name in set(shader_properties(text)) - textures:
        assert re.search(rf"\b{name};", buffer), name
    assert "_BaseMap_ST;" in buffer


def test_the_urp_subshader_only_exists_where_urp_is_installed():
    text = SHADER_FILES[1].read_text()
    assert re.search(r'PackageRequirements\s*\{\s*"com\.unity\.render-pipelines\.universal"', text)
    assert '"RenderPipeline" = "UniversalPipeline"' in text
    assert "UnityPerMaterial" not in SHADER_FILES[0].read_text()
