"""The Unity sidecar, format `promptface.unity_face/1`: the JSON file beside an exported FBX that tells the Unity
package which texture and change mask belong to each blendshape, the texture blend's smoothstep edges, and the timeline.

It is named after the FBX (`face.fbx` → `face.promptface.json`), which is how the package's AssetPostprocessor
recognises a PromptFace export. Paths in it are relative to its own folder, '/'-separated. The expressions are listed
in the order of their Texture2DArray slices in Unity; at most MAX_UNITY_EXPRESSIONS, the shader's slot count.
The Unity package refuses another major version.

1.1: an optional "rig": the face is an ARKit-52 rig (its 52 blendshapes named exactly as ARKit's), which of its
shapes carry a texture and mask (blended after the expressions, in the same texture arrays, so expressions and textured
shapes together fill at most MAX_UNITY_EXPRESSIONS slots), and its named poses {pose: {shape: weight}} (each prompt,
the visemes). 1.0 readers ignore it; a sidecar without it is read as before.

SIDECAR_SCHEMA is the format's specification (JSON Schema, draft 2020-12); the tests hold what sidecar_document
writes to it. At run time check_sidecar refuses what a scene can get wrong and the Unity package could not bind.
"""
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .arkit import ARKIT_RIG, ARKIT_SHAPES, check_arkit_weights
from .errors import PromptFaceError
from .expression_set import EXPRESSION_NAME_PATTERN
from .texture_blend import DEFAULT_EDGE_HIGH, DEFAULT_EDGE_LOW

FORMAT_NAME = "promptface.unity_face"
FORMAT_VERSION = "1.1"
SIDECAR_SUFFIX = ".promptface.json"
MAX_UNITY_EXPRESSIONS = 32
"""Texture slots the Unity shader blends (expressions, then a rig's textured shapes): eight float4 weight vectors, one
Texture2DArray slice each. The package's PROMPTFACE_MAX_EXPRESSIONS (PromptFaceBlend.hlsl) and
PromptFaceBlend.MaxExpressions (C#) are the same number; tests/unity checks that they agree."""
SIDECAR_RIG_KINDS = (ARKIT_RIG,)
"""The rigs a sidecar can describe; a face without a rig (a shape key per prompt) has no "rig" at all."""

_FBX_FILE_NAME = r"^[^/\\:]+\.fbx$"
_RELATIVE_PNG = r"^(?!/)(?!.*(^|/)\.\.(/|$))[^\\:]+\.png$"
_UNIT = {"type": "number", "minimum": 0.0, "maximum": 1.0}
_ARKIT_NAME = {"enum": list(ARKIT_SHAPES)}


def _textured_shape(name: dict, description: str, extra: dict | None = None) -> dict:
    """The schema of a blendshape with its texture and mask: an expression (with its prompt) or a rig's shape."""
    return {
        "type": "object", "additionalProperties": False,
        "required": ["blendshape", "texture", "mask", *(extra or {})],
        "properties": {
            "blendshape": {**name, "description": description},
            "texture": {"type": "string", "pattern": _RELATIVE_PNG, "description": "8-bit sRGB"},
            "mask": {"type": "string", "pattern": _RELATIVE_PNG, "description": "8-bit linear change mask"},
            **(extra or {}),
        },
    }


_RIG_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["kind", "shapes", "textured", "poses"],
    "description": "the face is a rig: its shapes are FBX blendshapes named exactly as listed; absent for a face "
                   "with a shape key per prompt",
    "properties": {
        "kind": {"enum": list(SIDECAR_RIG_KINDS)},
        "shapes": {"type": "array", "description": "Apple's 52 ARKit blendshapes, in ARKit's order",
                   "prefixItems": [{"const": name} for name in ARKIT_SHAPES], "items": False,
                   "minItems": len(ARKIT_SHAPES)},
        "textured": {"type": "array", "maxItems": MAX_UNITY_EXPRESSIONS,
                     "description": "the shapes that change the skin (creases, tongue), in texture-array slot order "
                                    "after the expressions",
                     "items": _textured_shape(_ARKIT_NAME, "one of the rig's shapes")},
        "poses": {
            "type": "array",
            "description": "named poses (each prompt, the visemes): the listed shapes at these weights, the others 0",
            "items": {
                "type": "object", "additionalProperties": False, "required": ["name", "weights"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "weights": {"type": "array", "items": {
                        "type": "object", "additionalProperties": False, "required": ["shape", "weight"],
                        "properties": {"shape": _ARKIT_NAME, "weight": _UNIT},
                    }},
                },
            },
        },
    },
}

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
            "items": _textured_shape({"type": "string", "pattern": EXPRESSION_NAME_PATTERN.pattern},
                                     "the FBX blendshape channel, named exactly as the expression",
                                     {"prompt": {"type": "string"}}),
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
        "rig": _RIG_SCHEMA,
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
class SidecarRigTexture:
    blendshape: str
    """The rig shape's name, which is its FBX blendshape's (eyeBlinkLeft)."""
    texture: str
    """Its texture, relative to the sidecar."""
    mask: str
    """Its change mask, relative to the sidecar."""


@dataclass(frozen=True)
class SidecarRig:
    """A rigged face: sidecar_rig builds it."""

    kind: str
    """One of SIDECAR_RIG_KINDS."""
    shapes: tuple[str, ...]
    """The rig's shapes, each an FBX blendshape of that name; an ARKit rig's are ARKIT_SHAPES, in that order."""
    textured: tuple[SidecarRigTexture, ...] = ()
    """The shapes that carry a texture and mask, in texture-slot order (after the expressions)."""
    poses: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    """Named poses {pose: {shape: weight in [0, 1]}}; shapes a pose leaves out are 0 in it."""


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
    rig: SidecarRig | None = None
    """None: a shape key per prompt, no rig."""

    @property
    def texture_slots(self) -> list[str]:
        """The blendshape of each texture-array slot in Unity: the expressions, then the rig's textured shapes."""
        textured = self.rig.textured if self.rig is not None else ()
        return [expression.blendshape for expression in self.expressions] + [shape.blendshape for shape in textured]


def sidecar_rig(kind: str, shapes: Iterable[str], textured: Mapping[str, tuple[str, str]],
                poses: Mapping[str, Mapping[str, float]]) -> SidecarRig:
    """The rig of a rigged face, for UnitySidecar(rig=...): its kind (ARKIT_RIG), its shape names in order
    (ARKIT_SHAPES), its textured shapes {shape: (texture, mask)} with paths relative to the sidecar, in the order of
    their texture slots, and its named poses {pose: {shape: weight}}. check_sidecar checks it with the rest."""
    textured_shapes = tuple(SidecarRigTexture(name, texture, mask) for name, (texture, mask) in textured.items())
    return SidecarRig(kind=kind, shapes=tuple(shapes), textured=textured_shapes,
                      poses={pose: dict(weights) for pose, weights in poses.items()})


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
        **({"rig": _rig_document(sidecar.rig)} if sidecar.rig is not None else {}),
    }


def _rig_document(rig: SidecarRig) -> dict:
    # Poses are lists of {shape, weight} rather than objects keyed by name: Unity's JsonUtility reads no dictionaries.
    return {
        "kind": rig.kind,
        "shapes": list(rig.shapes),
        "textured": [{"blendshape": shape.blendshape, "texture": shape.texture, "mask": shape.mask}
                     for shape in rig.textured],
        "poses": [{"name": pose, "weights": [{"shape": shape, "weight": float(weight)}
                                             for shape, weight in weights.items()]}
                  for pose, weights in rig.poses.items()],
    }


def sidecar_json(sidecar: UnitySidecar) -> str:
    return json.dumps(sidecar_document(sidecar), indent=2) + "\n"


def check_sidecar(sidecar: UnitySidecar) -> None:
    """Raise PromptFaceError naming every value of `sidecar` that the Unity package could not use."""
    problems = (_file_problems(sidecar) + _blendshape_problems(sidecar) + _number_problems(sidecar)
                + _rig_problems(sidecar.rig))
    if problems:
        raise PromptFaceError("invalid PromptFace Unity sidecar: " + "; ".join(problems))


def _file_problems(sidecar: UnitySidecar) -> list[str]:
    """The FBX must lie beside the sidecar and the textures inside its folder."""
    problems = []
    if not re.match(_FBX_FILE_NAME, sidecar.fbx):
        problems.append(f"fbx {sidecar.fbx!r} must be a plain .fbx file name")
    textured = [*sidecar.expressions, *(sidecar.rig.textured if sidecar.rig is not None else ())]
    paths = [sidecar.base_texture, *(path for shape in textured for path in (shape.texture, shape.mask))]
    return problems + [f"texture {path!r} is not a .png inside the sidecar's folder" for path in paths
                       if not re.match(_RELATIVE_PNG, path)]


def _blendshape_problems(sidecar: UnitySidecar) -> list[str]:
    """The package binds each texture slot to the FBX blendshape of that name: one slot per shader weight."""
    problems = []
    slots = sidecar.texture_slots
    if len(slots) > MAX_UNITY_EXPRESSIONS:
        textured = len(slots) - len(sidecar.expressions)
        also = f" and {textured} textured rig shapes" if textured else ""
        problems.append(f"{len(sidecar.expressions)} expressions{also}; the Unity shader blends at most "
                        f"{MAX_UNITY_EXPRESSIONS}")
    problems += [f"blendshape {expression.blendshape!r} is not an expression name (a-z, 0-9, _)"
                 for expression in sidecar.expressions if not EXPRESSION_NAME_PATTERN.match(expression.blendshape)]
    repeated = sorted({name for name in slots if slots.count(name) > 1})
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


def _rig_problems(rig: SidecarRig | None) -> list[str]:
    if rig is None:
        return []
    problems = []
    if rig.kind not in SIDECAR_RIG_KINDS:
        problems.append(f"rig kind {rig.kind!r} is not one of {', '.join(SIDECAR_RIG_KINDS)}")
    if tuple(rig.shapes) != ARKIT_SHAPES:
        problems.append(_arkit_shapes_problem(rig.shapes))
    problems += [f"textured rig shape {shape.blendshape!r} is not one of the rig's shapes" for shape in rig.textured
                 if shape.blendshape not in rig.shapes]
    for pose, weights in rig.poses.items():
        if not isinstance(pose, str) or not pose:
            problems.append(f"rig pose name {pose!r} must be a non-empty string")
        try:
            check_arkit_weights(dict(weights), f"rig pose {pose!r}")
        except ValueError as error:
            problems.append(str(error))
    return problems


def _arkit_shapes_problem(shapes: tuple[str, ...]) -> str:
    unknown = [name for name in shapes if name not in ARKIT_SHAPES]
    missing = [name for name in ARKIT_SHAPES if name not in shapes]
    details = ([f"unknown: {', '.join(unknown[:5])}"] if unknown else []) + \
        ([f"missing: {', '.join(missing[:5])}"] if missing else [])
    found = "; ".join(details) or "the order differs"
    return f"an ARKit rig's shapes are Apple's 52 in ARKit's order; got {len(shapes)} ({found})"
