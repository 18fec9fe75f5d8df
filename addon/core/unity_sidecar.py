"""The Unity sidecar, format `promptface.unity_face/1`: the JSON file beside an exported FBX that tells the Unity
package which texture and change mask belong to each blendshape, the texture blend's smoothstep edges, and the timeline.

It is named after the FBX (`face.fbx` → `face.promptface.json`), which is how the package's AssetPostprocessor
recognises a PromptFace export. Paths in it are relative to its own folder, '/'-separated. The expressions are listed
in the order of their Texture2DArray slices in Unity; at most MAX_UNITY_EXPRESSIONS, the shader's slot count.
The Unity package refuses another major version.

SIDECAR_SCHEMA is the format's specification (JSON Schema, draft 2020-12); the tests hold what sidecar_document
writes to it. At run time check_sidecar refuses what a scene can get wrong and the Unity package could not bind.
"""
import json
import re
from dataclasses import dataclass

from .errors import PromptFaceError
from .expression_set import EXPRESSION_NAME_PATTERN
from .texture_blend import DEFAULT_EDGE_HIGH, DEFAULT_EDGE_LOW

FORMAT_NAME = "promptface.unity_face"
FORMAT_VERSION = "1.0"
SIDECAR_SUFFIX = ".promptface.json"
MAX_UNITY_EXPRESSIONS = 16
"""Expressions the Unity shader blends: four float4 weight vectors, one Texture2DArray slice each."""

_FBX_FILE_NAME = r"^[^/\\:]+\.fbx$"
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
        "fbx": {"type": "string", "pattern": _FBX_FILE_NAME, "description": "the FBX beside the sidecar"},
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
    """The sidecar as the JSON document the Unity package reads (SIDECAR_SCHEMA), after check_sidecar."""
    check_sidecar(sidecar)
    return {
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


def sidecar_json(sidecar: UnitySidecar) -> str:
    return json.dumps(sidecar_document(sidecar), indent=2) + "\n"


def check_sidecar(sidecar: UnitySidecar) -> None:
    """Raise PromptFaceError naming every value of `sidecar` that the Unity package could not use."""
    problems = _file_problems(sidecar) + _blendshape_problems(sidecar.expressions) + _number_problems(sidecar)
    if problems:
        raise PromptFaceError("invalid PromptFace Unity sidecar: " + "; ".join(problems))


def _file_problems(sidecar: UnitySidecar) -> list[str]:
    """The FBX must lie beside the sidecar and the textures inside its folder."""
    problems = []
    if not re.match(_FBX_FILE_NAME, sidecar.fbx):
        problems.append(f"fbx {sidecar.fbx!r} must be a plain .fbx file name")
    paths = [sidecar.base_texture, *(path for e in sidecar.expressions for path in (e.texture, e.mask))]
    return problems + [f"texture {path!r} is not a .png inside the sidecar's folder" for path in paths
                       if not re.match(_RELATIVE_PNG, path)]


def _blendshape_problems(expressions: list[SidecarExpression]) -> list[str]:
    """The package binds each texture slot to the FBX blendshape of that name: one slot per shader weight."""
    problems = []
    if len(expressions) > MAX_UNITY_EXPRESSIONS:
        problems.append(f"{len(expressions)} expressions; the Unity shader blends at most {MAX_UNITY_EXPRESSIONS}")
    names = [expression.blendshape for expression in expressions]
    problems += [f"blendshape {name!r} is not an expression name (a-z, 0-9, _)" for name in names
                 if not EXPRESSION_NAME_PATTERN.match(name)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    return problems + ([f"blendshapes listed more than once: {repeated}"] if repeated else [])


def _number_problems(sidecar: UnitySidecar) -> list[str]:
    problems = []
    if not 0 <= sidecar.edge_low < sidecar.edge_high <= 1:
        problems.append(f"blend edges {sidecar.edge_low}, {sidecar.edge_high} must rise within 0..1")
    timeline = sidecar.timeline
    if not timeline.fps > 0 or timeline.frame_end < timeline.frame_start:
        problems.append(f"timeline frames {timeline.frame_start}..{timeline.frame_end} at {timeline.fps} fps must "
                        "run forwards at a positive frame rate")
    return problems
