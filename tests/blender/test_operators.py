"""The add-on's operators build the same face and timeline as the command line's functions."""
import bpy
import numpy as np
import pytest

import addon
from addon.scene.build import build_face
from addon.scene.face_object import shape_key_coordinates
from addon.scene.timeline import sample_weights


@pytest.fixture
def registered():
    addon.register()
    yield
    addon.unregister()


def keyframes(face):
    animation = face.data.shape_keys.animation_data
    from addon.scene.timeline import shape_key_fcurves
    return {name: [tuple(point.co) for point in curve.keyframe_points]
            for name, curve in shape_key_fcurves(face.data.shape_keys).items()} if animation else {}


def test_operators_match_the_command_line_path(registered, plane_set, tmp_path):
    assert bpy.ops.promptface.import_expression_set(filepath=str(plane_set.root / "manifest.json")) == {"FINISHED"}
    by_operator = bpy.context.active_object
    assert bpy.ops.promptface.apply_schedule(schedule="neutral 0.5s, 60% happy + 40% surprised 1s, neutral",
                                             fps=24) == {"FINISHED"}
    by_function = build_face(plane_set, name="Direct")
    from addon.core.schedule import parse_schedule
    from addon.scene.timeline import apply_schedule
    apply_schedule(by_function, parse_schedule("neutral 0.5s, 60% happy + 40% surprised 1s, neutral"), fps=24)
    for name in ("Basis", "happy", "surprised"):
        np.testing.assert_array_equal(shape_key_coordinates(by_operator.data.shape_keys.key_blocks[name]),
                                      shape_key_coordinates(by_function.data.shape_keys.key_blocks[name]))
    assert keyframes(by_operator) == keyframes(by_function)
    assert sample_weights(by_operator, 1 + 24) == pytest.approx({"happy": 0.6, "surprised": 0.4})
    assert by_operator.active_material.node_tree.nodes  # the blended material came along


def test_appending_through_the_operator_keeps_the_existing_keys(registered, plane_set):
    bpy.ops.promptface.import_expression_set(filepath=str(plane_set.root))
    face = bpy.context.active_object
    bpy.ops.promptface.apply_schedule(schedule="neutral 0.5s, happy 1s", fps=30)
    before = keyframes(face)
    assert bpy.ops.promptface.apply_schedule(schedule="surprised 0.5s @0.2s, neutral", fps=30) == {"FINISHED"}
    after = keyframes(face)
    for path, points in before.items():
        assert after[path][:len(points)] == points
    assert bpy.context.scene.frame_end > max(p[0] for points in before.values() for p in points)


def test_export_operator_writes_the_fbx_and_errors_are_reported(registered, plane_set, tmp_path):
    bpy.ops.promptface.import_expression_set(filepath=str(plane_set.root))
    bpy.ops.promptface.apply_schedule(schedule="neutral 0.2s, happy 0.5s", fps=30)
    assert bpy.ops.promptface.export_fbx(filepath=str(tmp_path / "face.fbx")) == {"FINISHED"}
    assert (tmp_path / "face.fbx").is_file() and (tmp_path / "textures" / "happy.texture.png").is_file()
    with pytest.raises(RuntimeError, match="unknown|generate"):
        bpy.ops.promptface.apply_schedule(schedule="neutral 0.2s, furious 1s", fps=30)
    with pytest.raises(RuntimeError, match="no such expression set"):
        bpy.ops.promptface.import_expression_set(filepath=str(tmp_path / "nothing" / "manifest.json"))
