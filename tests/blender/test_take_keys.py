"""Recorded face takes keyed on a face's 52 ARKit shape keys in real Blender."""
import json

import bpy
import pytest

from addon.core.arkit import ARKIT_SHAPES
from addon.core.face_takes import LIVE_LINK_FACE_ROTATION_UNIT_RADIANS, read_take
from addon.scene.face_object import add_shape_key, build_face_object
from addon.scene.take_keys import HEAD_ROTATION_MODE, key_take
from addon.scene.timeline import shape_key_fcurves
from conftest import write_plane_set
from live_link_face_takes import timecodes_at_30, write_llf_take

@pytest.fixture
def face(tmp_path):
    expression_set = write_plane_set(tmp_path / "set", names=())
    face = build_face_object(expression_set)
    for index, name in enumerate(ARKIT_SHAPES):
        add_shape_key(face, name, expression_set.base_mesh.vertices * (1.0 + 0.01 * index))
    return face


@pytest.fixture
def scene():
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    return scene


def values_at(face, frame):
    """ARKit shape-key name -> its F-curve's value at ``frame``."""
    fcurves = shape_key_fcurves(face.data.shape_keys)
    return {name: fcurves[name].evaluate(frame) for name in ARKIT_SHAPES}


def test_a_take_at_the_scene_rate_keys_the_csv_values(face, scene, tmp_path):
    written = write_llf_take(tmp_path / "take.csv", timecodes_at_30(16))
    result = key_take(face, read_take(tmp_path / "take.csv", fps=30), scene)
    assert (result.frames_keyed, result.first_frame, result.end_frame, result.fps) == (16, 1, 16, 30.0)
    assert not result.head_rotation
    assert (scene.frame_start, scene.frame_end) == (1, 16)
    for frame in range(1, 17):
        values = values_at(face, frame)
        for name in ARKIT_SHAPES:
            assert values[name] == pytest.approx(written[name][frame - 1], abs=1e-6), (name, frame)
    scene.frame_set(7)
    blocks = face.data.shape_keys.key_blocks
    assert [blocks[name].value for name in ARKIT_SHAPES] == pytest.approx([written[name][6] for name in ARKIT_SHAPES],
                                                                          abs=1e-6)


def test_keys_are_plain_linear_fcurves(face, scene, tmp_path):
    written = write_llf_take(tmp_path / "take.csv", timecodes_at_30(4))
    key_take(face, read_take(tmp_path / "take.csv", fps=30), scene)
    animation = face.data.shape_keys.animation_data
    assert len(animation.drivers) == 0
    fcurves = shape_key_fcurves(face.data.shape_keys)
    assert set(fcurves) == set(ARKIT_SHAPES)
    for fcurve in fcurves.values():
        assert [point.co.x for point in fcurve.keyframe_points] == [1, 2, 3, 4]
        assert {point.interpolation for point in fcurve.keyframe_points} == {"LINEAR"}
    jaw = fcurves["jawOpen"]
    assert jaw.evaluate(2.25) == pytest.approx(0.75 * written["jawOpen"][1] + 0.25 * written["jawOpen"][2], abs=1e-6)


def test_a_dropped_frame_is_filled_in_linearly(face, scene, tmp_path):
    written = write_llf_take(tmp_path / "take.csv", ["00:00:01:00.000", "00:00:01:01.000", "00:00:01:03.000"])
    result = key_take(face, read_take(tmp_path / "take.csv", fps=30), scene)
    assert result.end_frame == 4
    values = [values_at(face, frame)["mouthSmileLeft"] for frame in (1, 2, 3, 4)]
    smile = written["mouthSmileLeft"]
    assert values == pytest.approx([smile[0], smile[1], (smile[1] + smile[2]) / 2, smile[2]], abs=1e-6)


def test_a_take_is_resampled_at_another_scene_rate(face, scene, tmp_path):
    scene.render.fps = 60
    written = write_llf_take(tmp_path / "take.csv", timecodes_at_30(5))
    result = key_take(face, read_take(tmp_path / "take.csv", fps=30), scene, start_frame=11)
    assert (result.first_frame, result.end_frame, result.frames_keyed) == (11, 19, 9)
    jaw = written["jawOpen"]
    assert [values_at(face, frame)["jawOpen"] for frame in range(11, 20, 2)] == pytest.approx(jaw, abs=1e-6)
    assert values_at(face, 12)["jawOpen"] == pytest.approx((jaw[0] + jaw[1]) / 2, abs=1e-6)
    assert scene.frame_end == 19


def test_keys_outside_a_take_stay_and_inside_are_replaced(face, scene, tmp_path):
    first = write_llf_take(tmp_path / "first.csv", timecodes_at_30(4), seed=1)
    second = write_llf_take(tmp_path / "second.csv", timecodes_at_30(3), seed=2)
    key_take(face, read_take(tmp_path / "first.csv", fps=30), scene)
    key_take(face, read_take(tmp_path / "second.csv", fps=30), scene, start_frame=3)
    fcurve = shape_key_fcurves(face.data.shape_keys)["browInnerUp"]
    assert [point.co.x for point in fcurve.keyframe_points] == [1, 2, 3, 4, 5]
    values = [fcurve.evaluate(frame) for frame in range(1, 6)]
    assert values == pytest.approx(first["browInnerUp"][:2] + second["browInnerUp"], abs=1e-6)
    assert scene.frame_end == 5


def test_a_missing_arkit_shape_key_is_named_and_nothing_is_keyed(face, scene, tmp_path):
    blocks = face.data.shape_keys.key_blocks
    for name in ("jawOpen", "tongueOut"):
        face.shape_key_remove(blocks[name])
    write_llf_take(tmp_path / "take.csv", timecodes_at_30(3))
    with pytest.raises(ValueError, match=r"'PromptFace' lacks 2 of the 52 ARKit shape keys a take drives: "
                                         r"jawOpen, tongueOut"):
        key_take(face, read_take(tmp_path / "take.csv", fps=30), scene)
    assert face.data.shape_keys.animation_data is None


def test_head_rotation_is_keyed_on_the_object_when_asked(face, scene, tmp_path):
    written = write_llf_take(tmp_path / "take.csv", timecodes_at_30(5))
    take = read_take(tmp_path / "take.csv", fps=30)
    key_take(face, take, scene)
    assert face.animation_data is None  # not asked
    result = key_take(face, take, scene, head_rotation=True)
    assert result.head_rotation
    assert face.rotation_mode == HEAD_ROTATION_MODE == "YXZ"
    unit = LIVE_LINK_FACE_ROTATION_UNIT_RADIANS
    for frame in range(1, 6):
        scene.frame_set(frame)
        yaw, pitch, roll = (written[name][frame - 1] * unit for name in ("HeadYaw", "HeadPitch", "HeadRoll"))
        assert tuple(face.rotation_euler) == pytest.approx((-pitch, -roll, -yaw), abs=1e-6)
    assert len(face.animation_data.drivers) == 0


def test_head_rotation_needs_a_take_that_has_it(face, scene, tmp_path):
    path = tmp_path / "a2f.json"
    path.write_text(json.dumps({"exportFps": 30, "numPoses": 1, "numFrames": 2, "facsNames": ["jawOpen"],
                                "weightMat": [[0.0], [1.0]]}))
    take = read_take(path)
    with pytest.raises(ValueError, match="this Audio2Face JSON take has no head rotation to key"):
        key_take(face, take, scene, head_rotation=True)
    result = key_take(face, take, scene)
    assert values_at(face, 2)["jawOpen"] == 1.0 and values_at(face, 2)["eyeBlinkLeft"] == 0.0
    assert result.end_frame == 2


def test_a_face_without_shape_keys_is_refused(scene, tmp_path):
    face = build_face_object(write_plane_set(tmp_path / "set", names=()))
    face.shape_key_clear()
    write_llf_take(tmp_path / "take.csv", timecodes_at_30(2))
    with pytest.raises(ValueError, match="'PromptFace' has no shape keys"):
        key_take(face, read_take(tmp_path / "take.csv", fps=30), scene)
