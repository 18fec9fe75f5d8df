"""The Unity sidecar (addon/core/unity_sidecar.py): what it writes holds to its schema, SIDECAR_SCHEMA, checked here by
the jsonschema package; the schema refuses what the Unity package cannot read; check_sidecar refuses at run time the
values a scene can get wrong."""
import copy
import dataclasses
import json

import jsonschema
import pytest

from addon.core.errors import PromptFaceError
from addon.core.unity_sidecar import (SIDECAR_SCHEMA, SidecarExpression, SidecarTimeline, UnitySidecar,
                                      sidecar_document, sidecar_json, sidecar_name)

VALIDATOR = jsonschema.Draft202012Validator(SIDECAR_SCHEMA)


def sidecar(count: int = 2) -> UnitySidecar:
    names = ["happy", "surprised", "angry"] + [f"mix_{i}" for i in range(20)]
    expressions = [SidecarExpression(name, f"textures/{name}.texture.png", f"textures/{name}.mask.png", name)
                   for name in names[:count]]
    return UnitySidecar(fbx="face.fbx", base_texture="textures/base_texture.png", expressions=expressions,
                        timeline=SidecarTimeline(fps=30, frame_start=1, frame_end=73))


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SIDECAR_SCHEMA)


def test_a_sidecar_round_trips_through_json_and_validates():
    text = sidecar_json(sidecar())
    document = json.loads(text)
    VALIDATOR.validate(document)
    assert document["format"] == "promptface.unity_face" and document["version"] == "1.0"
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
    "seventeen expressions": (lambda d: d["expressions"].extend(d["expressions"][:1] * 15), ["expressions"]),
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


def test_sixteen_expressions_at_most():
    VALIDATOR.validate(sidecar_document(sidecar(16)))
    with pytest.raises(PromptFaceError, match="17 expressions; the Unity shader blends at most 16"):
        sidecar_document(sidecar(17))


def test_sidecar_name_follows_the_fbx():
    assert sidecar_name("face.fbx") == "face.promptface.json"
    assert sidecar_name("Shot 2.FBX") == "Shot 2.promptface.json"
    with pytest.raises(ValueError, match="end in .fbx"):
        sidecar_name("face.obj")
