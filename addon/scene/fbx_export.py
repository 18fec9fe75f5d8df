"""The face as an FBX for Unity, with its textures and masks beside it.

The FBX holds one mesh whose blendshape channels are named exactly as the shape keys, their animation baked on every
frame as DeformPercent curves (0-100), and smoothing groups so Unity imports blendshape normals. Blender's exporter
keeps a texture only when an Image Texture feeds Base Color directly (a node-mixed material exports none), so the
face's textures and masks are written into a folder of their own for the Unity side to bind. They come from the
images of the face's blend material (packed or found from the .blend; addon.scene.face_textures), so a .blend that
was moved with its textures/ folder exports without the expression set it was built from.

The FBX appears complete or not at all: Blender writes it into a hidden folder beside the target, then it is renamed
into place.
"""
import logging
import os
import shutil
from os import PathLike
from pathlib import Path

import bpy

from ..core.atomic_files import hidden_sibling, move_folder_into_place, staged_file
from ..core.coordinates import UNITY_FBX_AXES
from ..core.errors import PromptFaceError
from ..core.expression_set import ExpressionSet
from .face_object import expression_keys
from .face_textures import (TEXTURE_FOLDER, TextureSource, TextureSources, texture_file, texture_sources,
                            write_texture)

log = logging.getLogger(__name__)


def unity_fbx_options() -> dict:
    """The io_scene_fbx settings for Unity: Blender Z-up metres become Unity's Y-up, scale 1 (UNITY_FBX_AXES, the
    file half of addon.core.coordinates.blender_to_unity).

    Every frame from scene.frame_start to frame_end is baked (simplify 0) from the face's current action, keys
    forced on the first and last frame. Modifiers are not applied, because an evaluated mesh loses its shape keys.
    Smoothing is written per face: Unity imports blendshape normals only with smoothing groups. The axis change is
    baked into the geometry (bake_space_transform), so the mesh node carries no -90° rotation into Unity. Custom
    properties stay out: they would carry local file paths, and the Unity side binds textures from a sidecar.
    """
    return dict(
        use_selection=True, object_types={'MESH'}, use_mesh_modifiers=False, use_custom_props=False,
        bake_space_transform=True,
        mesh_smooth_type='FACE', add_leaf_bones=False,
        bake_anim=True, bake_anim_use_nla_strips=False, bake_anim_use_all_actions=False,
        bake_anim_force_startend_keying=True, bake_anim_simplify_factor=0.0,
        path_mode='COPY', embed_textures=False, **UNITY_FBX_AXES,
    )


def export_fbx(face: bpy.types.Object, path: str | PathLike, texture_dir: str | PathLike | None = None,
               expression_set: ExpressionSet | None = None) -> Path:
    """Write `face` alone to the FBX file `path` and its textures to `texture_dir`; returns the FBX path.

    texture_dir defaults to a `textures/` folder beside the FBX; it receives base_texture.png and, for every shape
    key with a texture, NAME.texture.png and NAME.mask.png. They come from `expression_set` when given, else from
    the face's blend material (addon.scene.face_textures.texture_sources). Selection and the active object are
    restored afterwards. Raises PromptFaceError for a face that cannot be exported; an existing file at `path` is
    then left untouched.
    """
    path = Path(path)
    check_exportable(face, path)
    with texture_sources(face, expression_set) as sources:
        return write_fbx(face, path, sources, texture_dir)


def write_fbx(face: bpy.types.Object, path: Path, sources: TextureSources,
              texture_dir: str | PathLike | None = None) -> Path:
    """export_fbx once the face is checked and its textures found."""
    texture_dir = path.parent / TEXTURE_FOLDER if texture_dir is None else Path(texture_dir)
    # 1. Textures first, so that a finished FBX always has its textures.
    texture_dir.mkdir(parents=True, exist_ok=True)
    for name, source in sources.files.items():
        _write_texture_atomically(source, texture_dir / name)
    # 2. The FBX, written by Blender in a hidden folder beside the target, then renamed into place.
    staging = hidden_sibling(path, "partial")
    staging.mkdir()
    try:
        _export_selected_alone(face, staging / path.name)
        _move_export_into_place(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("Exported %s with %d blendshapes; textures in %s", path, len(expression_keys(face)), texture_dir)
    return path


def check_exportable(face: bpy.types.Object, path: Path) -> None:
    """Raise PromptFaceError unless `face` is a visible mesh with expression shape keys, each relative to the Basis
    (an FBX blendshape is always an offset from the base mesh), and `path` names an .fbx file in an existing folder."""
    if face is None or face.type != 'MESH':
        raise PromptFaceError(f"Cannot export {getattr(face, 'name', face)!r} to FBX: it is not a mesh object")
    keys = expression_keys(face)
    if not keys:
        raise PromptFaceError(f"Cannot export '{face.name}' to FBX: it has no shape keys besides the Basis; "
                              "build the face from an expression set first")
    basis = face.data.shape_keys.reference_key
    for key in keys:
        if key.relative_key != basis:
            raise PromptFaceError(f"Cannot export '{face.name}' to FBX: shape key '{key.name}' is relative to "
                                  f"'{key.relative_key.name}'; set its Relative To to '{basis.name}'")
    if not face.visible_get():
        raise PromptFaceError(f"Cannot export '{face.name}' to FBX: it is hidden or not in the current view layer")
    if path.suffix.lower() != ".fbx":
        raise PromptFaceError(f"Cannot export to {path}: the file name must end in .fbx")
    if not path.parent.is_dir():
        raise PromptFaceError(f"Cannot export to {path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise PromptFaceError(f"Cannot export to {path}: it is a folder")


def _write_texture_atomically(source: TextureSource, destination: Path) -> None:
    source_file = texture_file(source)
    if source_file is not None and destination.exists() and source_file.resolve() == destination.resolve():
        return  # the face already reads its texture from here (a .blend saved beside its textures/ folder)
    with staged_file(destination) as partial:  # readers see the old texture or the new one, never half of one
        write_texture(source, partial)


def _export_selected_alone(face: bpy.types.Object, filepath: Path) -> None:
    """Run Blender's FBX exporter on `face` alone, restoring the selection and the active object afterwards."""
    view_layer = bpy.context.view_layer
    selected = [obj for obj in view_layer.objects if obj.select_get()]
    active = view_layer.objects.active
    try:
        for obj in selected:
            obj.select_set(False)
        face.select_set(True)
        view_layer.objects.active = face
        result = bpy.ops.export_scene.fbx(filepath=str(filepath), **unity_fbx_options())
    finally:
        face.select_set(False)
        for obj in selected:
            obj.select_set(True)
        view_layer.objects.active = active
    if result != {'FINISHED'} or not filepath.is_file():
        raise PromptFaceError(f"Blender's FBX exporter did not write {filepath.name} (result {sorted(result)}); "
                              "see Blender's console for its report")


def _move_export_into_place(staging: Path, path: Path) -> None:
    """Move what the exporter wrote in `staging` beside `path`: the `<stem>.fbm` folder of textures that Blender
    copied (its only texture location for path_mode COPY without embedding), then the FBX itself, atomically."""
    copied_textures = staging / f"{path.stem}.fbm"
    if copied_textures.is_dir():
        move_folder_into_place(copied_textures, path.with_suffix(".fbm"))
    os.replace(staging / path.name, path)
