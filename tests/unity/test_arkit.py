"""The package's ARKit rig support, run with mono against the stubs: a sidecar PromptFace writes is read (by the stubs'
JsonUtility), the importer's ConfigureModel recognises the rig and adds a PromptFaceArkit component, whose weights
(0-1, by ARKit name in any common spelling or by ARKit index) land ×100 on the blendshape of that name, whatever the
mesh's order or prefix; poses apply; and the textured shapes' texture weights follow the ARKit weights."""
import copy
import json
import math

import numpy as np
import pytest
from shader_mirror import blend, packed_weights
from sidecars import POSES, TEXTURED, rigged, sidecar, textured

from addon.core.arkit import ARKIT_SHAPES
from addon.core.errors import TakeError
from addon.core.face_takes import ARKIT_ALIASES, arkit_name
from addon.core.texture_blend import blend_textures
from addon.core.unity_sidecar import MAX_UNITY_EXPRESSIONS, sidecar_document


def write_sidecar(tmp_path, document: dict):
    path = tmp_path / "face.promptface.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def run_face(assemblies, sidecar_path, mesh_names: list[str], operations: list[str]) -> list[str]:
    stdin = "\n".join([str(sidecar_path), ",".join(mesh_names), *operations]) + "\n"
    return assemblies.run("face", stdin)


def values(lines: list[str], kind: str) -> dict[str, str]:
    """{name: value} of the output lines "kind name=value"."""
    return dict(line[len(kind) + 1:].split("=", 1) for line in lines if line.startswith(kind + " "))


def blendshape_weights(lines: list[str]) -> dict[str, float]:
    return {name: float(value) for name, value in values(lines, "blendshape").items()}


def shader_weights(lines: list[str]) -> np.ndarray:
    weights = values(lines, "shader")
    assert len(weights) == MAX_UNITY_EXPRESSIONS
    return np.array([float(weights[str(k)]) for k in range(MAX_UNITY_EXPRESSIONS)], np.float32)


def errors(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("error ")]


@pytest.fixture
def rig_sidecar(tmp_path):
    return write_sidecar(tmp_path, sidecar_document(rigged()))


# --- names --------------------------------------------------------------------------------------


def test_the_shapes_are_arkits_in_arkits_order(assemblies):
    assert assemblies.run("arkit-order") == list(ARKIT_SHAPES)


def python_name(variant: str) -> str | None:
    try:
        return arkit_name(variant)
    except TakeError:
        return None


NOT_SHAPES = ["headYaw", "HeadPitch", "_neutral", "", "eyeBlink", "eyeBlinkLeft_L", "eyeBlink_M", "mouthSmile_Middle",
              "jawOpen.weight", "eye.BlinkLeft", "tongue_Out", "happy"]


def test_the_csharp_aliases_are_the_take_readers(assemblies):
    """ArkitShapes mirrors addon/core/face_takes.py's arkit_name: every spelling in its table, in any case, with a
    dotted prefix (a blendshape node's or Unity's mesh name), and names that are none of the 52."""
    variants = [*ARKIT_ALIASES, *ARKIT_SHAPES, *NOT_SHAPES]
    variants += [v.upper() for v in ARKIT_ALIASES] + [f"blendShape2.{v}" for v in ARKIT_ALIASES]
    variants += [f"Face.{name}" for name in ARKIT_SHAPES] + [" eyeBlinkLeft ", "Face.Mesh.EyeBlink_L"]
    lines = assemblies.run("arkit-names", "\n".join(variants) + "\n")
    assert len(lines) == len(variants)
    for variant, line in zip(variants, lines, strict=True):
        echoed, canonical, index = line.split("\t")
        expected = python_name(variant)
        assert (echoed, canonical or None) == (variant, expected), variant
        assert int(index) == (ARKIT_SHAPES.index(expected) if expected else -1), variant


# --- the sidecar ----------------------------------------------------------------------------------


def test_an_arkit_sidecar_gets_the_arkit_component(assemblies, rig_sidecar):
    lines = run_face(assemblies, rig_sidecar, ["happy", "surprised", *ARKIT_SHAPES], [])
    assert values(lines, "sidecar") == {"arkit": "True", "slots": "happy,surprised,browInnerUp,tongueOut",
                                        "poses": ",".join(POSES)}
    assert values(lines, "components") == {"PromptFaceArkit": "True"}
    assert not [line for line in lines if line.startswith("warning")]  # every shape found


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_a_sidecar_without_a_rig_loads_as_before(assemblies, tmp_path, version):
    path = write_sidecar(tmp_path, {**sidecar_document(sidecar()), "version": version})
    lines = run_face(assemblies, path, ["happy", "surprised"], [])
    assert values(lines, "sidecar") == {"arkit": "False", "slots": "happy,surprised", "poses": ""}
    assert values(lines, "components") == {"PromptFaceArkit": "False"}


def rig_broken(change) -> dict:
    document = copy.deepcopy(sidecar_document(rigged()))
    change(document["rig"])
    return document


REFUSED_BY_THE_PACKAGE = {
    "51 shapes": (lambda r: r["shapes"].pop(), "ARKit's 52 blendshape names in ARKit's order"),
    "another order": (lambda r: r["shapes"].reverse(), "ARKit's 52 blendshape names in ARKit's order"),
    "another spelling": (lambda r: r["shapes"].__setitem__(0, "EyeBlinkLeft"), "in ARKit's order"),
    "another kind": (lambda r: r.update(kind="flame"), "rig kind 'flame' is not one this package knows"),
    "a textured shape that is no ARKit shape": (lambda r: r["textured"][0].update(blendshape="wrinkles"),
                                                "rig.textured may name only the rig's ARKit shapes"),
    "a textured shape without a mask": (lambda r: r["textured"][0].pop("mask"), "needs blendshape, texture and mask"),
    "a pose weight above 1": (lambda r: r["poses"][0]["weights"][0].update(weight=1.5), "ARKit shapes at weights 0-1"),
    "a pose of an unknown shape": (lambda r: r["poses"][0]["weights"][0].update(shape="smile"),
                                   "ARKit shapes at weights 0-1"),
    "one slot too many": (lambda r: r["textured"].extend(r["textured"][:1] * (MAX_UNITY_EXPRESSIONS - 3)),
                          f"at most {MAX_UNITY_EXPRESSIONS} blendshapes together, the shader's slots; got "
                          f"{MAX_UNITY_EXPRESSIONS + 1}"),
}


@pytest.mark.parametrize("change, message", REFUSED_BY_THE_PACKAGE.values(), ids=REFUSED_BY_THE_PACKAGE.keys())
def test_the_package_refuses_a_bad_rig(assemblies, tmp_path, change, message):
    lines = run_face(assemblies, write_sidecar(tmp_path, rig_broken(change)), list(ARKIT_SHAPES), [])
    assert len(lines) == 1 and lines[0].startswith("refused ") and message in lines[0], lines


# --- weights --------------------------------------------------------------------------------------

# Not ARKit's order, an expression among the shapes, Unity's mesh-name prefix on some, other tools' spellings on others.
SPECIAL = ["happy", "Face.tongueOut", "eyeBlink_L", "Face.jawOpen", "mouthSmile_R", "browInnerUp", "Face.cheekPuff"]
SPECIAL_SHAPES = {"tongueOut", "eyeBlinkLeft", "jawOpen", "mouthSmileRight", "browInnerUp", "cheekPuff"}
MESH = SPECIAL[:4] + [name for name in reversed(ARKIT_SHAPES) if name not in SPECIAL_SHAPES] + SPECIAL[4:]


def test_weights_land_times_100_on_the_blendshape_of_that_name(assemblies, rig_sidecar):
    lines = run_face(assemblies, rig_sidecar, MESH, [
        "set EyeBlinkLeft 0.5",  # Live Link Face's spelling; the mesh's is eyeBlink_L
        "set jawOpen 0.25",  # the mesh's is Face.jawOpen
        "set mouthSmileRight 1.5",  # clamped to 1
        "set blendShape2.browInnerUp 0.3",
        "set mouthClose -0.2",  # clamped to 0
        "index 51 0.4",  # tongueOut
        "index 7 0.2",  # eyeBlinkRight
        "setmany cheekPuff=0.6;noseSneer_L=0.1",
        "get eyeBlink_Left", "get Face.jawOpen", "getindex 17", "getindex 0", "get cheekPuff",
    ])
    assert errors(lines) == []
    expected = {name: 0.0 for name in MESH}
    expected.update({"eyeBlink_L": 50.0, "Face.jawOpen": 25.0, "mouthSmile_R": 100.0, "browInnerUp": 30.0,
                     "Face.tongueOut": 40.0, "eyeBlinkRight": 20.0, "Face.cheekPuff": 60.0, "noseSneerLeft": 10.0})
    assert blendshape_weights(lines) == pytest.approx(expected, abs=1e-5)
    read_back = {name: float(value) for name, value in {**values(lines, "get"), **values(lines, "getindex")}.items()}
    assert read_back == pytest.approx({"eyeBlink_Left": 0.5, "Face.jawOpen": 0.25, "17": 0.25, "0": 0.5,
                                       "cheekPuff": 0.6}, abs=1e-6)


def test_a_pose_sets_its_shapes_and_zeroes_the_others(assemblies, rig_sidecar):
    lines = run_face(assemblies, rig_sidecar, list(ARKIT_SHAPES), ["set eyeBlinkLeft 1", "set jawOpen 0.9",
                                                                   "pose viseme_aa"])
    expected = {name: 0.0 for name in ARKIT_SHAPES}
    expected.update({"jawOpen": 60.0, "mouthLowerDownLeft": 30.0, "mouthLowerDownRight": 30.0})
    assert blendshape_weights(lines) == pytest.approx(expected, abs=1e-5)
    lines = run_face(assemblies, rig_sidecar, list(ARKIT_SHAPES), ["pose viseme_aa", "pose happy"])
    expected = {name: 100.0 * POSES["happy"].get(name, 0.0) for name in ARKIT_SHAPES}
    assert blendshape_weights(lines) == pytest.approx(expected, abs=1e-5)
    lines = run_face(assemblies, rig_sidecar, list(ARKIT_SHAPES), ["pose happy", "pose viseme_sil"])
    assert set(blendshape_weights(lines).values()) == {0.0}


def test_names_and_values_that_are_no_weights_are_refused(assemblies, rig_sidecar):
    lines = run_face(assemblies, rig_sidecar, list(ARKIT_SHAPES), [
        "set headYaw 0.5", "tryset HeadYaw 0.5", "tryset JawOpen 0.5", "get smile",
        "setmany mouthClose=0.5;HeadYaw=0.1",  # checked first: mouthClose stays 0
        "set jawForward NaN", "index 52 0.5", "index -1 0.5", "pose frown",
    ])
    assert values(lines, "tryset") == {"HeadYaw": "False", "JawOpen": "True"}
    failures = errors(lines)
    assert [failure.split(":")[0] for failure in failures] == [
        "error set headYaw 0.5", "error get smile", "error setmany mouthClose=0.5;HeadYaw=0.1",
        "error set jawForward NaN", "error index 52 0.5", "error index -1 0.5", "error pose frown"]
    assert "ArgumentException: PromptFace: 'headYaw' is not one of the 52 ARKit blendshapes" in failures[0]
    assert "'HeadYaw' is not one of the 52" in failures[2]
    assert "ArgumentOutOfRangeException" in failures[4]
    assert f"no pose 'frown'; the rig's poses are: {', '.join(POSES)}" in failures[6]
    weights = blendshape_weights(lines)
    assert weights["jawOpen"] == pytest.approx(50.0) and weights["mouthClose"] == 0.0
    assert not any(math.isnan(weight) for weight in weights.values())


def test_shapes_the_mesh_lacks_stay_at_zero_with_one_warning(assemblies, rig_sidecar):
    lines = run_face(assemblies, rig_sidecar, ["happy", "jawOpen", "Face.eyeBlinkLeft"],
                     ["set tongueOut 1", "get tongueOut", "has tongueOut", "has eyeBlink_L", "set jawOpen 0.5"])
    warnings = [line for line in lines if line.startswith("warning") and "ARKit" in line]
    assert len(warnings) == 1 and "has no blendshape for 50 of the 52 ARKit shapes (eyeLookDownLeft," in warnings[0]
    assert values(lines, "get") == {"tongueOut": "0"}
    assert values(lines, "has") == {"tongueOut": "False", "eyeBlink_L": "True"}
    assert blendshape_weights(lines) == {"happy": 0.0, "jawOpen": 50.0, "Face.eyeBlinkLeft": 0.0}


def test_arkits_own_spelling_wins_over_another(assemblies, rig_sidecar):
    """An expression spelt like a shape (jawopen) does not take the shape's weights when the shape is there."""
    lines = run_face(assemblies, rig_sidecar, ["jawopen", "Face.jawOpen", "eyeblink_l"],
                     ["set jawOpen 0.5", "set eyeBlinkLeft 0.25"])
    assert blendshape_weights(lines) == {"jawopen": 0.0, "Face.jawOpen": 50.0, "eyeblink_l": 25.0}


# --- the texture blend ----------------------------------------------------------------------------


def test_the_textured_shapes_blend_from_the_arkit_weights(assemblies, rig_sidecar):
    """Slots: the expressions (happy, surprised), then the textured shapes (browInnerUp, tongueOut), whose weights are
    the ARKit weights, found by name like the expressions', prefix or not."""
    mesh = ["Face.tongueOut", "surprised", *[name for name in ARKIT_SHAPES if name != "tongueOut"], "happy"]
    lines = run_face(assemblies, rig_sidecar, mesh, ["set tongueOut 0.4", "set browInnerUp 0.9", "set jawOpen 1"])
    np.testing.assert_allclose(shader_weights(lines), [0, 0, 0.9, 0.4] + [0] * (MAX_UNITY_EXPRESSIONS - 4), atol=1e-7)
    lines = run_face(assemblies, rig_sidecar, mesh, ["pose viseme_TH"])  # tongueOut 0.4
    np.testing.assert_allclose(shader_weights(lines), [0, 0, 0, 0.4] + [0] * (MAX_UNITY_EXPRESSIONS - 4), atol=1e-7)


def test_arkit_weights_to_blended_texture_end_to_end(assemblies, rig_sidecar):
    """ARKit weights → blendshapes → PromptFaceBlend → the shader mirror equals the reference blend at those weights."""
    lines = run_face(assemblies, rig_sidecar, list(ARKIT_SHAPES), ["set browInnerUp 0.55", "set tongueOut 0.8"])
    slots = 2 + len(TEXTURED)
    rng = np.random.default_rng(5)
    base, textures = rng.random((6, 6, 3)), rng.random((slots, 6, 6, 3))
    masks = rng.choice([0.0, 0.6, 1.0], size=(slots, 6, 6))
    actual = blend(base, textures, masks, slots, *packed_weights(shader_weights(lines)), 0.35, 0.65)
    np.testing.assert_allclose(actual, blend_textures(base, textures, masks, [0.0, 0.0, 0.55, 0.8]), atol=2e-6)


def test_a_face_with_twenty_textured_shapes_blends_them_in_every_slot(assemblies, tmp_path):
    """An ARKit face's ~20 textured shapes (creases, tongue) after its prompts' expressions fill all the slots; the
    package takes the sidecar, and shapes past the first sixteen slots drive their own weights."""
    shapes = ARKIT_SHAPES[-20:]
    count = MAX_UNITY_EXPRESSIONS - len(shapes)
    document = sidecar_document(rigged(count, textured=textured(*shapes)))
    expressions = [expression["blendshape"] for expression in document["expressions"]]
    lines = run_face(assemblies, write_sidecar(tmp_path, document), [*expressions, *ARKIT_SHAPES],
                     [f"set {shapes[-1]} 0.7", f"set {shapes[16 - count]} 0.3", f"set {shapes[0]} 0.5"])
    assert errors(lines) == [] and not any(line.startswith("refused ") for line in lines), lines
    assert values(lines, "sidecar")["slots"] == ",".join([*expressions, *shapes])
    expected = np.zeros(MAX_UNITY_EXPRESSIONS, np.float32)
    expected[[count, 16, MAX_UNITY_EXPRESSIONS - 1]] = [0.5, 0.3, 0.7]
    np.testing.assert_allclose(shader_weights(lines), expected, atol=1e-7)
