"""The texture-blend node group, the face material and its drivers, in real Blender.

The key check bakes the material with Cycles (CPU) into a float image and compares it, texel by texel, with the
numpy reference addon.core.texture_blend.blend_textures.

What the reference is fed: the blend runs on the values the shader sees. An Image Texture node outputs linear-light
values for an sRGB image, so the reference gets the base and expression textures decoded with the sRGB EOTF
(IEC 61966-2-1) and the masks raw (Non-Color) divided by 255; the bake writes that linear result untouched into a
Non-Color float image.

How the bake is made exact:
- EMIT, not DIFFUSE/COLOR: the group's colour goes through a temporary Emission shader. The Principled BSDF's diffuse
  colour pass is the base colour times (1 − specular albedo) (≈ 0.963 at the default IOR 1.5) in Blender 4.x, so it
  is not the base colour.
- One sample, no margin. The first bake sample is not jittered; Blender places it at texel (i + 0.501, j + 0.502),
  i.e. 0.001–0.002 texel off centre (test_bake_samples_each_texel_at_its_centre measures this). With Linear
  interpolation that mixes 0.1–0.2 % of a neighbouring texel into each sample — up to ~7e-3 after the sRGB EOTF on
  these random-noise textures — so the test sets its image nodes to Closest. The production material keeps Linear
  (smooth on screen); the maths under test is the same.
- Blender images store rows bottom-to-top and PNGs top-to-bottom: baked pixels are flipped before comparing.
"""
import dataclasses

import bpy
import numpy as np
import pytest
from PIL import Image  # tests only: an independent PNG decoder

from addon.core.texture_blend import DEFAULT_EDGE_HIGH, DEFAULT_EDGE_LOW, blend_textures
from addon.scene.face_object import add_shape_key, build_face_object
from addon.scene.texture_blend_nodes import (BLEND_NODE_NAME, BSDF_NODE_NAME, GROUP_NAME, OUTPUT_NODE_NAME,
                                             UV_NODE_NAME, add_expression_to_material, blend_group_expression_names,
                                             build_blend_group, build_face_material, drive_blend_weights)
from conftest import write_plane_set

# Cycles works in float32 and uses a fast (≤ 6e-7 relative) powf in its sRGB decode; the bakes agree with the
# float64 reference to ~6e-7. Any maths difference (linear instead of smoothstep, a wrong colour space, a missing
# clamp) is > 1e-2 on these textures.
BAKE_TOLERANCE = 1e-4


def test_group_has_exactly_the_design_sockets_and_rebuilding_adds_one_expression():
    group = build_blend_group(["happy", "surprised", "angry"])
    assert group.name == GROUP_NAME and group.bl_idname == "ShaderNodeTree"
    expected = [("Base", "NodeSocketColor")]
    for name in ("happy", "surprised", "angry"):
        expected += [(f"{name} Texture", "NodeSocketColor"), (f"{name} Mask", "NodeSocketFloat"),
                     (f"{name} Weight", "NodeSocketFloat")]
    expected += [("Edge Low", "NodeSocketFloat"), ("Edge High", "NodeSocketFloat")]
    assert _sockets(group, "INPUT") == expected
    assert _sockets(group, "OUTPUT") == [("Color", "NodeSocketColor")]
    inputs = {socket.name: socket for socket in group.interface.items_tree if socket.in_out == "INPUT"}
    assert inputs["Edge Low"].default_value == pytest.approx(DEFAULT_EDGE_LOW)
    assert inputs["Edge High"].default_value == pytest.approx(DEFAULT_EDGE_HIGH)
    for name in ("happy Mask", "happy Weight", "Edge Low", "Edge High"):
        assert (inputs[name].min_value, inputs[name].max_value, inputs[name].subtype) == (0.0, 1.0, "FACTOR")
    identifiers = {socket.name: socket.identifier for socket in inputs.values()}

    rebuilt = build_blend_group(["happy", "surprised", "angry", "sad"])
    assert rebuilt == group and len(bpy.data.node_groups) == 1
    assert _sockets(rebuilt, "INPUT") == (expected[:-2] + [("sad Texture", "NodeSocketColor"),
                                                           ("sad Mask", "NodeSocketFloat"),
                                                           ("sad Weight", "NodeSocketFloat")] + expected[-2:])
    assert blend_group_expression_names(rebuilt) == ["happy", "surprised", "angry", "sad"]
    kept = {socket.name: socket.identifier for socket in rebuilt.interface.items_tree if socket.in_out == "INPUT"}
    assert all(kept[name] == identifier for name, identifier in identifiers.items())  # links on group nodes survive


def test_group_refuses_repeated_expression_names():
    with pytest.raises(ValueError, match="repeated: happy"):
        build_blend_group(["happy", "sad", "happy"])


def test_material_wires_the_set_images_into_the_group_and_the_principled_bsdf(plane_set):
    face = build_face_object(plane_set)
    material = build_face_material(face, plane_set)
    assert material.name == f"PromptFace {face.name}" and face.material_slots[0].material == material
    nodes = material.node_tree.nodes
    blend = nodes[BLEND_NODE_NAME]
    assert blend.node_tree.name == f"{GROUP_NAME} ({face.name})"
    assert blend_group_expression_names(blend.node_tree) == ["happy", "surprised"]  # the neutral is the Basis

    def image_feeding(socket_name):
        (link,) = blend.inputs[socket_name].links
        node = link.from_node
        assert node.bl_idname == "ShaderNodeTexImage"
        assert node.inputs["Vector"].links[0].from_node == nodes[UV_NODE_NAME]
        return node.image

    base = image_feeding("Base")
    assert bpy.path.abspath(base.filepath) == str(plane_set.base_texture_path)
    assert base.colorspace_settings.name == "sRGB"
    for expression in plane_set.expressions[1:]:
        texture, mask = image_feeding(f"{expression.name} Texture"), image_feeding(f"{expression.name} Mask")
        assert bpy.path.abspath(texture.filepath) == str(expression.texture_path)
        assert texture.colorspace_settings.name == "sRGB"
        assert bpy.path.abspath(mask.filepath) == str(expression.mask_path)
        assert mask.colorspace_settings.name == "Non-Color"
        assert not blend.inputs[f"{expression.name} Weight"].is_linked  # driven, not linked
    bsdf = nodes[BSDF_NODE_NAME]
    assert bsdf.inputs["Base Color"].links[0].from_node == blend
    assert bsdf.inputs["Roughness"].default_value == pytest.approx(0.5)
    assert nodes[OUTPUT_NODE_NAME].inputs["Surface"].links[0].from_node == bsdf


def test_weight_inputs_are_driven_by_the_shape_keys(plane_set):
    face = build_face_object(plane_set)
    material = build_face_material(face, plane_set)
    blend = material.node_tree.nodes[BLEND_NODE_NAME]
    drivers = {fcurve.data_path: fcurve.driver for fcurve in material.node_tree.animation_data.drivers}
    assert len(drivers) == 2
    for name in ("happy", "surprised"):
        driver = drivers[blend.inputs[f"{name} Weight"].path_from_id("default_value")]
        assert driver.type == "AVERAGE" and driver.is_valid
        (variable,) = driver.variables
        assert variable.type == "SINGLE_PROP"
        target = variable.targets[0]
        assert (target.id_type, target.id, target.data_path) == ("KEY", face.data.shape_keys,
                                                                 f'key_blocks["{name}"].value')
    keys = face.data.shape_keys.key_blocks
    for happy, surprised in ((0.25, 0.8), (1.0, 0.0)):
        keys["happy"].value, keys["surprised"].value = happy, surprised
        bpy.context.view_layer.update()  # evaluates the drivers and copies the result back to the original
        assert blend.inputs["happy Weight"].default_value == pytest.approx(happy)
        assert blend.inputs["surprised Weight"].default_value == pytest.approx(surprised)


def test_bake_samples_each_texel_at_its_centre(plane_set):
    """Justifies comparing a 16×16 bake texel by texel: pixel (row i, column j) sees UV ≈ ((j + ½), (i + ½))/16."""
    face = build_face_object(plane_set)
    material = build_face_material(face, plane_set)
    tree = material.node_tree
    baked = _bake_emission(face, material, tree.nodes[UV_NODE_NAME].outputs["UV"], 16, flip_rows=False)
    centres = (np.arange(16) + 0.5) / 16
    np.testing.assert_allclose(baked[..., 0], np.broadcast_to(centres, (16, 16)), atol=0.005 / 16)
    np.testing.assert_allclose(baked[..., 1], np.broadcast_to(centres[:, None], (16, 16)), atol=0.005 / 16)


@pytest.mark.parametrize("weights", [(0.0, 0.0), (1.0, 0.0), (0.5, 0.0), (0.4, 0.3), (0.6, 0.9), (1.0, 1.0)])
def test_baked_blend_equals_the_numpy_reference(baked_plane, weights):
    face, material, reference_inputs = baked_plane
    _set_shape_keys(face, dict(zip(("happy", "surprised"), weights, strict=True)))
    baked = _bake_blend(face, material)
    expected = blend_textures(*reference_inputs, weights=np.array(weights))
    np.testing.assert_allclose(baked, expected, atol=BAKE_TOLERANCE, rtol=0)


def test_changing_regions_switch_late_and_the_rest_cross_fades(baked_plane):
    """Mask 0 on the left half, 1 on the right (see write_plane_set); smoothstep written out as 3t² − 2t³."""
    face, material, (base, textures, _) = baked_plane
    happy = textures[0]
    left, right = slice(0, 8), slice(8, 16)
    for weight in (0.35, 0.4, 0.5, 0.65):
        _set_shape_keys(face, {"happy": weight, "surprised": 0.0})
        baked = _bake_blend(face, material)
        t = min(max((weight - 0.35) / 0.3, 0.0), 1.0)
        switched = 3 * t ** 2 - 2 * t ** 3
        cross_faded = base + weight * (happy - base)
        np.testing.assert_allclose(baked[:, left], cross_faded[:, left], atol=BAKE_TOLERANCE, rtol=0)
        np.testing.assert_allclose(baked[:, right], (base + switched * (happy - base))[:, right],
                                   atol=BAKE_TOLERANCE, rtol=0)
        if weight == 0.35:  # the changing region has not started to switch
            np.testing.assert_allclose(baked[:, right], base[:, right], atol=BAKE_TOLERANCE, rtol=0)
        if weight == 0.65:  # ... and has fully switched
            np.testing.assert_allclose(baked[:, right], happy[:, right], atol=BAKE_TOLERANCE, rtol=0)


def test_adding_an_expression_later_keeps_what_was_there(tmp_path):
    full_set = write_plane_set(tmp_path / "set", names=("happy", "surprised", "angry"))
    first_two = dataclasses.replace(full_set, expressions=full_set.expressions[:3])
    face = build_face_object(first_two)
    material = build_face_material(face, first_two)
    blend = material.node_tree.nodes[BLEND_NODE_NAME]
    blend.inputs["Edge Low"].default_value = 0.3  # an artist's tweak on the node
    happy_links = [(link.from_node.name, link.to_socket.name) for link in blend.inputs["happy Texture"].links]

    angry = full_set.expression("angry")
    with pytest.raises(ValueError, match="no shape key for angry"):
        add_expression_to_material(face, material, angry)
    add_shape_key(face, "angry", angry.vertices)
    add_expression_to_material(face, material, angry)
    with pytest.raises(ValueError, match="already blends"):
        add_expression_to_material(face, material, angry)

    assert material.node_tree.nodes[BLEND_NODE_NAME] == blend
    assert blend_group_expression_names(blend.node_tree) == ["happy", "surprised", "angry"]
    assert blend.inputs["Edge Low"].default_value == pytest.approx(0.3)
    assert [(link.from_node.name, link.to_socket.name) for link in blend.inputs["happy Texture"].links] == happy_links
    assert len(material.node_tree.animation_data.drivers) == 3
    weights = {"happy": 0.45, "surprised": 0.7, "angry": 0.55}
    _set_shape_keys(face, weights)
    baked = _bake_blend(face, material)
    expected = blend_textures(*_reference_inputs(full_set), weights=np.array(list(weights.values())),
                              edge_low=0.3)
    np.testing.assert_allclose(baked, expected, atol=BAKE_TOLERANCE, rtol=0)


def test_drive_blend_weights_refuses_a_face_without_the_blended_shape_key(plane_set):
    face = build_face_object(plane_set)
    material = build_face_material(face, plane_set)
    face.shape_key_remove(face.data.shape_keys.key_blocks["surprised"])
    with pytest.raises(ValueError, match="blends surprised but the face"):
        drive_blend_weights(face, material)


# ---------------------------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture
def baked_plane(plane_set):
    """(face, material, reference inputs) for the two-expression plane, ready to bake."""
    face = build_face_object(plane_set)
    material = build_face_material(face, plane_set)
    return face, material, _reference_inputs(plane_set)


def _sockets(group, in_out):
    return [(socket.name, socket.socket_type) for socket in group.interface.items_tree
            if socket.item_type == "SOCKET" and socket.in_out == in_out]


def _set_shape_keys(face, values):
    for name, value in values.items():
        face.data.shape_keys.key_blocks[name].value = value


def _srgb_to_linear(encoded):
    """The sRGB EOTF (IEC 61966-2-1) of 8-bit values: what an Image Texture node outputs for an sRGB image."""
    c = np.asarray(encoded, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _pixels(path):
    return np.asarray(Image.open(path))


def _reference_inputs(expression_set):
    """(base, textures, masks) for blend_textures, as the shader sees them (linear-light colours, raw masks)."""
    blended = expression_set.expressions[1:]
    base = _srgb_to_linear(_pixels(expression_set.base_texture_path)[..., :3])
    textures = np.stack([_srgb_to_linear(_pixels(e.texture_path)[..., :3]) for e in blended])
    masks = np.stack([_pixels(e.mask_path) / 255.0 for e in blended])
    return base, textures, masks


def _bake_blend(face, material):
    """The group's colour baked into a float image, (H,W,3) rows top-to-bottom like the PNGs."""
    tree = material.node_tree
    size = tree.nodes["Base Texture"].image.size[0]
    for node in tree.nodes:
        if node.bl_idname == "ShaderNodeTexImage":
            node.interpolation = "Closest"  # see the module docstring
    return _bake_emission(face, material, tree.nodes[BLEND_NODE_NAME].outputs["Color"], size)


def _bake_emission(face, material, colour_socket, size, flip_rows=True):
    """Bake `colour_socket` through a temporary Emission shader; restores the material's surface afterwards."""
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 1
    tree = material.node_tree
    image = bpy.data.images.get("PromptFace Test Bake")
    if image is None or tuple(image.size) != (size, size):
        image = bpy.data.images.new("PromptFace Test Bake", size, size, alpha=False, float_buffer=True)
        image.colorspace_settings.name = "Non-Color"
    target = tree.nodes.new("ShaderNodeTexImage")
    target.image = image
    emission = tree.nodes.new("ShaderNodeEmission")
    emission.inputs["Strength"].default_value = 1.0
    surface = tree.nodes[OUTPUT_NODE_NAME].inputs["Surface"]
    original = surface.links[0].from_socket
    tree.links.new(colour_socket, emission.inputs["Color"])
    tree.links.new(emission.outputs["Emission"], surface)
    tree.nodes.active = target  # the bake writes into the active, unconnected image node
    for other in bpy.context.view_layer.objects:
        other.select_set(False)
    face.select_set(True)
    bpy.context.view_layer.objects.active = face
    try:
        assert bpy.ops.object.bake(type="EMIT", margin=0, use_clear=True) == {"FINISHED"}
    finally:
        tree.links.new(original, surface)
        tree.nodes.remove(emission)
        tree.nodes.remove(target)
    pixels = np.empty(size * size * 4, np.float32)
    image.pixels.foreach_get(pixels)
    pixels = pixels.reshape(size, size, 4)[..., :3]  # Blender rows run bottom to top
    return pixels[::-1] if flip_rows else pixels
