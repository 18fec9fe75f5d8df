"""The Unity sidecar, format `promptface.unity_face/1`: the JSON file beside an exported FBX that tells the Unity
package which texture and change mask belong to each blendshape, the texture blend's smoothstep edges, and the timeline.

It is named after the FBX (`face.fbx` → `face.promptface.json`), which is how the package's AssetPostprocessor
recognises a PromptFace export. Paths in it are relative to its own folder, '/'-separated. The expressions are listed
in the order of their Texture2DArray slices in Unity; at most MAX_UNITY_EXPRESSIONS, the shader's slot count.
The Unity package refuses another major version.
"""
import json
import math
from dataclasses import dataclass

from .errors import PromptFaceError
from .expression_set import EXPRESSION_NAME_PATTERN
from .json_schema import schema_errors
from .texture_blend import DEFAULT_EDGE_HIGH, DEFAULT_EDGE_LOW

FORMAT_NAME = "promptface.unity_face"
FORMAT_VERSION = "1.0"
SIDECAR_SUFFIX = ".promptface.json"
MAX_UNITY_EXPRESSIONS = 16
"""Expressions the Unity shader blends: four float4 weight vectors, one Texture2DArray slice each."""

_RELATIVE_PNG = r"^(?!/)(?!.*(^|/)\.\.(/|$))[^\\:]+\.png$"
_UNIT = {"type": "number", "minimum": 0.0, "maximum": 1.0}

SIDECAR_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "PromptFace Unity sidecar",
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "version", "fbx", "base_texture", "blend", "expressions", "timeline"],
    "properties": {
        "format": {"const": FORMAT_NAME},
        "version": {"type": "string", "pattern": r"^1\.\d+$"},
        "fbx": {"type": "string", "pattern": r"^[^/\\:]+\.fbx$", "description": "the FBX beside the sidecar"},
        "base_texture": {"type": "string", "pattern": _RELATIVE_PNG},
        "blend": {
            "type": "object", "additionalProperties": False, "required": ["edge_low", "edge_high"],
            "description": "e_k = (1 - M_k) w_k + M_k smoothstep(edge_low, edge_high, w_k); edge_low < edge_high",
            "properties": {"edge_low": _UNIT, "edge_high": _UNIT},
        },
        "expressions": {
            "type": "array", "maxItems": MAX_UNITY_EXPRESSIONS,
            "items": {
                "type": "object", "additionalProperties": False,
                "required": ["blendshape", "texture", "mask", "prompt"],
                "properties": {
                    "blendshape": {"type": "string", "pattern": EXPRESSION_NAME_PATTERN.pattern,
                                   "description": "the FBX blendshape channel, named exactly as the expression"},
                    "texture": {"type": "string", "pattern": _RELATIVE_PNG, "description": "8-bit sRGB"},
                    "mask": {"type": "string", "pattern": _RELATIVE_PNG, "description": "8-bit linear change mask"},
                    "prompt": {"type": "string"},
                },
            },
        },
        "timeline": {
            "type": "object", "additionalProperties": False,
            "required": ["fps", "frame_start", "frame_end", "length_s"],
            "description": "the baked DeformPercent curves cover frame_start..frame_end; "
                           "length_s = (frame_end - frame_start) / fps",
            "properties": {
                "fps": {"type": "number", "exclusiveMinimum": 0},
                "frame_start": {"type": "integer"},
                "frame_end": {"type": "integer"},
                "length_s": {"type": "number", "minimum": 0},
            },
        },
    },
}


@dataclass(frozen=True)
class SidecarExpression:
    blendshape: str
    """The blendshape's name in the FBX: the shape key's, which is the expression's."""
    texture: str
    """The expression texture, relative to the sidecar."""
    mask: str
    """The change mask, relative to the sidecar."""
    prompt: str = ""


@dataclass(frozen=True)
class SidecarTimeline:
    fps: float
    frame_start: int
    frame_end: int

    @property
    def length_s(self) -> float:
        return (self.frame_end - self.frame_start) / self.fps


@dataclass(frozen=True)
class UnitySidecar:
    fbx: str
    """The FBX file's name; it lies beside the sidecar."""
    base_texture: str
    expressions: list[SidecarExpression]
    timeline: SidecarTimeline
    edge_low: float = DEFAULT_EDGE_LOW
    edge_high: float = DEFAULT_EDGE_HIGH
    version: str = FORMAT_VERSION


def sidecar_name(fbx_name: str) -> str:
    """`face.fbx` → `face.promptface.json`."""
    if not fbx_name.lower().endswith(".fbx"):
        raise ValueError(f"the FBX file name must end in .fbx, got {fbx_name!r}")
    return fbx_name[:-len(".fbx")] + SIDECAR_SUFFIX


def sidecar_document(sidecar: UnitySidecar) -> dict:
    """The sidecar as the JSON document the Unity package reads, checked against SIDECAR_SCHEMA."""
    document = {
        "format": FORMAT_NAME,
        "version": sidecar.version,
        "fbx": sidecar.fbx,
        "base_texture": sidecar.base_texture,
        "blend": {"edge_low": sidecar.edge_low, "edge_high": sidecar.edge_high},
        "expressions": [{"blendshape": e.blendshape, "texture": e.texture, "mask": e.mask, "prompt": e.prompt}
                        for e in sidecar.expressions],
        "timeline": {"fps": sidecar.timeline.fps, "frame_start": sidecar.timeline.frame_start,
                     "frame_end": sidecar.timeline.frame_end, "length_s": round(sidecar.timeline.length_s, 6)},
    }
    check_sidecar_document(document)
    return document


def sidecar_json(sidecar: UnitySidecar) -> str:
    return json.dumps(sidecar_document(sidecar), indent=2) + "\n"


def check_sidecar_document(document: dict) -> None:
    """Raise PromptFaceError naming every problem: the schema's, then what a schema cannot say (edge order, frame
    order, the length matching the frames, unique blendshapes)."""
    errors = schema_errors(document, SIDECAR_SCHEMA)
    if not errors:
        errors = _consistency_errors(document)
    if errors:
        raise PromptFaceError("invalid PromptFace Unity sidecar: " + "; ".join(errors))


def _consistency_errors(document: dict) -> list[str]:
    errors = []
    blend, timeline = document["blend"], document["timeline"]
    if not blend["edge_low"] < blend["edge_high"]:
        errors.append(f"$.blend: edge_low {blend['edge_low']} must be below edge_high {blend['edge_high']}")
    if timeline["frame_end"] < timeline["frame_start"]:
        errors.append(f"$.timeline: frame_end {timeline['frame_end']} is before frame_start {timeline['frame_start']}")
    length = (timeline["frame_end"] - timeline["frame_start"]) / timeline["fps"]
    if not math.isclose(timeline["length_s"], length, abs_tol=1e-5):
        errors.append(f"$.timeline: length_s {timeline['length_s']} is not (frame_end - frame_start) / fps = {length}")
    names = [expression["blendshape"] for expression in document["expressions"]]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        errors.append(f"$.expressions: blendshapes listed more than once: {repeated}")
    return errors
