"""The Unity sidecar (addon/core/unity_sidecar.py): what it writes holds to its schema, SIDECAR_SCHEMA, checked here by
the jsonschema package; the schema refuses what the Unity package cannot read; check_sidecar refuses at run time the
values a scene can get wrong. Version 1.1 adds an optional ARKit rig; 1.0 sidecars still validate."""
import copy
import dataclasses
import json

import jsonschema
import pytest

from sidecars import POSES, TEXTURED, rigged, sidecar, textured

from addon.core.arkit import ARKIT_SHAPES
from addon.core.errors import PromptFaceError
from addon.core.unity_sidecar import (MAX_UNITY_EXPRESSIONS, SIDECAR_SCHEMA, SidecarExpression, SidecarTimeline,
                                      sidecar_document, sidecar_json, sidecar_name)

VALIDATOR = jsonschema.Draft202012Validator(SIDECAR_SCHEMA)


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SIDECAR_SCHEMA)


def test_a_sidecar_round_trips_through_json_and_validates():
    text = sidecar_json(sidecar())
    document = json.loads(text)
    VALIDATOR.validate(document)
    assert document["format"] == "promptface.unity_face" and document["version"] == "1.1"
    assert "rig" not in document  # a face without a rig writes what 1.0 wrote
    assert document["expressions"][1] == {"blendshape": "surprised", "texture": "textures/surprised.texture.png",
                                          "mask": "textures/surprised.mask.png", "prompt": "surprised"}
    assert document["blend"] == {"edge_low": 0.35, "edge_high": 0.65}
    assert document["timeline"] == {"fps": 30, "frame_start": 1, "frame_end": 73, "length_s": 2.4}


def broken(change) -> dict:
    document = copy.deepcopy(sidecar_document(sidecar()))
    change(document)
    return document


REFUSED_BY_THE_SCHEMA = {
    "another format": (lambda d: d.update(format="promptface.expressions"), ["format"]),
    "major version 2": (lambda d: d.update(version="2.0"), ["version"]),
    "missing timeline": (lambda d: d.pop("timeline"), []),
    "unknown field": (lambda d: d.update(extra=1), []),
    "prefixed blendshape": (lambda d: d["expressions"][0].update(blendshape="PromptFace.happy"),
                            ["expressions", 0, "blendshape"]),
    "absolute texture": (lambda d: d["expressions"][0].update(texture="/tmp/happy.png"),
                         ["expressions", 0, "texture"]),
    "texture outside the folder": (lambda d: d["expressions"][0].update(mask="../happy.mask.png"),
                                   ["expressions", 0, "mask"]),
    "fbx in another folder": (lambda d: d.update(fbx="models/face.fbx"), ["fbx"]),
    "edge above 1": (lambda d: d["blend"].update(edge_high=1.5), ["blend", "edge_high"]),
    "fps 0": (lambda d: d["timeline"].update(fps=0), ["timeline", "fps"]),
    "frame as text": (lambda d: d["timeline"].update(frame_end="73"), ["timeline", "frame_end"]),
    "a boolean frame": (lambda d: d["timeline"].update(frame_start=True), ["timeline", "frame_start"]),
    "one expression more than the slots": (
        lambda d: d["expressions"].extend(d["expressions"][:1] * (MAX_UNITY_EXPRESSIONS - 1)), ["expressions"]),
}


@pytest.mark.parametrize("change, where", REFUSED_BY_THE_SCHEMA.values(), ids=REFUSED_BY_THE_SCHEMA.keys())
def test_the_schema_refuses_what_the_unity_package_cannot_read(change, where):
    errors = list(VALIDATOR.iter_errors(broken(change)))
    assert [list(error.absolute_path) for error in errors] == [where]


REFUSED_AT_RUN_TIME = {
    "fbx in another folder": (dict(fbx="models/face.fbx"), "must be a plain .fbx file name"),
    "prefixed blendshape": (dict(expressions=[SidecarExpression("PromptFace.happy", "textures/a.png",
                                                                "textures/b.png")]), "not an expression name"),
    "texture outside the folder": (dict(base_texture="../base_texture.png"), "inside the sidecar's folder"),
    "edges reversed": (dict(edge_low=0.7), "blend edges 0.7, 0.65 must rise"),
    "edge above 1": (dict(edge_high=1.5), "must rise within 0..1"),
    "end before start": (dict(timeline=SidecarTimeline(fps=30, frame_start=10, frame_end=0)), "run forwards"),
    "fps 0": (dict(timeline=SidecarTimeline(fps=0, frame_start=1, frame_end=2)), "positive frame rate"),
}


@pytest.mark.parametrize("changes, message", REFUSED_AT_RUN_TIME.values(), ids=REFUSED_AT_RUN_TIME.keys())
def test_a_broken_sidecar_is_refused_naming_the_problem(changes, message):
    with pytest.raises(PromptFaceError, match=message):
        sidecar_document(dataclasses.replace(sidecar(), **changes))


def test_a_blendshape_listed_twice_is_refused():
    twice = sidecar(1)
    with pytest.raises(PromptFaceError, match=r"more than once: \['happy'\]"):
        sidecar_document(dataclasses.replace(twice, expressions=twice.expressions * 2))


def test_thirty_two_expressions_at_most():
    assert MAX_UNITY_EXPRESSIONS == 32
    VALIDATOR.validate(sidecar_document(sidecar(32)))
    with pytest.raises(PromptFaceError, match="33 expressions; the Unity shader blends at most 32"):
        sidecar_document(sidecar(33))


def test_sidecar_name_follows_the_fbx():
    assert sidecar_name("face.fbx") == "face.promptface.json"
    assert sidecar_name("Shot 2.FBX") == "Shot 2.promptface.json"
    with pytest.raises(ValueError, match="end in .fbx"):
        sidecar_name("face.obj")


# --- the ARKit rig (1.1) ----------------------------------------------------------------------------


def test_a_1_0_sidecar_still_validates():
    """What version 1.0 wrote: no rig, version 1.0."""
    old = {**sidecar_document(sidecar()), "version": "1.0"}
    VALIDATOR.validate(old)


def test_an_arkit_rig_round_trips_through_json_and_validates():
    document = json.loads(sidecar_json(rigged()))
    VALIDATOR.validate(document)
    rig = document["rig"]
    assert rig["kind"] == "arkit" and rig["shapes"] == list(ARKIT_SHAPES)
    assert rig["textured"] == [
        {"blendshape": "browInnerUp", "texture": "textures/rig.browInnerUp.texture.png",
         "mask": "textures/rig.browInnerUp.mask.png"},
        {"blendshape": "tongueOut", "texture": "textures/rig.tongueOut.texture.png",
         "mask": "textures/rig.tongueOut.mask.png"}]
    poses = {pose["name"]: {w["shape"]: w["weight"] for w in pose["weights"]} for pose in rig["poses"]}
    assert poses == POSES and list(poses) == list(POSES)
    assert poses["viseme_sil"] == {}


def test_the_texture_slots_are_the_expressions_then_the_textured_shapes():
    assert rigged().texture_slots == ["happy", "surprised", "browInnerUp", "tongueOut"]
    assert sidecar().texture_slots == ["happy", "surprised"]


def broken_rig(change) -> dict:
    document = copy.deepcopy(sidecar_document(rigged()))
    change(document["rig"])
    return document


def swap_first_two(shapes: list) -> None:
    shapes[0], shapes[1] = shapes[1], shapes[0]


RIGS_REFUSED_BY_THE_SCHEMA = {
    "another kind": (lambda r: r.update(kind="flame"), [["rig", "kind"]]),
    "51 shapes": (lambda r: r["shapes"].pop(), [["rig", "shapes"]]),
    "53 shapes": (lambda r: r["shapes"].append("tongueIn"), [["rig", "shapes"]]),
    "an unknown name": (lambda r: r["shapes"].__setitem__(3, "eyeLookAway"), [["rig", "shapes", 3]]),
    "another spelling": (lambda r: r["shapes"].__setitem__(0, "eyeBlink_L"), [["rig", "shapes", 0]]),
    "another order": (lambda r: swap_first_two(r["shapes"]), [["rig", "shapes", 0], ["rig", "shapes", 1]]),
    "a textured shape that is no ARKit shape": (lambda r: r["textured"][0].update(blendshape="wrinkles"),
                                                [["rig", "textured", 0, "blendshape"]]),
    "a textured shape outside the folder": (lambda r: r["textured"][1].update(mask="../tongue.png"),
                                            [["rig", "textured", 1, "mask"]]),
    "a pose weight above 1": (lambda r: r["poses"][0]["weights"][0].update(weight=1.5),
                              [["rig", "poses", 0, "weights", 0, "weight"]]),
    "a pose of an unknown shape": (lambda r: r["poses"][0]["weights"][0].update(shape="smile"),
                                   [["rig", "poses", 0, "weights", 0, "shape"]]),
    "a pose without a name": (lambda r: r["poses"][0].update(name=""), [["rig", "poses", 0, "name"]]),
    "poses as an object": (lambda r: r.update(poses={"happy": {"jawOpen": 0.5}}), [["rig", "poses"]]),
    "no poses": (lambda r: r.pop("poses"), [["rig"]]),
    "an unknown field": (lambda r: r.update(bones=[]), [["rig"]]),
    "one textured shape more than the slots": (
        lambda r: r["textured"].extend(r["textured"][:1] * (MAX_UNITY_EXPRESSIONS - 1)), [["rig", "textured"]]),
}


@pytest.mark.parametrize("change, where", RIGS_REFUSED_BY_THE_SCHEMA.values(), ids=RIGS_REFUSED_BY_THE_SCHEMA.keys())
def test_the_schema_refuses_bad_rigs(change, where):
    errors = list(VALIDATOR.iter_errors(broken_rig(change)))
    assert sorted(list(error.absolute_path) for error in errors) == where


RIGS_REFUSED_AT_RUN_TIME = {
    "another kind": (dict(kind="prompts"), "rig kind 'prompts' is not one of arkit"),
    "51 shapes": (dict(shapes=ARKIT_SHAPES[:-1]), r"got 51 \(missing: tongueOut\)"),
    "an unknown name": (dict(shapes=("eyeLookAway",) + ARKIT_SHAPES[1:]),
                        r"got 52 \(unknown: eyeLookAway; missing: eyeBlinkLeft\)"),
    "another order": (dict(shapes=ARKIT_SHAPES[::-1]), r"in ARKit's order; got 52 \(the order differs\)"),
    "a textured shape that is no ARKit shape": (dict(textured={"wrinkles": TEXTURED["tongueOut"]}),
                                                "textured rig shape 'wrinkles' is not one of the rig's shapes"),
    "a textured shape outside the folder": (dict(textured={"tongueOut": ("/tmp/t.png", "textures/m.png")}),
                                            "'/tmp/t.png' is not a .png inside the sidecar's folder"),
    "a pose weight above 1": (dict(poses={"happy": {"jawOpen": 1.5}}),
                              "rig pose 'happy': the weight of jawOpen must be a number from 0 to 1"),
    "a pose of an unknown shape": (dict(poses={"happy": {"smile": 0.5}}),
                                   "rig pose 'happy': 'smile' is not one of the 52 ARKit blendshape names"),
    "a pose without a name": (dict(poses={"": {"jawOpen": 0.5}}), "rig pose name '' must be a non-empty string"),
}


@pytest.mark.parametrize("changes, message", RIGS_REFUSED_AT_RUN_TIME.values(), ids=RIGS_REFUSED_AT_RUN_TIME.keys())
def test_a_bad_rig_is_refused_naming_the_problem(changes, message):
    with pytest.raises(PromptFaceError, match=message):
        sidecar_document(rigged(**changes))


def test_expressions_and_textured_shapes_share_the_thirty_two_slots():
    VALIDATOR.validate(sidecar_document(rigged(30)))
    with pytest.raises(PromptFaceError, match="31 expressions and 2 textured rig shapes; the Unity shader blends at "
                                              "most 32"):
        sidecar_document(rigged(31))


def test_an_arkit_face_with_twenty_textured_shapes_fits_beside_its_prompts():
    """An ARKit rig brings up to ~20 textured shapes (creases, tongue) on top of its prompts' textures."""
    creases = textured(*ARKIT_SHAPES[:20])
    VALIDATOR.validate(sidecar_document(rigged(12, textured=creases)))
    with pytest.raises(PromptFaceError, match="13 expressions and 20 textured rig shapes; the Unity shader blends at "
                                              "most 32"):
        sidecar_document(rigged(13, textured=creases))


def test_a_rig_without_textured_shapes_or_poses_is_valid():
    VALIDATOR.validate(sidecar_document(rigged(0, textured={}, poses={})))
