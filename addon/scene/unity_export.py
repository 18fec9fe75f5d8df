"""A face exported for Unity: one folder with the FBX, its textures and masks, and the sidecar that binds them.

    DIR/face.fbx                 one mesh, blendshapes named as the expressions, baked DeformPercent curves
    DIR/textures/*.png           base_texture.png, NAME.texture.png, NAME.mask.png
    DIR/face.promptface.json     the sidecar (addon.core.unity_sidecar): blendshape → texture and mask, the
                                 smoothstep edges of the face's texture blend, the timeline's fps and frames

The FBX and textures come from addon.scene.fbx_export; the PromptFace Unity package (unity_export/ in the repository)
recognises the folder by its sidecar. The sidecar is written last, so a folder with a sidecar is complete.
"""
import logging
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import bpy

from ..core.atomic_files import staged_file
from ..core.errors import PromptFaceError
from ..core.expression_set import BASE_TEXTURE_FILE, ExpressionSet, expression_file_names
from ..core.texture_blend import DEFAULT_EDGE_HIGH, DEFAULT_EDGE_LOW
from ..core.unity_sidecar import (MAX_UNITY_EXPRESSIONS, SidecarExpression, SidecarTimeline, UnitySidecar,
                                  sidecar_json, sidecar_name, sidecar_rig)
from ..render_frames import open_blend_file
from .face_object import RIG_PROPERTY, SET_PATH_PROPERTY
from .face_textures import TEXTURE_FOLDER, TextureSources, texture_sources
from .fbx_export import check_exportable, write_fbx
from .rig import face_poses, is_rigged, rig_keys
from .texture_blend_nodes import BLEND_NODE_NAME, EDGE_HIGH_SOCKET, EDGE_LOW_SOCKET

log = logging.getLogger(__name__)

DEFAULT_FBX_NAME = "face.fbx"


@dataclass
class UnityExport:
    """What export_unity wrote."""

    fbx: Path
    sidecar: Path
    texture_dir: Path
    expressions: list[str]
    """The blendshapes that blend textures in Unity, in the shader's slot order."""


def export_unity(face: bpy.types.Object, out_dir: str | PathLike, fbx_name: str = DEFAULT_FBX_NAME,
                 expression_set: ExpressionSet | None = None) -> UnityExport:
    """Write `face` for Unity into `out_dir` (created if missing): FBX, textures/, sidecar.

    The textures come from `expression_set` when given, else from the face's blend material (packed images, or
    files found from the .blend). Raises PromptFaceError before any file is written when the face cannot be
    exported, an image is missing, the face has more expressions than the Unity shader blends, or its blend edges
    are not increasing.
    """
    # 1. Check everything before writing anything but the folder.
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PromptFaceError(f"Cannot export for Unity into {out_dir}: it is a file, not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    check_exportable(face, out_dir / fbx_name)
    sidecar_file = out_dir / sidecar_name(fbx_name)
    with texture_sources(face, expression_set) as sources:
        sidecar = unity_sidecar(face, sources, fbx_name)
        text = sidecar_json(sidecar)
        # 2. FBX and textures, then the sidecar that marks the folder complete.
        fbx = write_fbx(face, out_dir / fbx_name, sources)
    with staged_file(sidecar_file) as partial:
        partial.write_text(text, encoding="utf-8")
    names = sidecar.texture_slots
    log.info("Exported %s for Unity: %s", out_dir, ", ".join(names) or "no textured expressions")
    return UnityExport(fbx=fbx, sidecar=sidecar_file, texture_dir=out_dir / TEXTURE_FOLDER, expressions=names)


def export_blend_for_unity(blend: str | PathLike, out_dir: str | PathLike, face_name: str | None = None,
                           fbx_name: str = DEFAULT_FBX_NAME) -> UnityExport:
    """Open a saved PromptFace scene and export its face (the one named `face_name` when there are several)."""
    open_blend_file(Path(blend))
    return export_unity(scene_face(bpy.context.scene, face_name), out_dir, fbx_name)


def scene_face(scene: bpy.types.Scene, face_name: str | None = None) -> bpy.types.Object:
    """The PromptFace face of the scene: the mesh that records its expression set (named `face_name` if given)."""
    faces = [obj for obj in scene.objects if obj.type == "MESH" and SET_PATH_PROPERTY in obj]
    names = ", ".join(sorted(face.name for face in faces)) or "none"
    if face_name is not None:
        chosen = [face for face in faces if face.name == face_name]
        if not chosen:
            raise PromptFaceError(f"the scene has no PromptFace face named '{face_name}' (faces: {names})")
        return chosen[0]
    if len(faces) != 1:
        raise PromptFaceError(f"the scene has {len(faces)} PromptFace faces ({names}); choose one with --face NAME"
                              if faces else "the scene has no PromptFace face (a mesh built from an expression set)")
    return faces[0]


def unity_sidecar(face: bpy.types.Object, sources: TextureSources, fbx_name: str) -> UnitySidecar:
    """The sidecar for `face` exported as `fbx_name`: its textured expressions, blend edges and the scene's timeline;
    for a rigged face also its rig (the 52 shapes, those with a texture, the named poses)."""
    names = sources.expressions
    if len(names) > MAX_UNITY_EXPRESSIONS:
        raise PromptFaceError(f"Cannot export '{face.name}' for Unity: the PromptFace Unity shader blends at most "
                              f"{MAX_UNITY_EXPRESSIONS} expressions and the face has {len(names)}; remove shape keys "
                              "or export the FBX alone")
    edge_low, edge_high = blend_edges(face)
    if not edge_low < edge_high:
        raise PromptFaceError(f"Cannot export '{face.name}' for Unity: its texture blend's Edge Low ({edge_low:g}) "
                              f"must be below its Edge High ({edge_high:g})")
    rig_shapes = [key.name for key in rig_keys(face)] if is_rigged(face) else []
    expressions = [SidecarExpression(blendshape=name, texture=_texture_path(expression_file_names(name)["texture"]),
                                     mask=_texture_path(expression_file_names(name)["mask"]),
                                     prompt=sources.prompts.get(name, name))
                   for name in names if name not in rig_shapes]
    rig = None
    if is_rigged(face):
        textured = {name: (_texture_path(expression_file_names(name)["texture"]),
                           _texture_path(expression_file_names(name)["mask"]))
                    for name in names if name in rig_shapes}
        rig = sidecar_rig(face[RIG_PROPERTY], rig_shapes, textured, face_poses(face))
    return UnitySidecar(fbx=fbx_name, base_texture=_texture_path(BASE_TEXTURE_FILE), expressions=expressions,
                        timeline=scene_timeline(bpy.context.scene), edge_low=edge_low, edge_high=edge_high, rig=rig)


def scene_timeline(scene: bpy.types.Scene) -> SidecarTimeline:
    """The frames the FBX exporter bakes (the scene's range) and the scene's frame rate."""
    fps = scene.render.fps / scene.render.fps_base
    return SidecarTimeline(fps=int(fps) if fps.is_integer() else round(fps, 6), frame_start=scene.frame_start,
                           frame_end=scene.frame_end)


def blend_edges(face: bpy.types.Object) -> tuple[float, float]:
    """The smoothstep edges set on the face's texture-blend node, or the defaults when it has none."""
    for slot in face.material_slots:
        tree = slot.material.node_tree if slot.material is not None else None
        node = tree.nodes.get(BLEND_NODE_NAME) if tree is not None else None
        if node is not None and EDGE_LOW_SOCKET in node.inputs and EDGE_HIGH_SOCKET in node.inputs:
            # Blender stores them as float32; six decimals give back the value that was typed.
            return (round(node.inputs[EDGE_LOW_SOCKET].default_value, 6),
                    round(node.inputs[EDGE_HIGH_SOCKET].default_value, 6))
    return DEFAULT_EDGE_LOW, DEFAULT_EDGE_HIGH


def _texture_path(file_name: str) -> str:
    return f"{TEXTURE_FOLDER}/{file_name}"
