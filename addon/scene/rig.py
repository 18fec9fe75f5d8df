"""A rigged face in the scene: its ARKit keys, its named poses, setting the keys from a pose, and what a schedule
target means on it (addon.core.arkit_poses).

The face object records its rig's kind and poses as custom properties (addon.scene.face_object: RIG_PROPERTY,
POSES_PROPERTY). A pose sets every shape key of the face: each rig key to the pose's weight (0 where the pose does
not name it) and any per-prompt key to 0, so a pose is the whole face, as a timeline key is.
"""
from collections.abc import Callable, Mapping

import bpy

from ..core.arkit import ARKIT_SHAPES
from ..core.arkit_poses import NEUTRAL_POSE, Pose, resolve_pose_target
from ..core.errors import PromptFaceError
from ..core.schedule_targets import resolve_target
from .face_object import POSES_PROPERTY, RIG_PROPERTY, expression_keys, face_prompts


def is_rigged(face: bpy.types.Object) -> bool:
    return face is not None and RIG_PROPERTY in face


def face_poses(face: bpy.types.Object) -> dict[str, Pose]:
    """{pose name: {ARKit shape: weight}} recorded on a rigged face, in order; {} for a face without a rig."""
    recorded = face.get(POSES_PROPERTY) if face is not None else None
    if recorded is None:
        return {}
    return {name: {shape: float(weight) for shape, weight in weights.items()} for name, weights in recorded.items()}


def rig_keys(face: bpy.types.Object) -> list[bpy.types.ShapeKey]:
    """The face's ARKit shape keys, in ARKIT_SHAPES order (those it has)."""
    blocks = face.data.shape_keys.key_blocks if face.data.shape_keys else {}
    return [blocks[name] for name in ARKIT_SHAPES if name in blocks]


def set_pose(face: bpy.types.Object, pose: Mapping[str, float]) -> None:
    """Set every shape key of the face from `pose`: the rig keys to its weights (0 where it names none), the other
    keys to 0. Raises PromptFaceError for a pose naming a shape the face has no key for."""
    keys = {key.name: key for key in expression_keys(face)}
    unknown = [shape for shape in pose if shape not in keys]
    if unknown:
        raise PromptFaceError(f"the pose names {', '.join(unknown)}, which '{face.name}' has no shape key for")
    for name, key in keys.items():
        key.value = float(pose.get(name, 0.0))


def apply_pose(face: bpy.types.Object, name: str) -> Pose:
    """Set the face's keys from its pose `name` (set_pose); returns the pose."""
    poses = face_poses(face)
    if not poses:
        raise PromptFaceError(f"'{face.name}' has no ARKit rig, so no poses; build it from a set made with the rig")
    if name not in poses:
        raise PromptFaceError(f"'{face.name}' has no pose '{name}'; its poses are {', '.join(poses)}")
    set_pose(face, poses[name])
    return poses[name]


def prompt_pose_names(face: bpy.types.Object) -> list[str]:
    """The poses that are prompts (the neutral first), in the order they were generated."""
    prompts = face_prompts(face)
    return [name for name in face_poses(face) if name == NEUTRAL_POSE or name in prompts]


def schedule_resolver(face: bpy.types.Object,
                      expressions: Mapping[str, str] | None = None) -> Callable[[str], dict[str, float]]:
    """What a schedule target means on this face, as shape-key weights: on a rigged face its pose
    (resolve_pose_target), else the per-prompt keys' weights (resolve_target). `expressions` maps expression names
    to prompts (default: the face's recorded prompts on a rigged face, each key's own name otherwise)."""
    poses = face_poses(face)
    if poses:
        prompts = face_prompts(face) if expressions is None else expressions
        return lambda target: resolve_pose_target(target, prompts, poses)
    if expressions is None:
        expressions = {key.name: key.name for key in expression_keys(face)}
    return lambda target: resolve_target(target, expressions)
