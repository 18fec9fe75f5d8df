"""Preview renders with Cycles on the CPU: a camera and light framing the face, timeline frames, a video
assembled in the sequencer, and a contact sheet of the expressions at full weight."""
import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

from ..render_frames import blender_output_silenced, render_still
from ..scene.face_object import expression_keys
from ..scene.rig import face_poses, is_rigged, prompt_pose_names, set_pose

PREVIEW_CAMERA = "PromptFace Camera"
PREVIEW_LIGHT = "PromptFace Light"


def frame_face(scene: bpy.types.Scene, face: bpy.types.Object, margin: float = 1.25) -> bpy.types.Object:
    """An orthographic camera looking at the face from the front (−Y), a key light, a dim grey world."""
    corners = [face.matrix_world @ Vector(corner) for corner in face.bound_box]
    low = Vector(tuple(min(c[i] for c in corners) for i in range(3)))
    high = Vector(tuple(max(c[i] for c in corners) for i in range(3)))
    centre = (low + high) / 2
    camera_data = bpy.data.cameras.get(PREVIEW_CAMERA) or bpy.data.cameras.new(PREVIEW_CAMERA)
    camera_data.type = "ORTHO"
    camera_data.ortho_scale = margin * max(high.x - low.x, high.z - low.z)
    camera = bpy.data.objects.get(PREVIEW_CAMERA) or bpy.data.objects.new(PREVIEW_CAMERA, camera_data)
    if camera.name not in scene.collection.objects:
        scene.collection.objects.link(camera)
    camera.location = (centre.x, low.y - 1.0, centre.z)
    camera.rotation_euler = (math.pi / 2, 0.0, 0.0)
    camera_data.clip_end = 10.0
    scene.camera = camera
    light_data = bpy.data.lights.get(PREVIEW_LIGHT) or bpy.data.lights.new(PREVIEW_LIGHT, "SUN")
    light_data.energy = 3.0
    light = bpy.data.objects.get(PREVIEW_LIGHT) or bpy.data.objects.new(PREVIEW_LIGHT, light_data)
    if light.name not in scene.collection.objects:
        scene.collection.objects.link(light)
    light.rotation_euler = (math.radians(70), 0.0, math.radians(-20))
    world = scene.world or bpy.data.worlds.new("PromptFace World")
    scene.world = world
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.35, 0.35, 0.35, 1.0)
    return camera


def preview_frames(scene: bpy.types.Scene, preview_fps: int) -> list[int]:
    """The timeline's frames sampled at about preview_fps (always including the first and last)."""
    step = max(1, round(scene.render.fps / preview_fps))
    frames = list(range(scene.frame_start, scene.frame_end + 1, step))
    if frames[-1] != scene.frame_end:
        frames.append(scene.frame_end)
    return frames


def encode_video(frame_files: list[Path], path: Path, fps: int) -> Path:
    """Assemble rendered PNG frames into an H.264 MP4 with the sequencer (no Cycles work)."""
    scene = bpy.data.scenes.new("PromptFace Video")
    try:
        scene.sequence_editor_create()
        first = frame_files[0]
        strips = _sequencer_strips(scene.sequence_editor)
        strip = strips.new_image(name="frames", filepath=str(first), channel=1, frame_start=1)
        for extra in frame_files[1:]:
            strip.elements.append(extra.name)
        scene.frame_start, scene.frame_end = 1, len(frame_files)
        scene.render.fps = fps
        size = bpy.data.images.load(str(first), check_existing=True).size
        scene.render.resolution_x, scene.render.resolution_y = size[0], size[1]
        scene.render.resolution_percentage = 100
        settings = scene.render.image_settings
        settings.file_format = "FFMPEG"
        scene.render.ffmpeg.format = "MPEG4"
        scene.render.ffmpeg.codec = "H264"
        scene.render.ffmpeg.constant_rate_factor = "HIGH"
        scene.render.filepath = str(path)
        scene.render.use_file_extension = False
        with blender_output_silenced():
            bpy.ops.render.render(animation=True, scene=scene.name)
    finally:
        bpy.data.scenes.remove(scene)
    return path


def _sequencer_strips(editor):
    """The strip collection: `strips` from Blender 4.4 on, `sequences` before."""
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def contact_sheet_poses(face: bpy.types.Object) -> list[dict[str, float]]:
    """The shape-key values of each tile: the neutral, then each expression at full weight (its own key, or on a
    rigged face its pose of the ARKit keys)."""
    if is_rigged(face):
        poses = face_poses(face)
        return [poses[name] for name in prompt_pose_names(face)]
    return [{}, *({key.name: 1.0} for key in expression_keys(face))]


def render_contact_sheet(scene: bpy.types.Scene, face: bpy.types.Object, path: Path, tile_dir: Path) -> Path:
    """Render the neutral and each expression at full weight (animation muted meanwhile) into one PNG row."""
    keys = expression_keys(face)
    key_data = face.data.shape_keys
    animation = key_data.animation_data
    saved_action = animation.action if animation else None
    if animation:
        animation.action = None
    saved_values = [key.value for key in keys]
    tiles = []
    try:
        for index, pose in enumerate(contact_sheet_poses(face)):
            set_pose(face, pose)
            tiles.append(render_still(scene, tile_dir / f"tile_{index:02d}.png"))
    finally:
        for key, value in zip(keys, saved_values, strict=True):
            key.value = value
        if animation:
            animation.action = saved_action
    return _write_row([_read_png_rgba(tile) for tile in tiles], path)


def _read_png_rgba(path: Path) -> np.ndarray:
    image = bpy.data.images.load(str(path))
    try:
        pixels = np.empty(image.size[0] * image.size[1] * 4, np.float32)
        image.pixels.foreach_get(pixels)
        return pixels.reshape(image.size[1], image.size[0], 4)
    finally:
        bpy.data.images.remove(image)


def _write_row(tiles: list[np.ndarray], path: Path) -> Path:
    row = np.concatenate(tiles, axis=1)
    image = bpy.data.images.new("PromptFace Contact Sheet", width=row.shape[1], height=row.shape[0])
    try:
        image.pixels.foreach_set(row.ravel())
        image.filepath_raw = str(path)
        image.file_format = "PNG"
        image.save()
    finally:
        bpy.data.images.remove(image)
    return path
