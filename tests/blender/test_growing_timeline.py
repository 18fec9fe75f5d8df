"""The panel's growing timeline: each expression that arrives is appended after the keys already there (held 1 s,
then back to neutral, 0.3 s transitions), keys the user moved stay where they are, each arrival is one undo step,
and the Grow Timeline preference turns it off. Real Blender; the live tests run Generate on the local backend."""
import bpy
import pytest

from addon.core.schedule import Key
from addon.scene.face_object import build_face_object
from addon.scene.timeline import (SCHEDULE_PROPERTY, append_arrival, arrival_keys, sample_weights,
                                  shape_key_fcurves, timeline_end_frame)

# neutral 0.5 s, 0.3 s into happy, held 1 s, 0.3 s back to neutral: seconds 0, 0.5, 0.8, 1.8, 2.1 at 30 fps.
FIRST_ARRIVAL_FRAMES = [1, 16, 25, 55, 64]


def keyframes(face):
    """Shape-key name -> [(frame, value)] of its keyframes."""
    return {name: [tuple(point.co) for point in fcurve.keyframe_points]
            for name, fcurve in shape_key_fcurves(face.data.shape_keys).items()}


def move_key(face, name, frame, to_frame):
    """What dragging one keyframe along the timeline does: the key and its handles move, the curve is re-sorted."""
    fcurve = shape_key_fcurves(face.data.shape_keys)[name]
    point = next(point for point in fcurve.keyframe_points if point.co.x == frame)
    shift = to_frame - frame
    point.co.x += shift
    point.handle_left.x += shift
    point.handle_right.x += shift
    fcurve.update()


def test_arrival_keys_start_with_a_neutral_lead_in_then_show_the_expression():
    assert arrival_keys([], "happy", ["happy", "surprised"], 30) == [
        Key(0.0, {"happy": 0.0, "surprised": 0.0}), Key(0.5, {"happy": 0.0, "surprised": 0.0}),
        Key(0.8, {"happy": 1.0, "surprised": 0.0}), Key(1.8, {"happy": 1.0, "surprised": 0.0}),
        Key(2.1, {"happy": 0.0, "surprised": 0.0})]
    # After a timeline that ends on frame 64 (2.1 s): straight into the expression.
    assert [(key.time_s, key.weights["surprised"]) for key in arrival_keys([1, 40, 64], "surprised",
                                                                          ["happy", "surprised"], 30)] == [
        (2.4, 1.0), (3.4, 1.0), (3.7, 0.0)]


def test_each_arrival_grows_the_timeline_after_the_last_key(plane_set):
    face = build_face_object(plane_set)
    first = append_arrival(face, "happy", 30)
    assert first.frames == FIRST_ARRIVAL_FRAMES
    assert keyframes(face)["happy"] == [(1, 0), (16, 0), (25, 1), (55, 1), (64, 0)]
    assert {value for _, value in keyframes(face)["surprised"]} == {0.0}  # at rest until it arrives
    before = keyframes(face)

    second = append_arrival(face, "surprised", 30)

    assert second.frames == [73, 103, 112]
    after = keyframes(face)
    assert {name: after[name][:len(points)] for name, points in before.items()} == before
    assert after["surprised"][-3:] == [(73, 1), (103, 1), (112, 0)]
    assert bpy.context.scene.frame_end == timeline_end_frame(face) == 112
    assert sample_weights(face, 80) == {"happy": 0.0, "surprised": 1.0}
    assert face[SCHEDULE_PROPERTY] == "neutral 0.5s, happy 1s, neutral, surprised 1s, neutral"


def test_a_key_the_user_moved_stays_where_they_put_it(plane_set):
    face = build_face_object(plane_set)
    append_arrival(face, "happy", 30)
    move_key(face, "happy", 64, 90)  # a slower ease back to neutral
    before = keyframes(face)
    assert before["happy"][-1] == (90, 0)

    result = append_arrival(face, "surprised", 30)

    after = keyframes(face)
    assert {name: after[name][:len(points)] for name, points in before.items()} == before
    assert result.frames == [99, 129, 138]  # after the moved key, the latest on any shape key


def test_an_expression_without_a_shape_key_is_refused(plane_set):
    face = build_face_object(plane_set)
    with pytest.raises(ValueError, match="no shape key 'sad'"):
        append_arrival(face, "sad", 30)
    assert timeline_end_frame(face) == 0


# --- live: Generate on the local backend --------------------------------------------------------


def test_generate_grows_the_timeline_as_each_expression_arrives(live_addon, capfd):
    session = live_addon.session
    live_addon.start(["happy", "surprised", "angry"], neutralise=False)
    assert session.run_until(lambda: any(arrival.added for arrival in session.current().arrivals), 300)
    face = bpy.data.objects[session.current().face_name]
    assert [arrival.added for arrival in session.current().arrivals] == [[], ["happy"]]
    assert keyframes(face)["happy"] == [(1, 0), (16, 0), (25, 1), (55, 1), (64, 0)]
    move_key(face, "happy", 64, 90)  # the user edits the timeline while the job runs
    before = keyframes(face)

    assert session.run_until_idle(300)

    run = session.last()
    assert run.outcome.status == "succeeded", run.outcome
    face = bpy.data.objects[run.face_name]
    assert [key.name for key in face.data.shape_keys.key_blocks] == ["Basis", "happy", "surprised", "angry"]
    after = keyframes(face)
    assert {name: after[name][:len(points)] for name, points in before.items()} == before
    # surprised after the moved key, angry after surprised; each at rest while the other shows.
    assert [point for point in after["surprised"] if point[0] > 90] == [(99, 1), (129, 1), (138, 0), (147, 0),
                                                                        (177, 0), (186, 0)]
    assert [point for point in after["angry"] if point[0] > 90] == [(99, 0), (129, 0), (138, 0), (147, 1),
                                                                    (177, 1), (186, 0)]
    assert bpy.context.scene.frame_end == 186

    # One undo step per expression, named after it; undoing the last takes its shape key and keys away.
    capfd.readouterr()
    bpy.context.window_manager.print_undo_steps()
    steps = capfd.readouterr().out
    names = [line.split("name=", 1)[1].strip()[1:-1] for line in steps.splitlines() if "name=" in line]
    assert names[-4:] == ["PromptFace: neutral face 'PromptFace'", "PromptFace: add 'happy'",
                          "PromptFace: add 'surprised'", "PromptFace: add 'angry'"]
    assert bpy.ops.ed.undo() == {"FINISHED"}
    face = bpy.data.objects[run.face_name]
    assert [key.name for key in face.data.shape_keys.key_blocks] == ["Basis", "happy", "surprised"]
    assert timeline_end_frame(face) == 138 and (90, 0) in keyframes(face)["happy"]


def test_with_grow_timeline_off_the_timeline_is_left_alone(live_addon):
    live_addon.prefs.grow_timeline = False
    frame_end = bpy.context.scene.frame_end
    run = live_addon.generate(["happy"], neutralise=False)
    face = bpy.data.objects[run.face_name]
    assert [key.name for key in face.data.shape_keys.key_blocks] == ["Basis", "happy"]
    assert shape_key_fcurves(face.data.shape_keys) == {}
    assert bpy.context.scene.frame_end == frame_end
