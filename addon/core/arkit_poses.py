"""Named poses of an ARKit rig, and what a schedule target means on a rigged face. Pure Python.

A pose is {ARKit shape: weight}; shapes it does not name are at 0. A rigged set's poses are the neutral (every shape
at 0), each prompt as a pose of the rig (its expression's arkit_weights) and the rig's own named poses (the 15
visemes). On a rigged face a schedule target resolves to one pose:

1. a pose's name, ignoring case (``viseme_aa``, ``happy``, ``neutral``) -> that pose;
2. anything else resolves against the prompts as on a face with a shape key per prompt
   (addon.core.schedule_targets: an expression's prompt, an emotion mixture) and the weighted sum of those
   expressions' poses is the pose, each shape capped at 1.
"""
from collections.abc import Mapping, Sequence

from .expression_set import ExpressionSet
from .schedule import ScheduleEntry
from .schedule_targets import MAX_WEIGHT, missing_targets, resolve_target

NEUTRAL_POSE = "neutral"

Pose = dict[str, float]


def rig_poses(expression_set: ExpressionSet) -> dict[str, Pose]:
    """Every named pose of a rigged set: the neutral, each expression's arkit_weights (a prompt as a pose), then the
    rig's own poses. An expression and a rig pose of the same name cannot both be kept: the expression wins, as
    a schedule naming it means the prompt."""
    if expression_set.rig is None:
        return {}
    poses: dict[str, Pose] = {NEUTRAL_POSE: {}}
    for expression in expression_set.expressions:
        poses[expression.name] = dict(expression.arkit_weights)
    for name, weights in expression_set.rig.poses.items():
        poses.setdefault(name, dict(weights))
    return poses


def mixed_pose(expression_weights: Mapping[str, float], poses: Mapping[str, Mapping[str, float]]) -> Pose:
    """The pose of a mixture of expressions: Σ_e w_e·pose_e per shape, capped at MAX_WEIGHT (a shape key's top)."""
    mixed: Pose = {}
    for name, weight in expression_weights.items():
        if name not in poses:
            raise KeyError(f"expression '{name}' has no pose on this rig")
        for shape, shape_weight in poses[name].items():
            mixed[shape] = mixed.get(shape, 0.0) + weight * shape_weight
    return {shape: min(weight, MAX_WEIGHT) for shape, weight in mixed.items()}


def named_pose(target: str, poses: Mapping[str, Mapping[str, float]]) -> Pose | None:
    """The pose named ``target`` (case- and whitespace-insensitive), or None."""
    wanted = " ".join(target.split()).lower()
    for name, weights in poses.items():
        if name.lower() == wanted:
            return dict(weights)
    return None


def resolve_pose_target(target: str, expressions: Mapping[str, str],
                        poses: Mapping[str, Mapping[str, float]]) -> Pose:
    """A schedule target's pose on a rigged face (see the module docstring); ``expressions`` maps each expression
    name to its prompt. Raises ScheduleError, as resolve_target does, for a target that is neither."""
    pose = named_pose(target, poses)
    if pose is not None:
        return pose
    return mixed_pose(resolve_target(target, expressions), poses)


def missing_pose_targets(entries: Sequence[ScheduleEntry], expressions: Mapping[str, str],
                         pose_names: Sequence[str]) -> list[str]:
    """The prompts to generate so that every entry resolves on a rigged face: missing_targets, leaving out the
    entries that name a pose (a viseme) rather than a prompt."""
    poses = {name: {} for name in pose_names}
    return missing_targets([entry for entry in entries if named_pose(entry.target, poses) is None], expressions)
