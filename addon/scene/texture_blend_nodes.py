"""The texture blend in Blender: a shader node group, the face material around it, and drivers from shape keys.

The group computes docs/design.md "Texture blending" exactly, with the same names as addon/core/texture_blend.py:

    e_k = (1 − M_k)·w_k + M_k·smoothstep(a, b, w_k)      Map Range (SMOOTHSTEP) + Mix (Float)
    C   = clamp(T0 + Σ_k e_k·(T_k − T0), 0, 1)           Vector Math subtract / scale / add + Map Range (clamp)

Cycles' Map Range SMOOTHSTEP clamps t = (w − a)/(b − a) to [0, 1] and returns 3t² − 2t³, the reference's
smoothstep (it returns 0 when a == b and mirrors when a > b; the reference refuses both). The Mix node in Float mode
is A·(1 − f) + B·f, which with f = M_k, A = w_k, B = smoothstep is e_k term for term.

Colour spaces: the blend runs on the values the shader sees. Image Texture nodes of 8-bit sRGB images output
linear-light values (the IEC 61966-2-1 sRGB EOTF applied to byte/255), and masks are loaded as Non-Color, so they
arrive as raw byte/255. The numpy reference reproduces the node tree when it is fed sRGB-decoded base and expression
textures and raw masks, and the result is a linear-light colour (what a float bake or the renderer receives).

What is blended (blend_layers): each expression but the neutral, and a rig's shapes that have a texture.

Shape-key values are the only thing animated: each "<name> Weight" input of the group node is driven by the shape key
of that name through an AVERAGE driver with one single-property variable (no Python expression, so drivers run even
when auto-run of scripts is off).
"""
import bpy

from ..core.expression_set import Expression, ExpressionSet, RigShape
from ..core.texture_blend import DEFAULT_EDGE_HIGH, DEFAULT_EDGE_LOW
from ..scene.face_object import NEUTRAL_NAME, expression_keys, has_prompt_keys

GROUP_NAME = "PromptFace Texture Blend"
MATERIAL_PREFIX = "PromptFace"
BLEND_NODE_NAME = "PromptFace Blend"
BASE_TEXTURE_NODE_NAME = "Base Texture"
UV_NODE_NAME = "UV Map"
BSDF_NODE_NAME = "Principled BSDF"
OUTPUT_NODE_NAME = "Material Output"

BASE_SOCKET = "Base"
EDGE_LOW_SOCKET = "Edge Low"
EDGE_HIGH_SOCKET = "Edge High"
OUTPUT_SOCKET = "Color"
_EXPRESSION_SOCKET_SUFFIXES = (" Texture", " Mask", " Weight")

# Node-editor layout of the material, one x per column; image nodes stack downwards.
_COLUMN_X = {"uv": -1300.0, "images": -1000.0, "blend": -600.0, "bsdf": -300.0, "output": 100.0}
_IMAGE_ROW_HEIGHT = 300.0


def texture_socket(name: str) -> str:
    return f"{name} Texture"


def mask_socket(name: str) -> str:
    return f"{name} Mask"


def weight_socket(name: str) -> str:
    return f"{name} Weight"


def face_group_name(face: bpy.types.Object) -> str:
    """The name of the blend group of one face (each face has its own expressions, so its own group)."""
    return f"{GROUP_NAME} ({face.name})"


def face_material_name(face: bpy.types.Object) -> str:
    return f"{MATERIAL_PREFIX} {face.name}"


# ---------------------------------------------------------------------------------------------------------------
# The node group


def build_blend_group(expression_names: list[str], name: str = GROUP_NAME) -> bpy.types.ShaderNodeTree:
    """Build, or rebuild in place, the blend group `name` for these expressions, in this order.

    Inputs: "Base" (Color); per expression "<name> Texture" (Color), "<name> Mask" (Float 0..1),
    "<name> Weight" (Float 0..1); "Edge Low", "Edge High". Output: "Color".
    Rebuilding keeps the sockets that stay (same identifiers), so links into group nodes that use it and the values
    set on those nodes survive; the inside of the group is rebuilt from scratch.
    """
    _check_expression_names(expression_names)
    tree = bpy.data.node_groups.get(name)
    if tree is None:
        tree = bpy.data.node_groups.new(name, "ShaderNodeTree")
    elif tree.bl_idname != "ShaderNodeTree":
        raise ValueError(f"a node group named '{name}' exists and is not a shader node group; rename it")
    _sync_interface(tree, _interface_spec(expression_names))
    _build_group_nodes(tree, expression_names)
    return tree


def blend_group_expression_names(tree: bpy.types.ShaderNodeTree) -> list[str]:
    """The expressions a blend group blends, in input order (read from its "<name> Weight" inputs)."""
    suffix = _EXPRESSION_SOCKET_SUFFIXES[-1]
    return [socket.name[:-len(suffix)] for socket in _interface_sockets(tree)
            if socket.in_out == "INPUT" and socket.name.endswith(suffix)]


def _check_expression_names(expression_names: list[str]) -> None:
    for name in expression_names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"expression names must be non-empty strings, got {name!r}")
    repeated = sorted({name for name in expression_names if expression_names.count(name) > 1})
    if repeated:
        raise ValueError(f"expression names must be unique; repeated: {', '.join(repeated)}")


def _interface_spec(expression_names: list[str]) -> list[dict]:
    """Every socket of the group, outputs first (Blender lists outputs before inputs), inputs in node order."""
    factor = {"socket_type": "NodeSocketFloat", "subtype": "FACTOR", "min_value": 0.0, "max_value": 1.0}
    spec = [{"name": OUTPUT_SOCKET, "in_out": "OUTPUT", "socket_type": "NodeSocketColor"},
            {"name": BASE_SOCKET, "in_out": "INPUT", "socket_type": "NodeSocketColor",
             "default_value": (0.5, 0.5, 0.5, 1.0)}]
    for name in expression_names:
        spec += [{"name": texture_socket(name), "in_out": "INPUT", "socket_type": "NodeSocketColor",
                  "default_value": (0.5, 0.5, 0.5, 1.0)},
                 {"name": mask_socket(name), "in_out": "INPUT", **factor, "default_value": 0.0},
                 {"name": weight_socket(name), "in_out": "INPUT", **factor, "default_value": 0.0}]
    spec += [{"name": EDGE_LOW_SOCKET, "in_out": "INPUT", **factor, "default_value": DEFAULT_EDGE_LOW},
             {"name": EDGE_HIGH_SOCKET, "in_out": "INPUT", **factor, "default_value": DEFAULT_EDGE_HIGH}]
    return spec


def _interface_sockets(tree: bpy.types.NodeTree) -> list:
    return [item for item in tree.interface.items_tree if item.item_type == "SOCKET"]


def _sync_interface(tree: bpy.types.NodeTree, spec: list[dict]) -> None:
    """Make the group's sockets exactly `spec`, reusing sockets of the same name, direction and type."""
    interface = tree.interface
    existing = {(socket.name, socket.in_out): socket for socket in _interface_sockets(tree)}
    kept = []
    for wanted in spec:
        socket = existing.pop((wanted["name"], wanted["in_out"]), None)
        if socket is not None and socket.socket_type != wanted["socket_type"]:
            interface.remove(socket)
            socket = None
        if socket is None:
            socket = interface.new_socket(wanted["name"], in_out=wanted["in_out"], socket_type=wanted["socket_type"])
        for attribute in ("subtype", "min_value", "max_value", "default_value"):
            if attribute in wanted:
                setattr(socket, attribute, wanted[attribute])
        kept.append(socket)
    for socket in existing.values():  # sockets of expressions no longer blended, and strays
        interface.remove(socket)
    for item in list(interface.items_tree):
        if item.item_type == "PANEL":
            interface.remove(item)
    # Outputs come first in `spec`, as Blender keeps them, so the spec index is the socket's position.
    for position, socket in enumerate(kept):
        if socket.position != position:
            interface.move(socket, position)
    order = [(socket.name, socket.in_out) for socket in _interface_sockets(tree)]
    if order != [(wanted["name"], wanted["in_out"]) for wanted in spec]:
        raise RuntimeError(f"could not order the sockets of node group '{tree.name}': {order}")


def _build_group_nodes(tree: bpy.types.ShaderNodeTree, expression_names: list[str]) -> None:
    nodes, links = tree.nodes, tree.links
    nodes.clear()
    group_in = nodes.new("NodeGroupInput")
    group_in.location = (-900.0, 0.0)
    group_out = nodes.new("NodeGroupOutput")
    group_out.location = (900.0, 0.0)

    def inp(socket_name: str) -> bpy.types.NodeSocket:
        return _socket(group_in.outputs, socket_name)

    accumulated = inp(BASE_SOCKET)  # T0 + Σ e_k·(T_k − T0), one expression per row
    for row, name in enumerate(expression_names):
        y = -row * 400.0
        # Map Range in SMOOTHSTEP mode: smoothstep(Edge Low, Edge High, w_k), already clamped to [0, 1].
        step = _new_node(nodes, "ShaderNodeMapRange", f"{name} Smoothstep", (-600.0, y))
        step.data_type, step.interpolation_type = "FLOAT", "SMOOTHSTEP"
        links.new(inp(weight_socket(name)), _socket(step.inputs, "Value"))
        links.new(inp(EDGE_LOW_SOCKET), _socket(step.inputs, "From Min"))
        links.new(inp(EDGE_HIGH_SOCKET), _socket(step.inputs, "From Max"))
        _socket(step.inputs, "To Min").default_value = 0.0
        _socket(step.inputs, "To Max").default_value = 1.0
        # e_k = (1 − M_k)·w_k + M_k·smoothstep: a Float Mix with factor M_k.
        effective = _new_node(nodes, "ShaderNodeMix", f"{name} Effective Weight", (-350.0, y))
        effective.data_type, effective.clamp_factor = "FLOAT", True
        links.new(inp(mask_socket(name)), _socket(effective.inputs, "Factor_Float"))
        links.new(inp(weight_socket(name)), _socket(effective.inputs, "A_Float"))
        links.new(step.outputs["Result"], _socket(effective.inputs, "B_Float"))
        # e_k·(T_k − T0) added to the running sum.
        delta = _new_node(nodes, "ShaderNodeVectorMath", f"{name} Delta", (-350.0, y - 200.0))
        delta.operation = "SUBTRACT"
        links.new(inp(texture_socket(name)), delta.inputs[0])
        links.new(inp(BASE_SOCKET), delta.inputs[1])
        scaled = _new_node(nodes, "ShaderNodeVectorMath", f"{name} Weighted Delta", (-100.0, y))
        scaled.operation = "SCALE"
        links.new(delta.outputs["Vector"], scaled.inputs[0])
        links.new(effective.outputs["Result"], _socket(scaled.inputs, "Scale"))
        total = _new_node(nodes, "ShaderNodeVectorMath", f"{name} Sum", (150.0, y))
        total.operation = "ADD"
        links.new(accumulated, total.inputs[0])
        links.new(scaled.outputs["Vector"], total.inputs[1])
        accumulated = total.outputs["Vector"]
    # clamp(·, 0, 1) per channel: a linear Map Range 0..1 → 0..1 on vectors with Clamp on.
    clamp = _new_node(nodes, "ShaderNodeMapRange", "Clamp 0..1", (500.0, 0.0))
    clamp.data_type, clamp.interpolation_type, clamp.clamp = "FLOAT_VECTOR", "LINEAR", True
    links.new(accumulated, _socket(clamp.inputs, "Vector"))
    for identifier, value in (("From_Min_FLOAT3", 0.0), ("From_Max_FLOAT3", 1.0),
                              ("To_Min_FLOAT3", 0.0), ("To_Max_FLOAT3", 1.0)):
        _socket(clamp.inputs, identifier).default_value = (value, value, value)
    links.new(_socket(clamp.outputs, "Vector"), _socket(group_out.inputs, OUTPUT_SOCKET))


def _new_node(nodes, node_type: str, name: str, location: tuple[float, float]) -> bpy.types.Node:
    node = nodes.new(node_type)
    node.name = node.label = name
    node.location = location
    return node


def _socket(sockets, key: str) -> bpy.types.NodeSocket:
    """The socket whose identifier is `key`, else the enabled socket named `key` (names repeat across modes)."""
    for socket in sockets:
        if socket.identifier == key:
            return socket
    for socket in sockets:
        if socket.name == key and socket.enabled:
            return socket
    raise KeyError(f"no socket {key!r} among {[socket.identifier for socket in sockets]}")


# ---------------------------------------------------------------------------------------------------------------
# The material


def blend_layers(expression_set: ExpressionSet, prompt_keys: bool = False) -> list[Expression | RigShape]:
    """What a face of this set blends, in shape-key order: the rig's shapes that have a texture, then every
    expression but the neutral (which is the Basis) when the face has a key per expression (has_prompt_keys)."""
    rig_shapes = [shape for shape in expression_set.rig.shapes if shape.texture_path] if expression_set.rig else []
    expressions = [expression for expression in expression_set.expressions if expression.name != NEUTRAL_NAME]
    return rig_shapes + (expressions if has_prompt_keys(expression_set, prompt_keys) else [])


def build_face_material(face: bpy.types.Object, expression_set: ExpressionSet,
                        prompt_keys: bool = False) -> bpy.types.Material:
    """The material "PromptFace <face name>" blending the set's textures (blend_layers; `prompt_keys` as for
    build_face_object), assigned to the face's first slot; each weight input is driven by the shape key of the same
    name (see drive_blend_weights). Rebuilding a face's material replaces its nodes."""
    layers = blend_layers(expression_set, prompt_keys)
    names = [layer.name for layer in layers]
    _check_face(face, names)
    group = build_blend_group(names, name=face_group_name(face))
    material = bpy.data.materials.get(face_material_name(face))
    if material is None:
        material = bpy.data.materials.new(face_material_name(face))
    if bpy.app.version < (5, 0, 0):  # from 5.0 materials always use nodes and use_nodes is deprecated
        material.use_nodes = True
    tree = material.node_tree
    if tree.animation_data is not None:
        tree.animation_data_clear()
    tree.nodes.clear()

    uv = _new_node(tree.nodes, "ShaderNodeUVMap", UV_NODE_NAME, (_COLUMN_X["uv"], 0.0))
    uv.uv_map = face.data.uv_layers.active.name if face.data.uv_layers.active else ""
    base = _image_node(tree, BASE_TEXTURE_NODE_NAME, _load_image(expression_set.base_texture_path, "sRGB"), 0)
    links = tree.links
    links.new(uv.outputs["UV"], base.inputs["Vector"])

    blend = _new_node(tree.nodes, "ShaderNodeGroup", BLEND_NODE_NAME, (_COLUMN_X["blend"], 0.0))
    blend.node_tree = group
    blend.width = 240.0
    links.new(base.outputs["Color"], _socket(blend.inputs, BASE_SOCKET))

    bsdf = _new_node(tree.nodes, "ShaderNodeBsdfPrincipled", BSDF_NODE_NAME, (_COLUMN_X["bsdf"], 0.0))
    bsdf.inputs["Roughness"].default_value = 0.5
    bsdf.inputs["Specular IOR Level"].default_value = 0.5
    bsdf.inputs["Specular Tint"].default_value = (1.0, 1.0, 1.0, 1.0)
    links.new(_socket(blend.outputs, OUTPUT_SOCKET), bsdf.inputs["Base Color"])
    output = _new_node(tree.nodes, "ShaderNodeOutputMaterial", OUTPUT_NODE_NAME, (_COLUMN_X["output"], 0.0))
    output.target = "ALL"
    links.new(bsdf.outputs["BSDF"], output.inputs["Surface"])
    tree.nodes.active = output

    for layer in layers:
        _add_expression_nodes(material, layer)
    _assign(face, material)
    drive_blend_weights(face, material)
    return material


def add_expression_to_material(face: bpy.types.Object, material: bpy.types.Material,
                               expression: Expression) -> None:
    """Append one expression to a face material built by build_face_material (the live, append-only loop).

    The group gains the expression's three inputs (existing inputs, links and values stay), the expression's
    texture and mask nodes are added and wired, and the weight drivers are re-created. The face must already have
    the expression's shape key.
    """
    blend = _blend_node(material)
    names = blend_group_expression_names(blend.node_tree)
    if expression.name in names:
        raise ValueError(f"material '{material.name}' already blends expression '{expression.name}'")
    _check_face(face, [expression.name])
    build_blend_group(names + [expression.name], name=blend.node_tree.name)
    _add_expression_nodes(material, expression)
    drive_blend_weights(face, material)


def _check_face(face: bpy.types.Object, names: list[str]) -> None:
    if face.type != "MESH":
        raise ValueError(f"'{face.name}' is a {face.type.lower()} object; the texture blend needs the face mesh")
    if not face.data.uv_layers:
        raise ValueError(f"the face '{face.name}' has no UV map; the textures need one")
    keys = {key.name for key in expression_keys(face)}
    missing = [name for name in names if name not in keys]
    if missing:
        raise ValueError(f"the face '{face.name}' has no shape key for {', '.join(missing)}; add the shape keys "
                         "(build_face_object / add_shape_key) before the material")


def _blend_node(material: bpy.types.Material) -> bpy.types.ShaderNodeGroup:
    node = material.node_tree.nodes.get(BLEND_NODE_NAME) if material.node_tree else None
    if node is None or node.bl_idname != "ShaderNodeGroup" or node.node_tree is None:
        raise ValueError(f"material '{material.name}' has no '{BLEND_NODE_NAME}' group node; "
                         "build it with build_face_material")
    return node


def _add_expression_nodes(material: bpy.types.Material, expression: Expression | RigShape) -> None:
    """Texture (sRGB) and mask (Non-Color) image nodes of one expression (or rig shape), wired into the blend group
    node."""
    tree = material.node_tree
    blend = _blend_node(material)
    uv = tree.nodes[UV_NODE_NAME]
    row = 1 + 2 * blend_group_expression_names(blend.node_tree).index(expression.name)
    for socket_name, path, colorspace, offset in ((texture_socket(expression.name), expression.texture_path,
                                                   "sRGB", 0),
                                                  (mask_socket(expression.name), expression.mask_path,
                                                   "Non-Color", 1)):
        node = tree.nodes.get(socket_name)
        if node is not None:
            tree.nodes.remove(node)
        node = _image_node(tree, socket_name, _load_image(path, colorspace), row + offset)
        tree.links.new(uv.outputs["UV"], node.inputs["Vector"])
        tree.links.new(node.outputs["Color"], _socket(blend.inputs, socket_name))


def _image_node(tree: bpy.types.NodeTree, name: str, image: bpy.types.Image, row: int) -> bpy.types.Node:
    node = _new_node(tree.nodes, "ShaderNodeTexImage", name, (_COLUMN_X["images"], -row * _IMAGE_ROW_HEIGHT))
    node.image = image
    node.interpolation = "Linear"
    node.extension = "EXTEND"  # a UV atlas does not tile: never blend in texels from the opposite edge
    return node


def _load_image(path, colorspace: str) -> bpy.types.Image:
    image = bpy.data.images.load(str(path), check_existing=True)
    image.colorspace_settings.name = colorspace
    return image


def _assign(face: bpy.types.Object, material: bpy.types.Material) -> None:
    materials = face.data.materials
    if len(materials) == 0:
        materials.append(material)
    else:
        materials[0] = material


# ---------------------------------------------------------------------------------------------------------------
# Drivers


def drive_blend_weights(face: bpy.types.Object, material: bpy.types.Material) -> None:
    """Drive every "<name> Weight" input of the material's blend node by the face's shape key <name>.

    Each driver is AVERAGE over one SINGLE_PROP variable reading key_blocks["<name>"].value of the face's shape-key
    datablock. Existing drivers on the blend node's inputs are replaced (input indices move when expressions are
    added). Shape keys that the material does not blend are left alone.
    """
    blend = _blend_node(material)
    keys = face.data.shape_keys
    names = blend_group_expression_names(blend.node_tree)
    key_names = {key.name for key in expression_keys(face)}
    missing = [name for name in names if name not in key_names]
    if missing:
        raise ValueError(f"material '{material.name}' blends {', '.join(missing)} but the face '{face.name}' "
                         "has no shape key of that name")
    tree = material.node_tree
    prefix = f'nodes["{bpy.utils.escape_identifier(blend.name)}"].inputs['
    if tree.animation_data is not None:
        for fcurve in list(tree.animation_data.drivers):
            if fcurve.data_path.startswith(prefix):
                tree.animation_data.drivers.remove(fcurve)
    for name in names:
        socket = _socket(blend.inputs, weight_socket(name))
        fcurve = socket.driver_add("default_value")
        driver = fcurve.driver
        driver.type = "AVERAGE"
        variable = driver.variables.new()
        variable.name = "weight"
        variable.type = "SINGLE_PROP"
        target = variable.targets[0]
        target.id_type = "KEY"
        target.id = keys
        target.data_path = f'key_blocks["{bpy.utils.escape_identifier(name)}"].value'
