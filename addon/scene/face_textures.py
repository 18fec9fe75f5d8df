"""A face's textures as its blend material holds them: Blender images, packed in the .blend or files that Blender
finds from the .blend (a `//textures/...` path follows the .blend when it moves together with its textures/ folder).

Exports read the textures from here, not from the expression set the face was built from, so a .blend that was
moved with its textures/ folder, or that packs its images, exports on its own. A face without the blend material
(built with build_face_object alone) falls back to the expression set it records, or one passed explicitly.
"""
import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bpy

from ..core.errors import PromptFaceError
from ..core.expression_set import BASE_TEXTURE_FILE, ExpressionSet, expression_file_names, read_expression_set
from .face_object import SET_PATH_PROPERTY, expression_keys, face_prompts
from .texture_blend_nodes import (BASE_TEXTURE_NODE_NAME, BLEND_NODE_NAME, blend_group_expression_names,
                                  mask_socket, texture_socket)

log = logging.getLogger(__name__)

TEXTURE_FOLDER = "textures"
"""The folder of textures beside face.blend and face.fbx."""

TextureSource = Path | bpy.types.Image
"""A PNG file, or a Blender image (packed, or a file Blender resolves from the .blend)."""


@dataclass
class TextureSources:
    """What an export writes into its textures/ folder, and the expressions that have a texture and a mask."""

    files: dict[str, TextureSource]
    """File name in the textures/ folder (base_texture.png, NAME.texture.png, NAME.mask.png) -> its pixels."""
    expressions: list[str]
    """The shape keys, in order, that have a texture and a mask."""
    prompts: dict[str, str]
    """Expression name -> the prompt that made it."""


@contextlib.contextmanager
def texture_sources(face: bpy.types.Object, expression_set: ExpressionSet | None = None) -> Iterator[TextureSources]:
    """The face's textures: from `expression_set` when given, else from its blend material's images, else from the
    expression set the face records (opened for the duration of the `with`). Raises PromptFaceError, before anything
    is written, when an image is neither packed nor found."""
    if expression_set is not None:
        yield set_texture_sources(face, expression_set)
    elif blend_material(face) is not None:
        yield image_texture_sources(face)
    else:
        recorded = recorded_expression_set(face)
        try:
            yield set_texture_sources(face, recorded)
        finally:
            recorded.close()


def image_texture_sources(face: bpy.types.Object) -> TextureSources:
    images = face_images(face)
    check_images_found(face, images)
    prompts = face_prompts(face)
    names = blended_expressions(face)
    return TextureSources(files=dict(images), expressions=names,
                          prompts={name: prompts.get(name, name) for name in names})


def set_texture_sources(face: bpy.types.Object, expression_set: ExpressionSet) -> TextureSources:
    """The textures of the face's keys from the set: each expression's, and each rig shape's that has one."""
    rig_shapes = expression_set.rig.shapes if expression_set.rig else []
    textured = {expression.name: expression for expression in expression_set.expressions}
    textured.update({shape.name: shape for shape in rig_shapes if shape.texture_path})
    untextured_shapes = {shape.name for shape in rig_shapes if not shape.texture_path}
    key_names = [key.name for key in expression_keys(face)]
    for name in key_names:
        if name not in textured and name not in untextured_shapes:
            log.warning("Shape key '%s' is not an expression of %s; it is exported without texture or mask",
                        name, expression_set.root)
    names = [name for name in key_names if name in textured]
    files: dict[str, TextureSource] = {BASE_TEXTURE_FILE: expression_set.base_texture_path}
    for name in names:
        file_names = expression_file_names(name)
        files[file_names["texture"]] = textured[name].texture_path
        files[file_names["mask"]] = textured[name].mask_path
    return TextureSources(files=files, expressions=names,
                          prompts={expression.name: expression.prompt for expression in expression_set.expressions})


def recorded_expression_set(face: bpy.types.Object) -> ExpressionSet:
    """The expression set the face records it was built from; a path starting with // is relative to the .blend."""
    root = face.get(SET_PATH_PROPERTY)
    if not root:
        raise PromptFaceError(f"Cannot export the textures of '{face.name}': it does not record the expression set "
                              f"it was built from (custom property '{SET_PATH_PROPERTY}'); pass the set explicitly")
    return read_expression_set(bpy.path.abspath(root))


# ---------------------------------------------------------------------------------------------------------------
# The blend material's images


def blend_material(face: bpy.types.Object) -> bpy.types.Material | None:
    """The face's material with the PromptFace blend node, or None."""
    for slot in face.material_slots:
        tree = slot.material.node_tree if slot.material is not None else None
        node = tree.nodes.get(BLEND_NODE_NAME) if tree is not None else None
        if node is not None and node.bl_idname == "ShaderNodeGroup" and node.node_tree is not None:
            return slot.material
    return None


def blended_expressions(face: bpy.types.Object) -> list[str]:
    """The face's shape keys, in order, that its blend material blends (so have a texture and a mask)."""
    material = blend_material(face)
    if material is None:
        return []
    blended = set(blend_group_expression_names(material.node_tree.nodes[BLEND_NODE_NAME].node_tree))
    return [key.name for key in expression_keys(face) if key.name in blended]


def face_images(face: bpy.types.Object) -> dict[str, bpy.types.Image]:
    """File name in a textures/ folder -> the image the blend material reads there: the base texture, then the
    texture and mask of each blended expression. Empty for a face without the blend material."""
    material = blend_material(face)
    if material is None:
        return {}
    nodes = material.node_tree.nodes
    images = {BASE_TEXTURE_FILE: _node_image(face, nodes, BASE_TEXTURE_NODE_NAME)}
    for name in blended_expressions(face):
        file_names = expression_file_names(name)
        images[file_names["texture"]] = _node_image(face, nodes, texture_socket(name))
        images[file_names["mask"]] = _node_image(face, nodes, mask_socket(name))
    return images


def _node_image(face: bpy.types.Object, nodes, node_name: str) -> bpy.types.Image:
    node = nodes.get(node_name)
    if node is None or getattr(node, "image", None) is None:
        raise PromptFaceError(f"the material of '{face.name}' has no image in its node '{node_name}'; "
                              "rebuild the face from its expression set")
    return node.image


def image_file(image: bpy.types.Image) -> Path:
    """The file Blender reads the image from (a // path resolved against the open .blend)."""
    return Path(bpy.path.abspath(image.filepath, library=image.library))


def image_found(image: bpy.types.Image) -> bool:
    return image.packed_file is not None or image_file(image).is_file()


def check_images_found(face: bpy.types.Object, images: dict[str, bpy.types.Image]) -> None:
    missing = [image for image in images.values() if not image_found(image)]
    if missing:
        where = ", ".join(f"'{image.name}' ({image_file(image)})" for image in missing[:3])
        raise PromptFaceError(
            f"{len(missing)} image(s) of '{face.name}' are neither packed nor found: {where}. Keep face.blend "
            f"together with its {TEXTURE_FOLDER}/ folder, or pack the images (promptface animate --pack-textures, "
            "or File > External Data > Pack Resources)")


def write_texture(source: TextureSource, destination: Path) -> None:
    """Write one texture's PNG bytes to `destination` (a packed image's bytes are the PNG it was packed from)."""
    if isinstance(source, bpy.types.Image):
        if source.packed_file is not None:
            destination.write_bytes(bytes(source.packed_file.data))
            return
        source = image_file(source)
    shutil.copyfile(source, destination)


def texture_file(source: TextureSource) -> Path | None:
    """The file a texture is read from; None for a packed image."""
    if isinstance(source, bpy.types.Image):
        return None if source.packed_file is not None else image_file(source)
    return source


# ---------------------------------------------------------------------------------------------------------------
# Making a face's .blend self-contained


def store_images_in(face: bpy.types.Object, folder: Path) -> None:
    """Copy the blend material's images into `folder` (under their textures/ names) and point the images there, so
    that saving the .blend with relative paths makes them `//textures/...`."""
    images = face_images(face)
    check_images_found(face, images)
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, image in images.items():
        destination = folder / file_name
        source = texture_file(image)
        if source is None or source.resolve() != destination.resolve():
            write_texture(image, destination)
        image.filepath = str(destination)


def pack_images(face: bpy.types.Object) -> None:
    """Pack the blend material's images into the .blend (each keeps its file path for unpacking)."""
    for image in face_images(face).values():
        if image.packed_file is None:
            image.pack()
