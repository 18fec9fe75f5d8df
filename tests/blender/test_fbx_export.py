"""The Unity FBX export, read back by ufbx (independent of Blender) and by Blender's own importer."""
import json
import subprocess
import sys
import types
from pathlib import Path

import bpy
import numpy as np
import pytest

from addon.core.errors import PromptFaceError
from addon.scene.face_object import build_face_object, expression_keys, shape_key_coordinates
from addon.scene.fbx_export import export_fbx

UFBX_READER = Path(__file__).with_name("read_fbx_with_ufbx.py")
FPS = 30
FRAMES = range(1, 21)


def read_with_ufbx(path: Path) -> dict:
    """What ufbx reads from the FBX, from its own process (its bindings can crash the interpreter)."""
    run = subprocess.run([sys.executable, str(UFBX_READER), str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"ufbx reader failed ({run.returncode}): {run.stderr[-2000:]}"
    return json.loads(run.stdout)


def animate(face):
    """happy 0→1 over frames 1–10, surprised 0→0.6 over frames 15–20, at 30 fps."""
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end, scene.render.fps = FRAMES[0], FRAMES[-1], FPS
    keys = face.data.shape_keys.key_blocks
    for name, (start, end, value) in {"happy": (1, 10, 1.0), "surprised": (15, 20, 0.6)}.items():
        keys[name].value = 0.0
        keys[name].keyframe_insert("value", frame=start)
        keys[name].value = value
        keys[name].keyframe_insert("value", frame=end)


def key_values(face, frames) -> dict[str, np.ndarray]:
    """Shape-key value per expression key at each frame."""
    values = {key.name: [] for key in expression_keys(face)}
    for frame in frames:
        bpy.context.scene.frame_set(frame)
        for key in expression_keys(face):
            values[key.name].append(key.value)
    return {name: np.array(series) for name, series in values.items()}


@pytest.fixture
def animated_face(plane_set):
    face = build_face_object(plane_set)
    animate(face)
    return face


def test_ufbx_reads_one_mesh_with_blendshapes_named_as_the_keys_and_every_frame_as_percent(animated_face, plane_set,
                                                                                        tmp_path):
    other = bpy.data.objects.new("Other", bpy.data.meshes.new("Other"))  # selected and active: must stay out
    bpy.context.scene.collection.objects.link(other)
    other.select_set(True)
    bpy.context.view_layer.objects.active = other
    expected = key_values(animated_face, FRAMES)

    path = export_fbx(animated_face, tmp_path / "face.fbx")
    fbx = read_with_ufbx(path)

    assert path == tmp_path / "face.fbx"
    assert len(fbx["meshes"]) == 1
    mesh = fbx["meshes"][0]
    assert mesh["blend_channels"] == ["happy", "surprised"]
    assert sorted(fbx["channels"]) == ["happy", "surprised"]
    assert fbx["frames_per_second"] == FPS
    for name, keyframes in fbx["channels"].items():
        times, percents = np.array(keyframes).T
        frames = times * FPS  # ufbx times are seconds from frame 0
        np.testing.assert_allclose(frames, list(FRAMES), atol=1e-6)  # every frame baked, start and end included
        np.testing.assert_allclose(percents, 100.0 * expected[name], atol=1e-3)
    assert fbx["smoothing_mappings"] == ["ByPolygon"]
    assert mesh["has_face_smoothing"] and mesh["has_normals"]
    assert mesh["num_vertices"] == len(plane_set.base_mesh.vertices)
    # Selection and the active object are as they were.
    assert other.select_get() and not animated_face.select_get()
    assert bpy.context.view_layer.objects.active == other


def test_fbx_world_space_is_the_expression_sets_y_up_metres(animated_face, plane_set, tmp_path):
    """Blender Z-up becomes FBX Y-up with the face towards +Z, 1 unit = 1 m: the expression set's own frame."""
    fbx = read_with_ufbx(export_fbx(animated_face, tmp_path / "face.fbx"))
    assert fbx["unit_meters"] == 1.0
    (node,) = fbx["mesh_nodes"]
    columns = np.array(node["geometry_to_world_columns"])
    linear, translation = columns[:3].T, columns[3]
    mesh = fbx["meshes"][0]
    world = np.array(mesh["vertices"]) @ linear.T + translation
    np.testing.assert_allclose(world, plane_set.base_mesh.vertices, atol=1e-6)
    for expression in plane_set.expressions[1:]:
        offsets = np.zeros_like(world)
        for index, offset in mesh["blend_shapes"][expression.name].items():
            offsets[int(index)] = offset
        np.testing.assert_allclose(offsets @ linear.T, expression.vertices - plane_set.base_mesh.vertices,
                                   atol=1e-6)


def test_modifiers_are_left_out_so_the_blendshapes_survive(animated_face, plane_set, tmp_path):
    animated_face.modifiers.new("Smooth", 'SUBSURF')  # an applied modifier would drop every shape key
    fbx = read_with_ufbx(export_fbx(animated_face, tmp_path / "face.fbx"))
    assert fbx["meshes"][0]["blend_channels"] == ["happy", "surprised"]
    assert fbx["meshes"][0]["num_vertices"] == len(plane_set.base_mesh.vertices)


def test_blender_reimport_gives_the_same_keys_offsets_and_animation(animated_face, tmp_path):
    basis = shape_key_coordinates(animated_face.data.shape_keys.reference_key)
    offsets = {key.name: shape_key_coordinates(key) - basis for key in expression_keys(animated_face)}
    sampled = [1, 4, 10, 12, 15, 17, 20]
    expected = key_values(animated_face, sampled)
    bpy.context.scene.frame_set(12)  # happy is at 1 while exporting: the FBX base must still be the Basis
    path = export_fbx(animated_face, tmp_path / "face.fbx")

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0.0)

    meshes = [obj for obj in bpy.data.objects if obj.type == 'MESH']
    assert len(meshes) == 1
    face = meshes[0]
    keys = face.data.shape_keys.key_blocks
    assert [key.name for key in keys] == ["Basis", "happy", "surprised"]
    # The importer undoes the axis conversion, so world coordinates compare with the original's (identity matrix).
    matrix = np.array(face.matrix_world)
    linear, translation = matrix[:3, :3], matrix[:3, 3]
    imported_basis = shape_key_coordinates(keys["Basis"]) @ linear.T + translation
    np.testing.assert_allclose(imported_basis, basis, atol=1e-5)
    for name, offset in offsets.items():
        imported = shape_key_coordinates(keys[name]) @ linear.T + translation
        np.testing.assert_allclose(imported - imported_basis, offset, atol=1e-5)
    assert bpy.context.scene.render.fps == FPS
    for name, series in key_values(face, sampled).items():
        np.testing.assert_allclose(series, expected[name], atol=1e-5)


def test_textures_and_masks_are_copied_beside_the_fbx(animated_face, plane_set, tmp_path):
    export_fbx(animated_face, tmp_path / "face.fbx")
    textures = tmp_path / "textures"
    expected = {"base_texture.png": plane_set.base_texture_path}
    for expression in plane_set.expressions[1:]:
        expected[f"{expression.name}.texture.png"] = expression.texture_path
        expected[f"{expression.name}.mask.png"] = expression.mask_path
    assert sorted(p.name for p in textures.iterdir()) == sorted(expected)
    for name, source in expected.items():
        assert (textures / name).read_bytes() == source.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.fbx", "plane_set", "textures"]


def test_a_shape_key_outside_the_set_is_exported_without_textures(animated_face, tmp_path):
    animated_face.shape_key_add(name="sculpted", from_mix=False)
    fbx = read_with_ufbx(export_fbx(animated_face, tmp_path / "face.fbx"))
    assert fbx["meshes"][0]["blend_channels"] == ["happy", "surprised", "sculpted"]
    assert not any(p.name.startswith("sculpted") for p in (tmp_path / "textures").iterdir())


def test_texture_dir_can_be_chosen_and_the_set_passed_explicitly(animated_face, plane_set, tmp_path):
    del animated_face["promptface_expression_set"]
    (tmp_path / "out").mkdir()
    export_fbx(animated_face, tmp_path / "out" / "face.fbx", texture_dir=tmp_path / "pngs", expression_set=plane_set)
    assert (tmp_path / "pngs" / "happy.mask.png").is_file()
    assert not (tmp_path / "out" / "textures").exists()


def test_a_face_that_does_not_record_its_set_needs_one_passed(animated_face, tmp_path):
    del animated_face["promptface_expression_set"]
    with pytest.raises(PromptFaceError, match="pass the set"):
        export_fbx(animated_face, tmp_path / "face.fbx")
    assert not (tmp_path / "face.fbx").exists()


def test_a_direct_image_texture_lands_in_the_fbm_folder_beside_the_fbx(animated_face, plane_set, tmp_path):
    """Blender's COPY mode writes textures to <stem>.fbm/ next to the file; the staging folder must not show."""
    material = bpy.data.materials.new("Direct")
    material.use_nodes = True
    nodes = material.node_tree.nodes
    image = nodes.new("ShaderNodeTexImage")
    image.image = bpy.data.images.load(str(plane_set.base_texture_path))
    material.node_tree.links.new(image.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"])
    animated_face.data.materials.append(material)

    fbx = read_with_ufbx(export_fbx(animated_face, tmp_path / "face.fbx"))

    assert (tmp_path / "face.fbm" / "base_texture.png").read_bytes() == plane_set.base_texture_path.read_bytes()
    assert "face.fbm/base_texture.png" in fbx["texture_files"]


def test_refuses_a_mesh_without_shape_keys(tmp_path):
    plain = bpy.data.objects.new("Plain", bpy.data.meshes.new("Plain"))
    bpy.context.scene.collection.objects.link(plain)
    with pytest.raises(PromptFaceError, match="no shape keys"):
        export_fbx(plain, tmp_path / "face.fbx")
    plain.shape_key_add(name="Basis")
    with pytest.raises(PromptFaceError, match="no shape keys"):
        export_fbx(plain, tmp_path / "face.fbx")
    assert list(tmp_path.iterdir()) == []


def test_refuses_a_key_relative_to_another_key(animated_face, tmp_path):
    keys = animated_face.data.shape_keys.key_blocks
    keys["surprised"].relative_key = keys["happy"]
    with pytest.raises(PromptFaceError, match="'surprised' is relative to 'happy'"):
        export_fbx(animated_face, tmp_path / "face.fbx")


def test_refuses_a_path_that_is_not_an_fbx_file(animated_face, tmp_path):
    with pytest.raises(PromptFaceError, match=r"end in \.fbx"):
        export_fbx(animated_face, tmp_path / "face.obj")
    with pytest.raises(PromptFaceError, match="does not exist"):
        export_fbx(animated_face, tmp_path / "missing" / "face.fbx")


def test_a_crash_while_writing_leaves_the_previous_file_and_no_partial_one(animated_face, tmp_path, monkeypatch):
    path = tmp_path / "face.fbx"
    path.write_bytes(b"the previous export")

    def crash(filepath, **options):
        Path(filepath).write_bytes(b"Kaydara FBX Binary  \x00half")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(bpy.ops, "export_scene", types.SimpleNamespace(fbx=crash))
    with pytest.raises(RuntimeError, match="exporter crashed"):
        export_fbx(animated_face, path)

    assert path.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.fbx", "plane_set", "textures"]
    assert not animated_face.select_get()


def test_an_exporter_that_cancels_is_an_error(animated_face, tmp_path, monkeypatch):
    monkeypatch.setattr(bpy.ops, "export_scene", types.SimpleNamespace(fbx=lambda **options: {'CANCELLED'}))
    with pytest.raises(PromptFaceError, match="did not write face.fbx"):
        export_fbx(animated_face, tmp_path / "face.fbx")
    assert not (tmp_path / "face.fbx").exists()
