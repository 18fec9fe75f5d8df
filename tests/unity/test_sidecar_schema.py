"""The Unity sidecar's format and schema (addon/core/unity_sidecar.py) and the small validator that checks it."""
import copy
import json

import pytest

from addon.core.errors import PromptFaceError
from addon.core.json_schema import schema_errors
from addon.core.unity_sidecar import (SIDECAR_SCHEMA, SidecarExpression, SidecarTimeline, UnitySidecar,
                                      check_sidecar_document, sidecar_document, sidecar_json, sidecar_name)


def sidecar(count: int = 2) -> UnitySidecar:
    names = ["happy", "surprised", "angry"] + [f"mix_{i}" for i in range(20)]
    expressions = [SidecarExpression(name, f"textures/{name}.texture.png", f"textures/{name}.mask.png", name)
                   for name in names[:count]]
    return UnitySidecar(fbx="face.fbx", base_texture="textures/base_texture.png", expressions=expressions,
                        timeline=SidecarTimeline(fps=30, frame_start=1, frame_end=73))


def test_a_sidecar_round_trips_through_json_and_validates():
    text = sidecar_json(sidecar())
    document = json.loads(text)
    assert schema_errors(document, SIDECAR_SCHEMA) == []
    assert document["format"] == "promptface.unity_face" and document["version"] == "1.0"
    assert document["expressions"][1] == {"blendshape": "surprised", "texture": "textures/surprised.texture.png",
                                          "mask": "textures/surprised.mask.png", "prompt": "surprised"}
    assert document["blend"] == {"edge_low": 0.35, "edge_high": 0.65}
    assert document["timeline"] == {"fps": 30, "frame_start": 1, "frame_end": 73, "length_s": 2.4}


def broken(change) -> dict:
    document = copy.deepcopy(sidecar_document(sidecar()))
    change(document)
    return document


BROKEN = {
    "another format": (lambda d: d.update(format="promptface.expressions"), r"\$\.format"),
    "major version 2": (lambda d: d.update(version="2.0"), r"\$\.version"),
    "missing timeline": (lambda d: d.pop("timeline"), "missing required property 'timeline'"),
    "unknown field": (lambda d: d.update(extra=1), "unexpected property 'extra'"),
    "prefixed blendshape": (lambda d: d["expressions"][0].update(blendshape="PromptFace.happy"),
                            r"\$\.expressions\[0\]\.blendshape"),
    "absolute texture": (lambda d: d["expressions"][0].update(texture="/tmp/happy.png"),
                         r"\$\.expressions\[0\]\.texture"),
    "texture outside the folder": (lambda d: d["expressions"][0].update(mask="../happy.mask.png"),
                                   r"\$\.expressions\[0\]\.mask"),
    "edge above 1": (lambda d: d["blend"].update(edge_high=1.5), r"\$\.blend\.edge_high"),
    "fps 0": (lambda d: d["timeline"].update(fps=0), r"\$\.timeline\.fps"),
    "frame as text": (lambda d: d["timeline"].update(frame_end="73"), r"\$\.timeline\.frame_end: expected integer"),
    "edges reversed": (lambda d: d["blend"].update(edge_low=0.7), "edge_low 0.7 must be below edge_high"),
    "end before start": (lambda d: d["timeline"].update(frame_end=0), "frame_end 0 is before"),
    "length off": (lambda d: d["timeline"].update(length_s=9.0), "length_s 9.0 is not"),
    "blendshape twice": (lambda d: d["expressions"].append(d["expressions"][0]), r"more than once: \['happy'\]"),
}


@pytest.mark.parametrize("change, message", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_sidecar_is_refused_naming_the_problem(change, message):
    with pytest.raises(PromptFaceError, match=message):
        check_sidecar_document(broken(change))


def test_sixteen_expressions_at_most():
    sidecar_document(sidecar(16))
    with pytest.raises(PromptFaceError, match="at most 16 items"):
        sidecar_document(sidecar(17))


def test_sidecar_name_follows_the_fbx():
    assert sidecar_name("face.fbx") == "face.promptface.json"
    assert sidecar_name("Shot 2.FBX") == "Shot 2.promptface.json"
    with pytest.raises(ValueError, match="end in .fbx"):
        sidecar_name("face.obj")


def test_the_validator_refuses_keywords_it_does_not_check():
    with pytest.raises(ValueError, match="oneOf"):
        schema_errors({}, {"type": "object", "oneOf": []})


def test_the_validator_tells_booleans_from_numbers():
    assert schema_errors(True, {"type": "integer"}) == ["$: expected integer, got bool True"]
    assert schema_errors(3, {"type": "number", "exclusiveMinimum": 3}) == ["$: must be above 3, got 3"]
    assert schema_errors(["a"], {"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 2}}) == \
        ["$: needs at least 2 items, has 1", "$[0]: must be at least 2 characters long, got 'a'"]
    assert schema_errors("b", {"enum": ["a"]}) == ["$: must be one of ['a'], got 'b'"]
