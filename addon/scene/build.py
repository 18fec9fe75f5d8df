"""The whole face as the command line and the add-on's operators both build it: object, blended material, drivers."""
import bpy

from ..core.expression_set import ExpressionSet
from .face_object import build_face_object
from .texture_blend_nodes import build_face_material, drive_blend_weights


def build_face(expression_set: ExpressionSet, name: str = "PromptFace") -> bpy.types.Object:
    """One face object with a shape key per expression and the texture-blend material driven by them."""
    face = build_face_object(expression_set, name=name)
    drive_blend_weights(face, build_face_material(face, expression_set))
    return face
