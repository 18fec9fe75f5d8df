"""A face built from a set with an ARKit rig, in real Blender: its 52 keys, its named poses, the texture blend on the
rig's textured shapes, and the schedule of prompts keyed as poses."""
import bpy
import numpy as np
import pytest

import addon
from addon.core.arkit import ARKIT_SHAPES, VISEMES
from addon.core.coordinates import expression_set_to_blender
from addon.core.errors import PromptFaceError, ScheduleError
from addon.core.schedule import parse_schedule
from addon.operators.remote import _generate_request
from addon.scene.build import build_face
from addon.scene.face_object import shape_key_coordinates
from addon.scene.rig import apply_pose, face_poses, is_rigged, set_pose
from addon.scene.texture_blend_nodes import BLEND_NODE_NAME, blend_group_expression_names, weight_socket
from addon.scene.timeline import append_arrival, apply_schedule, sample_weights
from addon.transports.connect import BackendSettings
from conftest import PLANE_POSES, TEXTURED_RIG_SHAPES
from live_link_face_takes import timecodes_at_30, write_llf_take

FPS = 30


def key_names(face) -> list[str]:
    return [block.name for block in face.data.shape_keys.key_blocks]


def key_values(face) -> dict[str, float]:
    return {block.name: block.value for block in face.data.shape_keys.key_blocks[1:]}


def arkit_values(pose: dict) -> dict[str, float]:
    """A pose as the values of all 52 keys."""
    return {name: pose.get(name, 0.0) for name in ARKIT_SHAPES}


def assert_poses_equal(poses: dict, expected: dict) -> None:
    assert list(poses) == list(expected)
    for name, pose in expected.items():
        assert poses[name] == pytest.approx(pose), name


@pytest.fixture
def registered():
    addon.register()
    yield
    addon.unregister()


def test_the_face_has_the_52_arkit_keys_after_the_basis_and_no_prompt_keys(rigged_set):
    face = build_face(rigged_set)
    assert key_names(face) == ["Basis", *ARKIT_SHAPES]
    assert is_rigged(face) and face["promptface_rig"] == "arkit"
    blocks = face.data.shape_keys.key_blocks
    for shape in rigged_set.rig.shapes:
        np.testing.assert_allclose(shape_key_coordinates(blocks[shape.name]),
                                   expression_set_to_blender(shape.vertices), atol=1e-7)
        assert (blocks[shape.name].slider_min, blocks[shape.name].slider_max, blocks[shape.name].value) == (0, 1, 0)


def test_prompt_keys_come_after_the_52_only_when_asked(rigged_set):
    face = build_face(rigged_set, prompt_keys=True)
    assert key_names(face) == ["Basis", *ARKIT_SHAPES, "happy", "surprised"]
    np.testing.assert_allclose(shape_key_coordinates(face.data.shape_keys.key_blocks["happy"]),
                               expression_set_to_blender(rigged_set.expression("happy").vertices), atol=1e-7)
    blend = face.active_material.node_tree.nodes[BLEND_NODE_NAME]
    assert blend_group_expression_names(blend.node_tree) == [*TEXTURED_RIG_SHAPES, "happy", "surprised"]


def test_every_prompt_and_viseme_is_a_named_pose_stored_on_the_object(rigged_set, tmp_path):
    face = build_face(rigged_set)
    expected = {"neutral": {}, **PLANE_POSES, **VISEMES}
    assert_poses_equal(face_poses(face), expected)
    assert list(face_poses(face))[:3] == ["neutral", "happy", "surprised"]
    name = face.name
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "face.blend"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "face.blend"))
    assert_poses_equal(face_poses(bpy.data.objects[name]), expected)  # a custom property: saved with it


def test_a_pose_sets_every_key_and_resets_the_others(rigged_set):
    face = build_face(rigged_set, prompt_keys=True)
    face.data.shape_keys.key_blocks["happy"].value = 1.0
    assert apply_pose(face, "surprised") == pytest.approx(PLANE_POSES["surprised"])
    assert key_values(face) == pytest.approx({**arkit_values(PLANE_POSES["surprised"]), "happy": 0.0,
                                              "surprised": 0.0})
    apply_pose(face, "viseme_aa")  # what surprised set and viseme_aa does not name goes back to 0
    assert key_values(face) == pytest.approx({**arkit_values(VISEMES["viseme_aa"]), "happy": 0.0, "surprised": 0.0})
    apply_pose(face, "neutral")
    assert set(key_values(face).values()) == {0.0}
    with pytest.raises(PromptFaceError, match="no pose 'furious'; its poses are neutral, happy, surprised, viseme_sil"):
        apply_pose(face, "furious")
    with pytest.raises(PromptFaceError, match="mouthOpen"):
        set_pose(face, {"mouthOpen": 1.0})


def test_a_face_without_a_rig_has_no_poses(plane_set):
    face = build_face(plane_set)
    assert not is_rigged(face) and face_poses(face) == {}
    assert key_names(face) == ["Basis", "happy", "surprised"]
    with pytest.raises(PromptFaceError, match="has no ARKit rig"):
        apply_pose(face, "happy")


def test_the_apply_pose_operator_sets_the_active_face(registered, rigged_set, plane_set):
    assert bpy.ops.promptface.import_expression_set(filepath=str(rigged_set.root)) == {"FINISHED"}
    face = bpy.context.active_object
    assert key_names(face) == ["Basis", *ARKIT_SHAPES]
    assert bpy.ops.promptface.apply_pose(pose="happy") == {"FINISHED"}
    assert key_values(face) == pytest.approx(arkit_values(PLANE_POSES["happy"]))
    with pytest.raises(RuntimeError, match="no pose 'angry'"):
        bpy.ops.promptface.apply_pose(pose="angry")
    bpy.ops.promptface.import_expression_set(filepath=str(rigged_set.root), prompt_keys=True)
    assert key_names(bpy.context.active_object)[-2:] == ["happy", "surprised"]
    bpy.ops.promptface.import_expression_set(filepath=str(plane_set.root))
    with pytest.raises(RuntimeError, match="has no ARKit rig"):
        bpy.ops.promptface.apply_pose(pose="happy")


def test_the_panel_offers_the_poses_of_a_rigged_face(registered, rigged_set):
    bpy.ops.promptface.import_expression_set(filepath=str(rigged_set.root))
    calls = []

    class Recording:
        def operator(self, idname, **kwargs):
            calls.append((idname, kwargs.get("text")))
            return type("Properties", (), {})()

        def __getattr__(self, name):  # menu(), box(), row(), label(), prop() …
            return lambda *args, **kwargs: self

    bpy.types.PROMPTFACE_MT_poses.draw(type("Menu", (), {"layout": Recording()})(), bpy.context)
    assert calls == [("promptface.apply_pose", name) for name in ["neutral", *PLANE_POSES, *VISEMES]]
    calls.clear()
    bpy.types.PROMPTFACE_PT_main.draw(type("Panel", (), {"layout": Recording()})(), bpy.context)
    assert ("promptface.drive_from_take", None) in calls


def test_the_texture_blend_gets_the_textured_shapes_with_plain_drivers(rigged_set):
    face = build_face(rigged_set)
    material = face.active_material
    nodes = material.node_tree.nodes
    blend = nodes[BLEND_NODE_NAME]
    assert blend_group_expression_names(blend.node_tree) == list(TEXTURED_RIG_SHAPES)
    shapes = {shape.name: shape for shape in rigged_set.rig.shapes}
    for name in TEXTURED_RIG_SHAPES:
        assert bpy.path.abspath(nodes[f"{name} Texture"].image.filepath) == str(shapes[name].texture_path)
        assert nodes[f"{name} Mask"].image.colorspace_settings.name == "Non-Color"
    drivers = {fcurve.data_path: fcurve.driver for fcurve in material.node_tree.animation_data.drivers}
    assert len(drivers) == len(TEXTURED_RIG_SHAPES)
    for name in TEXTURED_RIG_SHAPES:
        driver = drivers[blend.inputs[weight_socket(name)].path_from_id("default_value")]
        assert driver.type == "AVERAGE" and driver.is_valid and not driver.use_self  # no Python expression
        (variable,) = driver.variables
        target = variable.targets[0]
        assert variable.type == "SINGLE_PROP"
        assert (target.id_type, target.id, target.data_path) == ("KEY", face.data.shape_keys,
                                                                 f'key_blocks["{name}"].value')
    apply_pose(face, "happy")
    bpy.context.view_layer.update()  # evaluates the drivers and copies the result back to the original
    assert blend.inputs[weight_socket("tongueOut")].default_value == pytest.approx(0.2)
    assert blend.inputs[weight_socket("mouthSmileLeft")].default_value == pytest.approx(0.8)


SCHEDULE = ("neutral 0.5s, happy 0.5s, viseme_aa 0.5s, 50% happy + 50% surprised 0.5s, "
            "100% happy + 100% surprised 0.5s, neutral")


def test_a_schedule_of_prompts_keys_the_52_keys_with_the_poses(rigged_set):
    face = build_face(rigged_set)
    result = apply_schedule(face, parse_schedule(SCHEDULE), fps=FPS)
    # Holds start after 0.5 s of neutral and 0.3 s transitions: happy on frames 25–40, viseme_aa 49–64, …
    assert result.frames == [1, 16, 25, 40, 49, 64, 73, 88, 97, 112, 121]
    happy, surprised = PLANE_POSES["happy"], PLANE_POSES["surprised"]
    half_and_half = {name: 0.5 * happy.get(name, 0) + 0.5 * surprised.get(name, 0) for name in {*happy, *surprised}}
    both = {name: min(1.0, happy.get(name, 0) + surprised.get(name, 0)) for name in {*happy, *surprised}}
    assert both["mouthSmileLeft"] == 1.0  # 0.8 + 0.4, capped at the key's top
    for frames, pose in (((1, 16), {}), ((25, 32, 40), happy), ((49, 64), VISEMES["viseme_aa"]),
                         ((73, 88), half_and_half), ((97, 112), both), ((121,), {})):
        for frame in frames:
            assert sample_weights(face, frame) == pytest.approx(arkit_values(pose), abs=1e-6), frame
    # Between two keys the eased transition: halfway from neutral to happy is half of happy.
    assert sample_weights(face, 20.5)["mouthSmileLeft"] == pytest.approx(0.4, abs=1e-6)
    # The texture blend follows the keys through its drivers.
    bpy.context.scene.frame_set(32)
    blend = face.active_material.node_tree.nodes[BLEND_NODE_NAME]
    assert blend.inputs[weight_socket("tongueOut")].default_value == pytest.approx(0.2)


def test_with_prompt_keys_the_schedule_still_keys_the_poses_and_rests_the_prompt_keys(rigged_set):
    face = build_face(rigged_set, prompt_keys=True)
    apply_schedule(face, parse_schedule("neutral 0.5s, happy 0.5s, neutral"), fps=FPS)
    assert sample_weights(face, 30) == pytest.approx({**arkit_values(PLANE_POSES["happy"]), "happy": 0.0,
                                                      "surprised": 0.0})


def test_a_prompt_the_face_lacks_is_a_clear_error(rigged_set):
    face = build_face(rigged_set)
    with pytest.raises(ScheduleError, match="schedule target 'furious' is not an expression of this face: "
                                            "generate it first"):
        apply_schedule(face, parse_schedule("neutral 0.5s, furious 1s"), fps=FPS)
    assert face.data.shape_keys.animation_data is None


def test_an_arriving_expression_joins_the_timeline_as_its_pose(rigged_set):
    face = build_face(rigged_set)
    first = append_arrival(face, "happy", FPS)
    assert first.frames == [1, 16, 25, 55, 64]  # neutral 0.5 s, 0.3 s in, held 1 s, 0.3 s back
    assert sample_weights(face, 40) == pytest.approx(arkit_values(PLANE_POSES["happy"]))
    append_arrival(face, "surprised", FPS)
    assert sample_weights(face, 64 + 9 + 15) == pytest.approx(arkit_values(PLANE_POSES["surprised"]))
    with pytest.raises(ValueError, match="has no pose 'sad'"):
        append_arrival(face, "sad", FPS)


@pytest.mark.slow
def test_generate_with_the_rig_builds_the_rigged_face_as_expressions_arrive(live_addon):
    """The panel's Generate with {"rig": "arkit"}: the real CPU backend on this machine builds the rig."""
    run = live_addon.generate(["happy"], rig="arkit")
    face = live_addon.face()
    assert key_names(face) == ["Basis", *ARKIT_SHAPES]
    poses = face_poses(face)
    assert {"neutral", "as_photographed", "happy", *VISEMES} == set(poses) and poses["happy"]
    assert ["happy"] in [arrival.added for arrival in run.arrivals]
    # The last arrival, happy, is held 1 s and eases back to neutral over 0.3 s at the end of the timeline.
    middle_of_happy = bpy.context.scene.frame_end - 9 - 15
    assert sample_weights(face, middle_of_happy) == pytest.approx(arkit_values(poses["happy"]), abs=1e-6)


def test_the_drive_from_take_operator_keys_the_active_rigged_face(registered, rigged_set, tmp_path):
    written = write_llf_take(tmp_path / "take.csv", timecodes_at_30(6))
    bpy.ops.promptface.import_expression_set(filepath=str(rigged_set.root))
    face = bpy.context.active_object
    bpy.context.scene.render.fps = 30
    assert bpy.ops.promptface.drive_from_take(filepath=str(tmp_path / "take.csv"), take_fps=30,
                                              start_frame=11) == {"FINISHED"}
    assert bpy.context.scene.frame_end == 16
    for frame in range(11, 17):
        assert sample_weights(face, frame)["jawOpen"] == pytest.approx(written["jawOpen"][frame - 11], abs=1e-6)
    (tmp_path / "odd.csv").write_text("Timecode,BlendShapeCount,MouthOpen\n00:00:01:00.000,1,0.5\n")
    with pytest.raises(RuntimeError, match="column 'MouthOpen' is not an ARKit blendshape"):
        bpy.ops.promptface.drive_from_take(filepath=str(tmp_path / "odd.csv"))


def test_generate_sends_the_rig_choice_in_the_job_options(registered, tmp_path):
    state = bpy.context.scene.promptface
    (tmp_path / "photo.png").write_bytes(b"a photo")
    state.photo_path = str(tmp_path / "photo.png")
    state.prompts.add().text = "happy"
    assert _generate_request(state, BackendSettings()).options == {}
    state.rig = "arkit"
    assert _generate_request(state, BackendSettings()).options == {"rig": "arkit"}
