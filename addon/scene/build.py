"""The whole face as the command line and the add-on's operators both build it: object, blended material, drivers."""
import bpy

from ..core.expression_set import ExpressionSet
from .face_object import build_face_object
from .texture_blend_nodes import build_face_material


def build_face(expression_set: ExpressionSet, name: str = "PromptFace", prompt_keys: bool = False) -> bpy.types.Object:
    """One face object with a shape key per expression — or, for a set with an ARKit rig, the rig's 52 keys (and a
    key per expression only with `prompt_keys`) — and the texture-blend material driven by them."""
    face = build_face_object(expression_set, name=name, prompt_keys=prompt_keys)
    build_face_material(face, expression_set, prompt_keys)  # it drives the blend weights by the keys
    return face
