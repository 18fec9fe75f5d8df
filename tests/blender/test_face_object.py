"""The face object built in real Blender from an expression set."""
import bpy
import numpy as np
import pytest

from addon.core.coordinates import blender_to_expression_set, expression_set_to_blender
from addon.scene.face_object import (add_shape_key, build_face_object, expression_keys, face_self_checks,
                                     shape_key_coordinates)


def test_coordinates_turn_y_up_into_z_up_and_the_face_towards_minus_y():
    points = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(expression_set_to_blender(points), [[1.0, -3.0, 2.0]])
    np.testing.assert_array_equal(blender_to_expression_set(expression_set_to_blender(points)), points)


def test_one_object_with_basis_and_a_shape_key_per_expression(plane_set):
    face = build_face_object(plane_set)
    keys = face.data.shape_keys.key_blocks
    assert [k.name for k in keys] == ["Basis", "happy", "surprised"]
    assert [k.name for k in expression_keys(face)] == ["happy", "surprised"]
    for expression in plane_set.expressions[1:]:
        np.testing.assert_allclose(shape_key_coordinates(keys[expression.name]),
                                   expression_set_to_blender(expression.vertices), atol=1e-7)
    np.testing.assert_allclose(shape_key_coordinates(keys["Basis"]),
                               expression_set_to_blender(plane_set.base_mesh.vertices), atol=1e-7)
    assert len(face.data.polygons) == len(plane_set.base_mesh.faces)
    assert all(polygon.use_smooth for polygon in face.data.polygons)
    assert face.name in bpy.context.scene.objects


def test_uvs_follow_the_face_corners(plane_set):
    face = build_face_object(plane_set)
    corner_uvs = np.empty(len(face.data.loops) * 2, np.float32)
    face.data.uv_layers["UVMap"].data.foreach_get("uv", corner_uvs)
    expected = plane_set.base_mesh.uvs[plane_set.base_mesh.face_uvs.ravel()]
    np.testing.assert_allclose(corner_uvs.reshape(-1, 2), expected, atol=1e-7)


def test_a_shape_key_value_moves_the_evaluated_mesh(plane_set):
    face = build_face_object(plane_set)
    face.data.shape_keys.key_blocks["surprised"].value = 0.5
    evaluated = face.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
    coordinates = np.array([v.co[:] for v in evaluated.vertices])
    base = expression_set_to_blender(plane_set.base_mesh.vertices)
    target = expression_set_to_blender(plane_set.expression("surprised").vertices)
    np.testing.assert_allclose(coordinates, base + 0.5 * (target - base), atol=1e-6)


def test_shape_keys_refuse_a_wrong_vertex_count_or_a_duplicate_name(plane_set):
    face = build_face_object(plane_set)
    with pytest.raises(ValueError, match="vertices"):
        add_shape_key(face, "angry", np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="already has"):
        add_shape_key(face, "happy", plane_set.expression("happy").vertices)


def test_the_face_keeps_each_expressions_self_check_for_the_panel(plane_set):
    face = build_face_object(plane_set)
    assert face_self_checks(face) == {"happy": ("reads as happy 100%", False),
                                      "surprised": ("reads as happy 90%, asked surprised", True)}
