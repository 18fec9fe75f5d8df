"""A recorded face take keyed onto a face object: its 52 ARKit shape keys, and optionally the head's rotation.

The take is sampled at every frame of the scene's frame rate (addon.core.face_takes.sample_take), its 0 s on
``start_frame``, and each sample becomes a keyframe with 'LINEAR' interpolation, so the values at the keyed frames
are the take's and those between are straight lines. The keys are plain F-curves on the shape keys' values (and
the object's rotation_euler): no drivers, no expressions. Keys already on those F-curves inside the take's frame
range are replaced; keys outside it stay.
"""
from dataclasses import dataclass

import bpy
import numpy as np

from ..core.arkit import ARKIT_SHAPES
from ..core.face_takes import FaceTake, sample_head_rotation, sample_take
from .timeline import FPS_PROPERTY, action_fcurves

INTERPOLATION = "LINEAR"
_INTERPOLATION_VALUE = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items[INTERPOLATION].value

# The face looks along Blender's −Y, +Z up, +X towards the subject's left (addon.core.coordinates). The take's
# angles are taken as Unreal's rotator in the subject's own frame: positive yaw turns the face to the subject's
# right, positive pitch lifts the chin, positive roll tips the top of the head to the subject's right. In Blender
# that is a negative turn about Z, X and Y respectively. Unreal composes roll first, then pitch, then yaw, which is
# Blender's 'YXZ' Euler order here. Live Link Face's sign conventions are not documented (the public takes checked
# had head rotation switched off), so the signs are an assumption: flip one here should a take turn the wrong way.
HEAD_ROTATION_MODE = "YXZ"
HEAD_ROTATION_AXES = (  # (take column: 0 yaw, 1 pitch, 2 roll; rotation_euler index; sign)
    (1, 0, -1.0),  # pitch about X, the face's left-right axis
    (2, 1, -1.0),  # roll about Y, the face's viewing axis
    (0, 2, -1.0),  # yaw about Z, up
)


@dataclass
class TakeKeysResult:
    """What one ``key_take`` keyed."""

    frames_keyed: int
    """Keyframes on each shape key (one per scene frame of the take)."""
    first_frame: int
    end_frame: int
    fps: float
    """The scene's frame rate the take was sampled at."""
    head_rotation: bool
    """Whether the object's rotation was keyed."""


def key_take(face_object: bpy.types.Object, take: FaceTake, scene: bpy.types.Scene, start_frame: int = 1,
             head_rotation: bool = False) -> TakeKeysResult:
    """Key ``take`` on the face's 52 ARKit shape keys from ``start_frame`` at the scene's frame rate, and with
    ``head_rotation`` the take's head rotation on the object's rotation_euler (its rotation mode becomes
    HEAD_ROTATION_MODE). The scene's frame range is set to end with the take (and to start no later than it)."""
    blocks = _arkit_blocks(face_object)
    if isinstance(start_frame, bool) or not isinstance(start_frame, int):
        raise ValueError(f"start_frame must be a whole frame number (got {start_frame!r})")
    if head_rotation and take.head_rotation is None:
        raise ValueError(f"this {take.source_format} take has no head rotation to key; key it without head_rotation")
    fps = scene.render.fps / scene.render.fps_base
    frames, weights = sample_take(take, fps, start_frame)
    shape_keys = face_object.data.shape_keys
    for shape, block in enumerate(blocks):
        fcurve = _fcurve(shape_keys, block.path_from_id("value"), int(frames[0]))
        _replace_keys(fcurve, frames, weights[:, shape])
    if head_rotation:
        _key_head_rotation(face_object, take, fps, start_frame)
    end_frame = int(frames[-1])
    scene.frame_start = min(scene.frame_start, start_frame)
    scene.frame_end = end_frame
    return TakeKeysResult(frames_keyed=len(frames), first_frame=int(frames[0]), end_frame=end_frame, fps=fps,
                          head_rotation=head_rotation)


def drive_from_take(face_object: bpy.types.Object, take: FaceTake, scene: bpy.types.Scene, fps: int | None = None,
                    start_frame: int = 1, head_rotation: bool = False) -> TakeKeysResult:
    """key_take at ``fps`` frames per second (default: the scene's, which must then be whole): the scene's frame
    rate is set to it first, and recorded on the face as its timeline's (FPS_PROPERTY, as a schedule records it)."""
    if fps is None:
        fps = scene.render.fps / scene.render.fps_base
    if isinstance(fps, bool) or not float(fps).is_integer() or fps <= 0:
        raise ValueError(f"the scene's frame rate must be a whole number of frames per second to drive a face from "
                         f"a take (got {fps!r})")
    scene.render.fps, scene.render.fps_base = int(fps), 1.0
    result = key_take(face_object, take, scene, start_frame, head_rotation)
    face_object[FPS_PROPERTY] = int(fps)
    return result


def _arkit_blocks(face_object: bpy.types.Object) -> list[bpy.types.ShapeKey]:
    """The face's 52 ARKit shape keys in ARKIT_SHAPES order; ValueError naming any that are missing."""
    if face_object.type != "MESH" or face_object.data.shape_keys is None:
        raise ValueError(f"'{face_object.name}' has no shape keys: build it with the ARKit rig to key a take on it")
    key_blocks = face_object.data.shape_keys.key_blocks
    missing = [name for name in ARKIT_SHAPES if name not in key_blocks]
    if missing:
        raise ValueError(f"'{face_object.name}' lacks {len(missing)} of the 52 ARKit shape keys a take drives: "
                         f"{', '.join(missing)}; build it with the ARKit rig")
    return [key_blocks[name] for name in ARKIT_SHAPES]


def _key_head_rotation(face_object: bpy.types.Object, take: FaceTake, fps: float, start_frame: int) -> None:
    frames, angles = sample_head_rotation(take, fps, start_frame)
    face_object.rotation_mode = HEAD_ROTATION_MODE
    for column, index, sign in HEAD_ROTATION_AXES:
        fcurve = _fcurve(face_object, "rotation_euler", int(frames[0]), index)
        _replace_keys(fcurve, frames, sign * angles[:, column])


def _fcurve(owner: bpy.types.ID, data_path: str, frame: int, index: int = -1) -> bpy.types.FCurve:
    """The F-curve of ``owner``'s ``data_path`` (its item ``index`` for an array, -1 for a single value), made if
    need be."""
    # keyframe_insert makes the action (and in 4.4+ its slot, layer and channel bag) the same way in every
    # supported version; the key it adds lies in the take's range, so _replace_keys removes it again.
    owner.keyframe_insert(data_path, index=index, frame=frame)
    for fcurve in action_fcurves(owner.animation_data):
        if fcurve.data_path == data_path and fcurve.array_index == max(index, 0):
            return fcurve
    raise RuntimeError(f"Blender made no F-curve for {data_path}[{index}] on '{owner.name}'")


def _replace_keys(fcurve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray) -> None:
    """Key ``values`` at ``frames`` (ascending) with linear interpolation, in place of the keys in their range."""
    points = fcurve.keyframe_points
    existing = np.empty(2 * len(points), dtype=np.float32)
    points.foreach_get("co", existing)
    existing_frames = existing[0::2]
    in_range = np.flatnonzero((existing_frames >= frames[0]) & (existing_frames <= frames[-1]))
    if len(in_range) == len(points):
        points.clear()  # re-keying a take over itself: far faster than a remove() per key
    else:
        for index in reversed(in_range.tolist()):
            points.remove(points[index], fast=True)
    kept = len(points)
    points.add(len(frames))
    # foreach_get/set work on the whole collection; the new points are its tail until update() sorts them.
    coordinates = np.empty(2 * len(points), dtype=np.float32)
    points.foreach_get("co", coordinates)
    coordinates[2 * kept:] = np.column_stack([frames, values]).ravel()
    points.foreach_set("co", coordinates)
    interpolations = np.empty(len(points), dtype=np.int32)
    points.foreach_get("interpolation", interpolations)
    interpolations[kept:] = _INTERPOLATION_VALUE
    points.foreach_set("interpolation", interpolations)
    fcurve.update()
