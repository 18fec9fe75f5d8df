"""The Unity shaders: the shared blend include compiles as HLSL (glslang's HLSL front end, Debian glslang-tools), and
the two .shader files agree with it and with the C# that feeds them. ShaderLab and Unity's shader libraries cannot be
compiled without Unity; these checks cover what can be read."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHADERS = ROOT / "unity_export" / "Shaders"
INCLUDE = SHADERS / "PromptFaceBlend.hlsl"
SHADER_FILES = [SHADERS / "PromptFaceBuiltin.shader", SHADERS / "PromptFaceURP.shader"]
COMPONENT = ROOT / "unity_export" / "Runtime" / "PromptFaceBlend.cs"
ASSETS = ROOT / "unity_export" / "Editor" / "PromptFaceAssets.cs"

# A fragment shader around the include, with the sampling macros defined the way the Built-in shader defines them.
ENTRY = """
Texture2DArray _ExpressionTextures; SamplerState sampler_ExpressionTextures;
Texture2DArray _ExpressionMasks; SamplerState sampler_ExpressionMasks;
cbuffer Material { float4 w0; float4 w1; float4 w2; float4 w3; float count; float edgeLow; float edgeHigh; };
#define PROMPTFACE_SAMPLE_EXPRESSION(k, uv, dx, dy) \\
    _ExpressionTextures.SampleGrad(sampler_ExpressionTextures, float3(uv, k), dx, dy).rgb
#define PROMPTFACE_SAMPLE_MASK(k, uv, dx, dy) \\
    _ExpressionMasks.SampleGrad(sampler_ExpressionMasks, float3(uv, k), dx, dy).r
#include "PromptFaceBlend.hlsl"
float4 main(float2 uv : TEXCOORD0) : SV_Target
{
    return float4(PromptFaceBlend(float3(0.5, 0.5, 0.5), uv, (int)count, w0, w1, w2, w3, edgeLow, edgeHigh), 1.0);
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


def test_the_shaders_have_the_properties_the_csharp_sets():
    builtin, urp = (shader_properties(shader.read_text()) for shader in SHADER_FILES)
    assert builtin == urp
    set_by_editor = re.findall(r'material\.Set(?:Texture|Float)\("(\w+)"', ASSETS.read_text())
    set_by_component = re.findall(r'"(_ExpressionWeights\d)"', COMPONENT.read_text())
    assert set_by_component == [f"_ExpressionWeights{i}" for i in range(4)]
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
