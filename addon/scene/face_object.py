"""One face object from an expression set: base mesh with UVs, Basis + one shape key per expression; or, for a set
with an ARKit rig, Basis + the rig's 52 shape keys named as ARKit names them (then the per-prompt keys only when
asked), with every prompt and viseme recorded on the object as a named pose (addon.scene.rig sets the keys from one).

Bulk data moves through `foreach_set` on flat float32 arrays; there are no per-vertex Python loops.
"""
import bpy
import numpy as np

from ..core.arkit_poses import rig_poses
from ..core.coordinates import expression_set_to_blender
from ..core.expression_set import ExpressionSet
from ..core.obj_mesh import Mesh
from ..core.prompt_grammar import NEUTRAL_NAME
from ..core.self_check import agrees, reading_label

# Custom properties on the face object, so later steps (append, export) find what built it.
SET_PATH_PROPERTY = "promptface_expression_set"
PROMPTS_PROPERTY = "promptface_prompts"
# {expression name: {"label": the self-check's label, "disagrees": 0 or 1}} for the panel.
SELF_CHECK_PROPERTY = "promptface_self_check"
RIG_PROPERTY = "promptface_rig"
"""The kind of rig a rigged face's keys are ("arkit"); absent on a face with a shape key per prompt."""
POSES_PROPERTY = "promptface_poses"
"""{pose name: {ARKit shape: weight}} of a rigged face: the neutral, every prompt, the visemes."""


def build_face_object(expression_set: ExpressionSet, name: str = "PromptFace",
                      collection: bpy.types.Collection | None = None, prompt_keys: bool = False) -> bpy.types.Object:
    """Create the face object (linked into `collection`, default the scene's): Basis, then the rig's shape keys
    when the set has a rig, then one shape key per expression — always without a rig, with one only when
    `prompt_keys`."""
    mesh = mesh_from_arrays(name, expression_set.base_mesh)
    face = bpy.data.objects.new(name, mesh)
    (collection or bpy.context.scene.collection).objects.link(face)
    face.shape_key_add(name="Basis", from_mix=False)
    for shape in expression_set.rig.shapes if expression_set.rig else ():
        add_shape_key(face, shape.name, shape.vertices)
    if has_prompt_keys(expression_set, prompt_keys):
        for expression in expression_set.expressions:
            if expression.name != NEUTRAL_NAME:
                add_shape_key(face, expression.name, expression.vertices)
    record_set_properties(face, expression_set)
    return face


def has_prompt_keys(expression_set: ExpressionSet, prompt_keys: bool) -> bool:
    """Whether a face of this set gets a shape key per expression: always without a rig, on request with one."""
    return expression_set.rig is None or prompt_keys


def record_set_properties(face: bpy.types.Object, expression_set: ExpressionSet) -> None:
    """The custom properties later steps read: where the set is, each expression's prompt and self-check, and for
    a rigged set its kind and poses."""
    expressions = [e for e in expression_set.expressions if e.name != NEUTRAL_NAME]
    face[SET_PATH_PROPERTY] = str(expression_set.root)
    if expression_set.rig is not None:
        face[RIG_PROPERTY] = expression_set.rig.kind
        face[POSES_PROPERTY] = rig_poses(expression_set)
    face[PROMPTS_PROPERTY] = {e.name: e.prompt for e in expressions}
    face[SELF_CHECK_PROPERTY] = {
        e.name: {"label": reading_label(e.record.get("weights"), e.record.get("reads_as")),
                 "disagrees": int(agrees(e.record.get("weights"), e.record.get("reads_as")) is False)}
        for e in expressions}


def face_self_checks(face: bpy.types.Object) -> dict[str, tuple[str, bool]]:
    """{expression name: (label, disagrees)} recorded from the set (empty for faces built before it existed)."""
    return {name: (str(value["label"]), bool(value["disagrees"]))
            for name, value in face.get(SELF_CHECK_PROPERTY, {}).items()}


def face_prompts(face: bpy.types.Object) -> dict[str, str]:
    """{expression name: prompt} recorded when the face was built (schedules may name either)."""
    return {name: str(prompt) for name, prompt in face.get(PROMPTS_PROPERTY, {}).items()}


def mesh_from_arrays(name: str, source: Mesh) -> bpy.types.Mesh:
    """A Blender mesh (triangles, one UV layer, smooth shading) from an expression-set mesh."""
    vertices = expression_set_to_blender(source.vertices).astype(np.float32)
    faces = np.asarray(source.faces, dtype=np.int32)
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(len(vertices))
    mesh.vertices.foreach_set("co", vertices.ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    uv_layer = mesh.uv_layers.new(name="UVMap")
    corner_uvs = np.asarray(source.uvs, dtype=np.float32)[np.asarray(source.face_uvs).ravel()]
    uv_layer.data.foreach_set("uv", corner_uvs.ravel())
    mesh.update()
    if mesh.validate(verbose=False):
        raise ValueError(f"the mesh '{name}' had invalid geometry that Blender had to correct")
    mesh.shade_smooth()
    return mesh


def add_shape_key(face: bpy.types.Object, name: str, vertices: np.ndarray) -> bpy.types.ShapeKey:
    """A shape key named `name` holding (V,3) expression-set vertices, value range 0..1."""
    if face.data.shape_keys and name in face.data.shape_keys.key_blocks:
        raise ValueError(f"the face already has a shape key named '{name}'")
    expected = len(face.data.vertices)
    if vertices.shape != (expected, 3):
        raise ValueError(f"shape key '{name}' has {vertices.shape} vertices; the face has ({expected}, 3)")
    key = face.shape_key_add(name=name, from_mix=False)
    key.data.foreach_set("co", expression_set_to_blender(vertices).astype(np.float32).ravel())
    key.slider_min, key.slider_max, key.value = 0.0, 1.0, 0.0
    return key


def expression_keys(face: bpy.types.Object) -> list[bpy.types.ShapeKey]:
    """The face's expression shape keys (every key but the Basis), in order."""
    keys = face.data.shape_keys
    return [] if keys is None else [block for block in keys.key_blocks if block != keys.reference_key]


def shape_key_coordinates(key: bpy.types.ShapeKey) -> np.ndarray:
    """(V,3) float32 Blender coordinates of a shape key (read with foreach_get)."""
    flat = np.empty(len(key.data) * 3, dtype=np.float32)
    key.data.foreach_get("co", flat)
    return flat.reshape(-1, 3)
