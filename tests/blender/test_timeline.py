"""Schedules keyed on the face's shape keys in real Blender."""
import math
from itertools import pairwise

import bpy
import pytest

from addon.core.errors import ScheduleError
from addon.core.schedule import ScheduleEntry, parse_schedule
from addon.scene.face_object import add_shape_key, build_face_object
from addon.scene.timeline import (
    FPS_PROPERTY,
    SCHEDULE_PROPERTY,
    apply_schedule,
    sample_weights,
    shape_key_fcurves,
    timeline_end_frame,
)
from conftest import write_plane_set

DESIGN_SCHEDULE = "neutral 0.5s, happy 1s, surprised 0.5s @0.3s, neutral"
# Keys at 0, 0.5, 0.8, 1.8, 2.1, 2.6, 2.9 s -> frames 1 + round(t·30).
DESIGN_FRAMES = [1, 16, 25, 55, 64, 79, 88]
DESIGN_VALUES = {"happy": [0, 0, 1, 1, 0, 0, 0], "surprised": [0, 0, 0, 0, 1, 1, 0]}


def keyframes(face):
    """Shape-key name -> [(frame, value)] of its keyframes."""
    return {name: [tuple(point.co) for point in fcurve.keyframe_points]
            for name, fcurve in shape_key_fcurves(face.data.shape_keys).items()}


def snapshot(face):
    """Everything about every keyframe that appending must leave alone."""
    return {name: [(tuple(p.co), tuple(p.handle_left), tuple(p.handle_right), p.handle_left_type,
                    p.handle_right_type, p.interpolation, p.easing) for p in fcurve.keyframe_points]
            for name, fcurve in shape_key_fcurves(face.data.shape_keys).items()}


def eased(frame, frames, values):
    """The ease-in-out value at ``frame``: a + (b − a)·(1 − cos(πu))/2 between the keys around it."""
    if frame <= frames[0]:
        return values[0]
    for (f0, a), (f1, b) in pairwise(zip(frames, values, strict=True)):
        if frame <= f1:
            u = (frame - f0) / (f1 - f0)
            return a + (b - a) * (1 - math.cos(math.pi * u)) / 2
    return values[-1]


@pytest.fixture
def face(plane_set):
    return build_face_object(plane_set)


def test_design_example_keyframes_follow_the_schedule(face):
    result = apply_schedule(face, parse_schedule(DESIGN_SCHEDULE), fps=30)
    assert result.frames == DESIGN_FRAMES
    assert (result.first_frame, result.last_frame, result.fps) == (1, 88, 30)
    assert [key.time_s for key in result.keys] == pytest.approx([0.0, 0.5, 0.8, 1.8, 2.1, 2.6, 2.9])
    for name, values in DESIGN_VALUES.items():
        assert keyframes(face)[name] == [(frame, value) for frame, value in zip(DESIGN_FRAMES, values, strict=True)]


def test_every_keyframe_eases_in_and_out(face):
    apply_schedule(face, parse_schedule(DESIGN_SCHEDULE))
    for fcurve in shape_key_fcurves(face.data.shape_keys).values():
        for point in fcurve.keyframe_points:
            assert (point.interpolation, point.easing) == ("SINE", "EASE_IN_OUT")
            assert (point.handle_left_type, point.handle_right_type) == ("FREE", "FREE")
            assert point.handle_left.y == point.handle_right.y == point.co.y  # flat


def test_values_between_keys_follow_ease_in_out_and_holds_are_flat(face):
    apply_schedule(face, parse_schedule(DESIGN_SCHEDULE))
    for frame in [*range(1, 95), 20.5, 58.25]:
        weights = sample_weights(face, frame)
        for name, values in DESIGN_VALUES.items():
            assert weights[name] == pytest.approx(eased(frame, DESIGN_FRAMES, values), abs=1e-6), (name, frame)
    assert {sample_weights(face, frame)["happy"] for frame in range(25, 56)} == {1.0}
    assert sample_weights(face, 20)["happy"] == pytest.approx((1 - math.cos(math.pi * 4 / 9)) / 2, abs=1e-6)


@pytest.mark.parametrize("fps, last_frame", [(30, 88), (24, 71)])
def test_scene_frame_range_and_fps_follow_the_timeline(face, fps, last_frame):
    scene = bpy.context.scene
    scene.render.fps_base, scene.frame_start = 1.001, 7
    result = apply_schedule(face, parse_schedule(DESIGN_SCHEDULE), fps=fps)
    assert (scene.render.fps, scene.render.fps_base) == (fps, 1.0)
    assert (scene.frame_start, scene.frame_end) == (1, last_frame)
    assert result.last_frame == timeline_end_frame(face) == last_frame
    assert (face[SCHEDULE_PROPERTY], face[FPS_PROPERTY]) == (DESIGN_SCHEDULE, fps)


def test_a_mixture_holds_simultaneous_weights(face):
    result = apply_schedule(face, parse_schedule("neutral 0.5s, 70% happy + 30% surprised 1s, neutral"))
    assert result.frames == [1, 16, 25, 55, 64]
    for frame in range(25, 56):
        weights = sample_weights(face, frame)
        assert weights["happy"] == pytest.approx(0.7) and weights["surprised"] == pytest.approx(0.3)
    assert sample_weights(face, 64) == {"happy": 0.0, "surprised": 0.0}


def test_targets_resolve_through_the_expressions_prompts(face):
    apply_schedule(face, parse_schedule("neutral, a wide smile 1s, joy"),
                   expressions={"happy": "a wide smile", "surprised": "surprised"})
    assert [value for _, value in keyframes(face)["happy"]] == [0.0, 1.0, 1.0, 1.0]


def test_expressions_not_scheduled_stay_at_rest(tmp_path):
    face = build_face_object(write_plane_set(tmp_path / "set", names=("happy", "surprised", "sad")))
    apply_schedule(face, parse_schedule("neutral, happy 1s, neutral"))
    assert {value for _, value in keyframes(face)["sad"]} == {0.0}
    assert [frame for frame, _ in keyframes(face)["sad"]] == [frame for frame, _ in keyframes(face)["happy"]]


def test_a_schedule_can_start_later(face):
    result = apply_schedule(face, parse_schedule("happy 1s, neutral"), start_s=1.0)
    assert result.frames == [31, 61, 70]
    assert sample_weights(face, 1)["happy"] == 1.0


# --- appending ----------------------------------------------------------------------------------


def test_appending_an_entry_keeps_every_existing_keyframe(face):
    apply_schedule(face, parse_schedule(DESIGN_SCHEDULE))
    before = snapshot(face)
    result = apply_schedule(face, parse_schedule("happy 0.5s", continues=True))
    after = snapshot(face)
    assert {name: points[:len(before[name])] for name, points in after.items()} == before
    assert result.frames == [97, 112]  # from frame 88, the default 0.3 s transition, then the 0.5 s hold
    assert keyframes(face)["happy"][-2:] == [(97, 1.0), (112, 1.0)]
    assert bpy.context.scene.frame_end == timeline_end_frame(face) == 112
    assert face[SCHEDULE_PROPERTY] == DESIGN_SCHEDULE + ", happy 0.5s"
    for frame in range(88, 98):
        assert sample_weights(face, frame)["happy"] == pytest.approx(eased(frame, [88, 97], [0, 1]), abs=1e-6)


def test_an_appended_entry_uses_its_own_transition_from_the_end_state(face):
    apply_schedule(face, parse_schedule("neutral, surprised 1s"))  # frames 1, 10, 40
    result = apply_schedule(face, [ScheduleEntry("happy", 0.0, 0.5)])
    assert result.frames == [55]
    assert keyframes(face)["surprised"][-1] == (55, 0.0)
    assert sample_weights(face, 47.5) == pytest.approx({"happy": 0.5, "surprised": 0.5}, abs=1e-6)
    assert face[SCHEDULE_PROPERTY] == "neutral, surprised 1s, happy @0.5s"


def test_appending_a_new_expression_keys_it_at_rest_before_the_append_point(face, plane_set):
    apply_schedule(face, parse_schedule(DESIGN_SCHEDULE))
    before = snapshot(face)
    add_shape_key(face, "angry", plane_set.expression("happy").vertices * 1.1)
    result = apply_schedule(face, parse_schedule("angry 1s, neutral", continues=True))
    after = snapshot(face)
    assert {name: after[name][:len(points)] for name, points in before.items()} == before
    assert result.frames == [97, 127, 136]
    assert keyframes(face)["angry"] == [(frame, 0.0) for frame in DESIGN_FRAMES] + [(97, 1.0), (127, 1.0),
                                                                                       (136, 0.0)]
    assert all(sample_weights(face, frame)["angry"] == 0.0 for frame in range(1, 89))
    assert sample_weights(face, 100)["angry"] == 1.0
    assert bpy.context.scene.frame_end == 136


def test_an_appended_schedule_can_start_after_a_pause(face):
    apply_schedule(face, parse_schedule("neutral, happy 1s"))  # ends at frame 40, happy
    result = apply_schedule(face, parse_schedule("surprised"), start_s=2.0)
    assert result.frames == [61, 70]  # the end state is held to 2 s, then the default transition
    assert result.keys[0].weights == {"happy": 1.0, "surprised": 0.0}
    assert {sample_weights(face, frame)["happy"] for frame in range(40, 62)} == {1.0}


def test_an_appended_schedule_cannot_start_before_the_end(face):
    apply_schedule(face, parse_schedule("neutral, happy 1s"))
    with pytest.raises(ValueError, match=r"before the end of the existing timeline \(1.3s, frame 40\)"):
        apply_schedule(face, parse_schedule("surprised"), start_s=1.0)


def test_appending_at_another_fps_is_refused(face):
    apply_schedule(face, parse_schedule("neutral, happy 1s"), fps=24)
    with pytest.raises(ValueError, match="is at 24 fps; append at 24 fps too"):
        apply_schedule(face, parse_schedule("surprised"), fps=30)


# --- errors -------------------------------------------------------------------------------------


def test_an_unknown_target_lists_the_expressions_and_keys_nothing(face):
    with pytest.raises(ScheduleError, match=r"'angry' is not an expression .* generate it first.*happy, surprised"):
        apply_schedule(face, parse_schedule("neutral, happy 1s, angry"))
    assert face.data.shape_keys.animation_data is None
    assert SCHEDULE_PROPERTY not in face


@pytest.mark.parametrize("fps", [0, -30, 29.97, True])
def test_fps_must_be_a_positive_whole_number(face, fps):
    with pytest.raises(ValueError, match="fps must be a whole number above zero"):
        apply_schedule(face, parse_schedule("neutral, happy"), fps=fps)


def test_keys_closer_than_a_frame_are_refused(face):
    with pytest.raises(ScheduleError, match=r"at 30 fps the key at 0.01s falls on frame 1"):
        apply_schedule(face, parse_schedule("neutral, happy @0.01s"))


def test_an_expression_without_a_shape_key_is_refused(face):
    with pytest.raises(ScheduleError, match="'angry' has no shape key on the face"):
        apply_schedule(face, parse_schedule("angry"), expressions={"angry": "angry"})


def test_a_face_without_a_timeline_ends_at_frame_zero(face):
    assert timeline_end_frame(face) == 0


def test_half_frames_round_up(face):
    # 0.25 s and 0.35 s at 30 fps are 7.5 and 10.5 frames after the start.
    result = apply_schedule(face, parse_schedule("neutral 0.25s, happy @0.1s"))
    assert result.frames == [1, 9, 12]
