"""`promptface animate --rig arkit`: the face with the 52 ARKit keys, driven by a Live Link Face take (--drive) or by
the schedule of prompts, end to end as a user runs it (a real subprocess running the real CPU backend), and the bad
inputs it refuses before any work."""
import json

import bpy
import numpy as np
import pytest

from addon.animate import AnimateRequest, build_shot_scene, check_rig_request
from addon.core.arkit import ARKIT_SHAPES, VISEMES
from addon.core.errors import PromptFaceError
from addon.core.expression_set import read_expression_set
from addon.core.face_takes import read_take
from addon.scene.timeline import sample_weights
from conftest import PLANE_POSES
from live_link_face_takes import timecodes_at_30, write_llf_take
from test_animate import PREVIEW, promptface, read_png
from test_fbx_export import read_with_ufbx

TAKE_FRAMES = 16


def rig_request(tmp_path, **fields) -> AnimateRequest:
    return AnimateRequest(prompts=["happy"], out_dir=tmp_path / "shot", sample="astronaut", rig="arkit", **fields)


def assert_keyed_as_the_take(face, written: dict, frames=range(1, TAKE_FRAMES + 1)) -> None:
    for frame in frames:
        values = sample_weights(face, frame)
        for name in ARKIT_SHAPES:
            assert values[name] == pytest.approx(written[name][frame - 1], abs=1e-6), (name, frame)


def assert_refused(result, message: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("promptface: error: ")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


# --- the scene animate builds, on a small rigged set ----------------------------------------------------------


def test_a_take_keys_the_52_keys_at_its_own_timing(rigged_set, tmp_path):
    written = write_llf_take(tmp_path / "take.csv", timecodes_at_30(TAKE_FRAMES))
    request = rig_request(tmp_path, drive=tmp_path / "take.csv", drive_fps=30, head_rotation=True)
    face = build_shot_scene(rigged_set, request, check_rig_request(request))
    scene = bpy.context.scene
    assert (scene.render.fps, scene.frame_start, scene.frame_end) == (30, 1, TAKE_FRAMES)
    assert_keyed_as_the_take(face, written)
    assert face["promptface_fps"] == 30 and "promptface_schedule" not in face  # the take replaced the schedule
    assert face.rotation_mode == "YXZ" and face.animation_data.action is not None


def test_a_take_is_sampled_at_the_scenes_rate(rigged_set, tmp_path):
    written = write_llf_take(tmp_path / "take.csv", timecodes_at_30(5))
    request = rig_request(tmp_path, drive=tmp_path / "take.csv", drive_fps=30, fps=60)
    face = build_shot_scene(rigged_set, request, check_rig_request(request))
    assert bpy.context.scene.frame_end == 9
    assert sample_weights(face, 3)["jawOpen"] == pytest.approx(written["jawOpen"][1], abs=1e-6)
    assert sample_weights(face, 4)["jawOpen"] == pytest.approx(sum(written["jawOpen"][1:3]) / 2, abs=1e-6)


def test_without_a_take_the_default_schedule_shows_each_prompt_as_its_pose(rigged_set, tmp_path):
    face = build_shot_scene(rigged_set, rig_request(tmp_path))
    # neutral 0.5 s, 0.3 s into happy, held 1 s (frames 25–55), 0.3 s into surprised (64–94), neutral.
    assert sample_weights(face, 40) == pytest.approx({name: PLANE_POSES["happy"].get(name, 0.0)
                                                      for name in ARKIT_SHAPES})
    assert sample_weights(face, 80)["browInnerUp"] == pytest.approx(0.9)


def test_a_set_without_its_rig_is_refused(plane_set, tmp_path):
    with pytest.raises(PromptFaceError, match="has no ARKit rig; the backend did not build one"):
        build_shot_scene(plane_set, rig_request(tmp_path))


# --- the command, end to end ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driven_shot(tmp_path_factory):
    """animate --rig arkit --prompt-keys --drive take.csv: the real backend builds the rig of the sample photo."""
    work = tmp_path_factory.mktemp("animate_rig")
    written = write_llf_take(work / "take.csv", timecodes_at_30(TAKE_FRAMES))
    result = promptface("animate", "--sample", "astronaut", "happy", "--rig", "arkit", "--prompt-keys",
                        "--drive", "take.csv", "--drive-fps", "30", "--no-preview", "--out", "shot", cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    return work / "shot", written


def test_animate_drives_the_rig_from_a_live_link_face_take(driven_shot):
    out, written = driven_shot
    for name in ("face.blend", "face.fbx", "expressions/manifest.json", "textures/base_texture.png"):
        assert (out / name).is_file(), name
    expression_set = read_expression_set(out / "expressions")
    assert expression_set.rig is not None and expression_set.rig.names() == list(ARKIT_SHAPES)
    bpy.ops.wm.open_mainfile(filepath=str(out / "face.blend"))
    face = next(obj for obj in bpy.data.objects if obj.type == "MESH")
    keys = [block.name for block in face.data.shape_keys.key_blocks]
    assert keys == ["Basis", *ARKIT_SHAPES, "as_photographed", "happy"]  # --prompt-keys: theirs after the 52
    scene = bpy.context.scene
    assert (scene.render.fps, scene.frame_start, scene.frame_end) == (30, 1, TAKE_FRAMES)
    assert_keyed_as_the_take(face, written)
    assert sample_weights(face, 5)["happy"] == 0.0  # the take keys the rig; the prompt keys stay at rest


def test_the_driven_fbx_carries_the_takes_curves_under_arkit_names(driven_shot):
    out, written = driven_shot
    fbx = read_with_ufbx(out / "face.fbx")
    names = [*ARKIT_SHAPES, "as_photographed", "happy"]
    assert fbx["meshes"][0]["blend_channels"] == names
    assert fbx["raw_object_names"]["BlendShapeChannel"] == names
    for name in ARKIT_SHAPES:
        times, percents = np.array(fbx["channels"][name]).T
        np.testing.assert_allclose(times * 30, np.arange(1, TAKE_FRAMES + 1), atol=1e-6)
        np.testing.assert_allclose(percents, 100.0 * np.array(written[name]), atol=1e-3, err_msg=name)


@pytest.mark.slow
def test_animate_with_the_rig_keys_the_schedule_of_prompts_and_renders_the_preview(tmp_path):
    result = promptface("animate", "--sample", "astronaut", "happy", "--rig", "arkit", "--schedule",
                        "neutral 0.3s, happy 0.5s, viseme_aa 0.3s, neutral", "--out", "shot", *PREVIEW, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "shot"
    happy = read_expression_set(out / "expressions").expression("happy").arkit_weights
    bpy.ops.wm.open_mainfile(filepath=str(out / "face.blend"))
    face = next(obj for obj in bpy.data.objects if obj.type == "MESH")
    assert [block.name for block in face.data.shape_keys.key_blocks] == ["Basis", *ARKIT_SHAPES]
    # neutral 0.3 s, 0.3 s into happy (frames 19–34), 0.3 s into viseme_aa (43–52), 0.3 s back to neutral.
    assert sample_weights(face, 25) == pytest.approx({name: happy.get(name, 0.0) for name in ARKIT_SHAPES}, abs=1e-6)
    assert sample_weights(face, 47) == pytest.approx({name: VISEMES["viseme_aa"].get(name, 0.0)
                                                      for name in ARKIT_SHAPES}, abs=1e-6)
    assert (out / "preview.mp4").is_file()
    assert read_png(out / "contact_sheet.png").shape[:2] == (48, 3 * 48)  # neutral, as photographed, happy


# --- refusals, before any work -----------------------------------------------------------------------------------


def test_bad_rig_inputs_exit_2_with_a_clear_error_and_leave_nothing(tmp_path):
    take = tmp_path / "take.csv"
    write_llf_take(take, timecodes_at_30(3))
    (tmp_path / "odd.csv").write_text("Timecode,BlendShapeCount,EyeBlinkLeft,MouthOpen\n00:00:01:00.000,2,0.1,0.2\n")
    animate = ["animate", "--sample", "astronaut", "happy", "--out", "shot"]
    cases = [
        (["--drive", "take.csv"], "--drive keys a recorded take on the ARKit rig's 52 shape keys; add --rig arkit"),
        (["--rig", "arkit", "--drive", "odd.csv"], "odd.csv: column 'MouthOpen' is not an ARKit blendshape"),
        (["--rig", "arkit", "--drive", "missing.csv"], "take 'missing.csv' does not exist or is not a file"),
        (["--prompt-keys"], "--prompt-keys adds a shape key per prompt beside the ARKit rig's 52; add --rig arkit"),
        (["--rig", "arkit", "--drive", "take.csv", "--schedule", "neutral, happy 1s"],
         "--drive and --schedule both make the timeline; give one of them"),
        (["--rig", "arkit", "--head-rotation"], "--head-rotation is about the take given with --drive"),
        (["--rig", "arkit", "--drive", "take.csv", "--drive-fps", "0"], "--drive-fps must be above zero"),
        (["--rig", "arkit", "--drive", "take.csv", "--drive-fps", "20"], "so the timecodes run at 24 fps or more"),
    ]
    for extra, message in cases:
        assert_refused(promptface(*animate, *extra, cwd=tmp_path), message)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["odd.csv", "take.csv"]


def test_an_audio2face_take_without_head_rotation_is_refused_with_head_rotation(tmp_path):
    take = tmp_path / "a2f.json"
    take.write_text(json.dumps({"exportFps": 30, "numPoses": 1, "numFrames": 2, "facsNames": ["jawOpen"],
                                "weightMat": [[0.0], [1.0]]}))
    assert read_take(take).head_rotation is None
    with pytest.raises(PromptFaceError, match="a2f.json: this Audio2Face JSON take has no head rotation"):
        check_rig_request(rig_request(tmp_path, drive=take, head_rotation=True))
