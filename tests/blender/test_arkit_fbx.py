"""A rigged face's FBX read back by ufbx (independent of Blender): the 52 blendshape channels under ARKit's exact
names — in the file itself, with no mesh-name prefix — their shapes, and their animation on every frame."""
import json

import bpy
import numpy as np
import pytest

from addon.core.arkit import ARKIT_SHAPES
from addon.core.schedule import parse_schedule
from addon.scene.build import build_face
from addon.scene.fbx_export import export_fbx
from addon.scene.rig import face_poses
from addon.scene.timeline import apply_schedule, sample_weights
from addon.scene.unity_export import export_unity
from conftest import TEXTURED_RIG_SHAPES
from test_fbx_export import read_with_ufbx

FPS = 30
SCHEDULE = "neutral 0.2s, happy 0.3s, viseme_aa 0.3s, surprised 0.2s, neutral"


def timeline_values(face) -> dict[str, np.ndarray]:
    """Each shape key's value on every frame of the scene."""
    scene = bpy.context.scene
    frames = range(scene.frame_start, scene.frame_end + 1)
    samples = [sample_weights(face, frame) for frame in frames]
    return {name: np.array([sample[name] for sample in samples]) for name in samples[0]}


@pytest.fixture
def rigged_face(rigged_set):
    face = build_face(rigged_set)
    apply_schedule(face, parse_schedule(SCHEDULE), fps=FPS)
    return face


def test_the_52_channels_have_arkit_names_and_the_timeline_on_every_frame(rigged_face, tmp_path):
    expected = timeline_values(rigged_face)
    fbx = read_with_ufbx(export_fbx(rigged_face, tmp_path / "face.fbx"))
    (mesh,) = fbx["meshes"]
    assert mesh["blend_channels"] == list(ARKIT_SHAPES)
    # What the file stores, read from its own records: the names alone, no "PromptFace." in front.
    assert fbx["raw_object_names"] == {"BlendShapeChannel": list(ARKIT_SHAPES), "Shape": list(ARKIT_SHAPES)}
    assert sorted(fbx["channels"]) == sorted(ARKIT_SHAPES)
    scene = bpy.context.scene
    frames = np.arange(scene.frame_start, scene.frame_end + 1)
    for name, keyframes in fbx["channels"].items():
        times, percents = np.array(keyframes).T
        np.testing.assert_allclose(times * FPS, frames, atol=1e-6)
        np.testing.assert_allclose(percents, 100.0 * expected[name], atol=1e-3, err_msg=name)
    assert np.max(np.array(fbx["channels"]["mouthSmileLeft"])[:, 1]) == pytest.approx(80.0, abs=1e-3)  # happy


def test_each_channel_holds_its_rig_shape(rigged_face, rigged_set, tmp_path):
    fbx = read_with_ufbx(export_fbx(rigged_face, tmp_path / "face.fbx"))
    (node,) = fbx["mesh_nodes"]
    linear = np.array(node["geometry_to_world_columns"])[:3].T
    base = rigged_set.base_mesh.vertices
    for shape in rigged_set.rig.shapes:
        offsets = np.zeros_like(base)
        for index, offset in fbx["meshes"][0]["blend_shapes"][shape.name].items():
            offsets[int(index)] = offset
        np.testing.assert_allclose(offsets @ linear.T, shape.vertices - base, atol=1e-6, err_msg=shape.name)


def test_the_textured_shapes_textures_are_beside_the_fbx(rigged_face, rigged_set, tmp_path):
    export_fbx(rigged_face, tmp_path / "face.fbx")
    shapes = {shape.name: shape for shape in rigged_set.rig.shapes}
    expected = {"base_texture.png": rigged_set.base_texture_path}
    for name in TEXTURED_RIG_SHAPES:
        expected[f"{name}.texture.png"] = shapes[name].texture_path
        expected[f"{name}.mask.png"] = shapes[name].mask_path
    assert sorted(path.name for path in (tmp_path / "textures").iterdir()) == sorted(expected)
    for file_name, source in expected.items():
        assert (tmp_path / "textures" / file_name).read_bytes() == source.read_bytes()


def test_with_prompt_keys_their_channels_follow_the_52(rigged_set, tmp_path):
    face = build_face(rigged_set, prompt_keys=True)
    apply_schedule(face, parse_schedule(SCHEDULE), fps=FPS)
    fbx = read_with_ufbx(export_fbx(face, tmp_path / "face.fbx"))
    assert fbx["meshes"][0]["blend_channels"] == [*ARKIT_SHAPES, "happy", "surprised"]
    assert fbx["raw_object_names"]["BlendShapeChannel"] == [*ARKIT_SHAPES, "happy", "surprised"]
    assert {percent for _, percent in fbx["channels"]["happy"]} == {0.0}  # the schedule keys the poses


def test_the_unity_export_describes_the_rig_in_its_sidecar(rigged_set, tmp_path):
    face = build_face(rigged_set, prompt_keys=True)
    apply_schedule(face, parse_schedule(SCHEDULE), fps=FPS)
    result = export_unity(face, tmp_path / "unity")
    sidecar = json.loads(result.sidecar.read_text())
    assert result.expressions == ["happy", "surprised", *TEXTURED_RIG_SHAPES]  # the shader's slots, in order
    assert [expression["blendshape"] for expression in sidecar["expressions"]] == ["happy", "surprised"]
    rig = sidecar["rig"]
    assert rig["kind"] == "arkit" and rig["shapes"] == list(ARKIT_SHAPES)
    assert [shape["blendshape"] for shape in rig["textured"]] == list(TEXTURED_RIG_SHAPES)
    for shape in rig["textured"]:
        assert (tmp_path / "unity" / shape["texture"]).is_file() and (tmp_path / "unity" / shape["mask"]).is_file()
    poses = {pose["name"]: {weight["shape"]: weight["weight"] for weight in pose["weights"]} for pose in rig["poses"]}
    assert list(poses) == list(face_poses(face))
    assert poses["happy"] == pytest.approx(face_poses(face)["happy"])
