"""`promptface export-unity` and the panel's Export for Unity: FBX + textures + sidecar, read back by ufbx
(independent of Blender) and checked against the Blender scene they came from."""
import json
import shutil
import subprocess
import sys

import bpy
import jsonschema
import numpy as np
import pytest
from conftest import write_plane_set
from test_fbx_export import read_with_ufbx

import addon
from addon.core.coordinates import blender_to_unity
from addon.core.errors import PromptFaceError
from addon.core.schedule import parse_schedule
from addon.core.unity_sidecar import MAX_UNITY_EXPRESSIONS, SIDECAR_SCHEMA
from addon.scene.build import build_face
from addon.scene.face_object import expression_keys, shape_key_coordinates
from addon.scene.texture_blend_nodes import BLEND_NODE_NAME, EDGE_HIGH_SOCKET, EDGE_LOW_SOCKET
from addon.scene.timeline import apply_schedule, sample_weights
from addon.scene.unity_export import export_unity

SCHEDULE = "neutral 0.2s, happy 0.5s, 60% happy + 40% surprised 0.5s @0.25s, neutral"
FPS = 24


def promptface(*args, cwd):
    return subprocess.run([sys.executable, "-m", "addon.cli", *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd)


def curves_match_timeline(fbx: dict, face, fps: float) -> None:
    """Every baked DeformPercent key equals 100 × the shape key's value on the Blender timeline at that frame."""
    for name, keyframes in fbx["channels"].items():
        times, percents = np.array(keyframes).T
        frames = np.rint(times * fps).astype(int)
        np.testing.assert_allclose(times * fps, frames, atol=1e-6)
        expected = [100.0 * sample_weights(face, frame)[name] for frame in frames]
        np.testing.assert_allclose(percents, expected, atol=1e-3, err_msg=name)


@pytest.fixture
def face(plane_set):
    face = build_face(plane_set)
    apply_schedule(face, parse_schedule(SCHEDULE), fps=FPS)
    return face


def test_export_writes_fbx_textures_and_a_sidecar_binding_them(face, plane_set, tmp_path):
    result = export_unity(face, tmp_path / "unity")

    out = tmp_path / "unity"
    assert (result.fbx, result.sidecar) == (out / "face.fbx", out / "face.promptface.json")
    sidecar = json.loads(result.sidecar.read_text())
    jsonschema.validate(sidecar, SIDECAR_SCHEMA)
    assert [entry["blendshape"] for entry in sidecar["expressions"]] == ["happy", "surprised"] == result.expressions
    for entry in sidecar["expressions"]:
        source = plane_set.expression(entry["blendshape"])
        assert (out / entry["texture"]).read_bytes() == source.texture_path.read_bytes()
        assert (out / entry["mask"]).read_bytes() == source.mask_path.read_bytes()
    assert (out / sidecar["base_texture"]).read_bytes() == plane_set.base_texture_path.read_bytes()
    scene = bpy.context.scene
    assert sidecar["timeline"] == {"fps": FPS, "frame_start": scene.frame_start, "frame_end": scene.frame_end,
                                   "length_s": pytest.approx((scene.frame_end - scene.frame_start) / FPS)}
    assert sidecar["blend"] == {"edge_low": 0.35, "edge_high": 0.65}
    assert sorted(p.name for p in out.iterdir()) == ["face.fbx", "face.promptface.json", "textures"]


def test_ufbx_reads_unprefixed_blendshapes_normals_and_the_timeline(face, tmp_path):
    fbx = read_with_ufbx(export_unity(face, tmp_path).fbx)

    assert fbx["node_names"] == [face.name] and fbx["num_bones"] == 0  # one mesh, no armature, no leaf bones
    (mesh,) = fbx["meshes"]
    assert mesh["blend_channels"] == ["happy", "surprised"]  # exactly the expression names: no "Key." prefix
    assert mesh["has_normals"] and mesh["has_face_smoothing"] and fbx["smoothing_mappings"] == ["ByPolygon"]
    # Blender writes every blendshape's normal deltas as zeros: why the Unity importer calculates them instead.
    assert mesh["blend_shape_max_normal_offset"] == {"happy": 0.0, "surprised": 0.0}
    assert fbx["frames_per_second"] == FPS
    scene = bpy.context.scene
    for keyframes in fbx["channels"].values():
        frames = np.rint(np.array(keyframes)[:, 0] * FPS)
        assert (frames[0], frames[-1], len(frames)) == (scene.frame_start, scene.frame_end,
                                                        scene.frame_end - scene.frame_start + 1)
    curves_match_timeline(fbx, face, FPS)


def test_unity_coordinates_are_the_fbx_mirrored_in_x_as_unity_imports_it(face, tmp_path):
    """blender_to_unity is what the FBX settings (Y up, metres) and Unity's importer (right- to left-handed by
    mirroring X) do together; checked on the written file as ufbx reads it."""
    fbx = read_with_ufbx(export_unity(face, tmp_path).fbx)
    assert fbx["unit_meters"] == 1.0
    assert fbx["axes"] == {"right": "POSITIVE_X", "up": "POSITIVE_Y", "front": "POSITIVE_Z"}
    columns = np.array(fbx["mesh_nodes"][0]["geometry_to_world_columns"])
    linear, translation = columns[:3].T, columns[3]
    unity_mirror = np.diag([-1.0, 1.0, 1.0])
    mesh = fbx["meshes"][0]
    in_unity = (np.array(mesh["vertices"]) @ linear.T + translation) @ unity_mirror.T
    basis = shape_key_coordinates(face.data.shape_keys.reference_key)
    np.testing.assert_allclose(in_unity, blender_to_unity(basis), atol=1e-6)
    for key in expression_keys(face):
        offsets = np.zeros_like(basis)
        for index, offset in mesh["blend_shapes"][key.name].items():
            offsets[int(index)] = offset
        np.testing.assert_allclose(offsets @ linear.T @ unity_mirror.T,
                                   blender_to_unity(shape_key_coordinates(key)) - blender_to_unity(basis), atol=1e-6)


def test_blender_to_unity_keeps_up_forward_and_the_subjects_sides():
    up, towards_viewer, image_right = np.eye(3)[[2]], -np.eye(3)[[1]], np.eye(3)[[0]]
    np.testing.assert_array_equal(blender_to_unity(up), [[0, 1, 0]])  # Unity's up
    np.testing.assert_array_equal(blender_to_unity(towards_viewer), [[0, 0, 1]])  # the face looks along Unity's forward
    np.testing.assert_array_equal(blender_to_unity(image_right), [[-1, 0, 0]])  # the subject's left: Unity's left
    matrix = blender_to_unity(np.eye(3)).T
    assert np.linalg.det(matrix) == pytest.approx(-1.0)  # right-handed to left-handed, no scaling


def test_the_sidecar_carries_the_blend_edges_set_in_blender(face, tmp_path):
    node = face.active_material.node_tree.nodes[BLEND_NODE_NAME]
    node.inputs[EDGE_LOW_SOCKET].default_value, node.inputs[EDGE_HIGH_SOCKET].default_value = 0.2, 0.8
    sidecar = json.loads(export_unity(face, tmp_path).sidecar.read_text())
    assert sidecar["blend"] == {"edge_low": 0.2, "edge_high": 0.8}
    node.inputs[EDGE_LOW_SOCKET].default_value = 0.9
    with pytest.raises(PromptFaceError, match="Edge Low"):
        export_unity(face, tmp_path / "reversed")


def test_more_expressions_than_the_shader_blends_is_refused_before_writing(tmp_path):
    too_many = MAX_UNITY_EXPRESSIONS + 1
    many = write_plane_set(tmp_path / "many", names=tuple(f"mood_{i}" for i in range(too_many)), texture_size=4)
    face = build_face(many)
    with pytest.raises(PromptFaceError, match=f"at most {MAX_UNITY_EXPRESSIONS} expressions and the face has "
                                              f"{too_many}"):
        export_unity(face, tmp_path / "unity")
    assert list((tmp_path / "unity").iterdir()) == []


def test_a_file_in_the_way_is_refused(face, tmp_path):
    (tmp_path / "unity").write_text("not a folder")
    with pytest.raises(PromptFaceError, match="not a folder"):
        export_unity(face, tmp_path / "unity")


@pytest.fixture
def registered():
    addon.register()
    yield
    addon.unregister()


def test_the_export_operator_writes_the_folder(registered, plane_set, tmp_path):
    bpy.ops.promptface.import_expression_set(filepath=str(plane_set.root))
    bpy.ops.promptface.apply_schedule(schedule="neutral 0.2s, happy 0.5s", fps=30)
    assert bpy.ops.promptface.export_unity(directory=str(tmp_path / "unity")) == {"FINISHED"}
    assert (tmp_path / "unity" / "face.promptface.json").is_file()
    with pytest.raises(RuntimeError, match="choose a folder"):
        bpy.ops.promptface.export_unity(directory="")


@pytest.fixture(scope="module")
def animated_shot(tmp_path_factory):
    """`promptface animate` on the sample without the preview, then moved: the set must travel with the .blend."""
    work = tmp_path_factory.mktemp("unity_shot")
    made = promptface("animate", "--sample", "astronaut", "happy", "angry", "--no-preview", "--out", "shot", cwd=work)
    assert made.returncode == 0, made.stderr[-3000:]
    shutil.move(work / "shot", work / "moved")
    return work


def test_animate_then_export_unity_on_the_sample(animated_shot):
    result = promptface("export-unity", "moved/face.blend", "--out", "unity", cwd=animated_shot)

    assert result.returncode == 0, result.stderr[-3000:]
    out = animated_shot / "unity"
    sidecar = json.loads((out / "face.promptface.json").read_text())
    jsonschema.validate(sidecar, SIDECAR_SCHEMA)
    assert [entry["blendshape"] for entry in sidecar["expressions"]] == ["as_photographed", "happy", "angry"]
    assert all((out / entry[kind]).is_file() for entry in sidecar["expressions"] for kind in ("texture", "mask"))
    fbx = read_with_ufbx(out / "face.fbx")
    assert fbx["meshes"][0]["blend_channels"] == ["as_photographed", "happy", "angry"]
    bpy.ops.wm.open_mainfile(filepath=str(animated_shot / "moved" / "face.blend"))
    face = next(obj for obj in bpy.data.objects if obj.type == "MESH")
    assert sidecar["timeline"]["frame_end"] == bpy.context.scene.frame_end
    curves_match_timeline(fbx, face, sidecar["timeline"]["fps"])
    assert max(max(value for _, value in keys) for keys in fbx["channels"].values()) == pytest.approx(100.0)


def test_export_unity_errors_exit_2_and_name_the_problem(animated_shot):
    missing = promptface("export-unity", "nothing.blend", "--out", "unity_missing", cwd=animated_shot)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    wrong_face = promptface("export-unity", "moved/face.blend", "--out", "unity_x", "--face", "Nobody",
                            cwd=animated_shot)
    assert wrong_face.returncode == 2 and "no PromptFace face named 'Nobody' (faces: PromptFace)" in wrong_face.stderr
    assert not (animated_shot / "unity_missing").exists()
