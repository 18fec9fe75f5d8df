"""The face's timeline: a schedule becomes keyframes on its shape-key values.

Frames: time 0 s is the scene's first frame, FRAME_START (1), and a key at t seconds sits on frame
FRAME_START + round(t·fps), half frames rounding up. Every key sets every expression shape key (0 for those
it does not name), so a mixture is simultaneous weights, each keyed value is exact, and extra expressions stay
at rest.

Interpolation: each key eases into the next with Blender's 'SINE' interpolation, easing 'EASE_IN_OUT'. At the
fraction u of the way from a key of value a to the next key of value b the value is
a + (b − a)·(1 − cos(πu))/2: zero slope at both keys, so holds (a = b) are flat and transitions start and
stop gently. Bezier handles play no part in that; they are written flat and 'FREE' so that adding keys later
never recomputes them, and appending leaves every existing keyframe exactly as it was.

Appending: a schedule applied to a face that already has a timeline continues from its last key; the first new
entry transitions from that end state. A shape key that has no keys yet is first keyed 0 at every existing key
frame, so it is at rest before the append point.

Growing (the panel's live loop): each expression that arrives is appended the same way by ``append_arrival`` as
``NAME 1s, neutral`` with the default transition (a timeline that does not exist yet starts with ``neutral 0.5s``),
after the latest key on any shape key, wherever the user has moved the keys; keys already there are never changed.

A rigged face (addon.scene.rig) is keyed the same way on its ARKit keys: each entry is a pose (a prompt's ARKit
weights, a viseme, the neutral at 0, or a mixture of the prompts' poses), so its texture blend, driven by those
keys, follows.

The schedule text(s) and fps are kept on the face (SCHEDULE_PROPERTY, FPS_PROPERTY) for export and sidecars.
"""
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from numbers import Integral

import bpy

from ..core.errors import ScheduleError
from ..core.prompt_grammar import NEUTRAL_NAME
from ..core.schedule import (DEFAULT_HOLD_S, DEFAULT_LEAD_IN_S, DEFAULT_TRANSITION_S, Key, ScheduleEntry,
                             format_schedule, schedule_keys)
from ..core.schedule_targets import missing_targets  # noqa: F401  (re-exported)
from ..scene.face_object import expression_keys
from ..scene.rig import face_poses, schedule_resolver

FRAME_START = 1
SCHEDULE_PROPERTY = "promptface_schedule"
"""The schedules applied to the face, joined by ", " (gaps from an explicit ``start_s`` are not written)."""
FPS_PROPERTY = "promptface_fps"
INTERPOLATION = "SINE"
EASING = "EASE_IN_OUT"


@dataclass
class TimelineResult:
    """What one ``apply_schedule`` keyed."""

    keys: list[Key]
    """The new keys: seconds from the timeline start (FRAME_START), and every expression shape key's weight."""
    frames: list[int]
    """The frame of each key."""
    first_frame: int
    last_frame: int
    fps: int


def apply_schedule(
    face: bpy.types.Object,
    entries: Sequence[ScheduleEntry],
    fps: int = 30,
    default_transition_s: float = DEFAULT_TRANSITION_S,
    start_s: float | None = None,
    expressions: Mapping[str, str] | None = None,
) -> TimelineResult:
    """Key ``entries`` on the face's shape-key values and set the scene's fps and frame range to the timeline.

    ``expressions`` maps expression names to their prompts (default: each shape key's name is its prompt, or on a
    rigged face the prompts it records); see addon.core.schedule_targets for how targets resolve, and
    addon.core.arkit_poses for a rigged face, where each target is a pose of the ARKit keys. ``start_s`` is when
    the new entries begin, in seconds
    from the timeline start: on a face without a timeline the first key is there (default 0); on a face with one
    it must not be before the current end (default: the end), and the face holds its end state until then
    before transitioning into the first entry.
    """
    # 1. Check everything before anything changes.
    entries = list(entries)
    _check_fps(fps)
    fps = int(fps)
    timeline = _face_timeline(face, fps)
    appending = bool(timeline.frames)
    start_s = _start_seconds(start_s, timeline.frames, fps)

    # 2. Keys, relative to the start; an appended schedule's first key comes after its first transition.
    relative = schedule_keys(entries, schedule_resolver(face, expressions), default_transition_s,
                             continues=appending)
    _check_names_are_shape_keys(relative, timeline.names)
    keys = _keys_from(start_s, relative, timeline.names)
    if appending and _frame(start_s, fps) > timeline.frames[-1]:
        keys.insert(0, Key(round(start_s, 6), _end_state(timeline, timeline.frames[-1])))
    return _key_timeline(face, timeline, keys, entries, fps, default_transition_s)


def arrival_entries(name: str, has_timeline: bool, hold_s: float = DEFAULT_HOLD_S) -> list[ScheduleEntry]:
    """The schedule that shows one newly arrived expression: held, then back to neutral; a timeline that does not
    exist yet first holds the neutral."""
    lead_in = [] if has_timeline else [ScheduleEntry(NEUTRAL_NAME, DEFAULT_LEAD_IN_S, None)]
    return [*lead_in, ScheduleEntry(name, hold_s, None), ScheduleEntry(NEUTRAL_NAME, 0.0, None)]


def arrival_keys(existing_frames: Sequence[int], name: str, shape_key_names: Sequence[str], fps: int,
                 hold_s: float = DEFAULT_HOLD_S, transition_s: float = DEFAULT_TRANSITION_S,
                 weights: Mapping[str, float] | None = None) -> list[Key]:
    """The keys that append expression ``name`` after a timeline whose keys are on ``existing_frames`` (empty: no
    timeline yet), in seconds from the timeline start, each with every shape key's weight: arrival_entries keyed
    with the default transition, starting at the latest existing key. ``weights``: the shape keys that show the
    expression (default: its own key at 1; on a rigged face its pose)."""
    has_timeline = bool(existing_frames)
    shown = {name: 1.0} if weights is None else dict(weights)
    relative = schedule_keys(arrival_entries(name, has_timeline, hold_s),
                             lambda target: shown if target == name else {}, transition_s,
                             continues=has_timeline)
    return _keys_from(_end_seconds(existing_frames, fps), relative, shape_key_names)


def append_arrival(face: bpy.types.Object, name: str, fps: int, hold_s: float = DEFAULT_HOLD_S,
                   transition_s: float = DEFAULT_TRANSITION_S) -> TimelineResult:
    """Append the expression ``name`` to the face's timeline (arrival_keys), leaving every existing key as it is:
    its shape key, or on a rigged face its pose."""
    _check_fps(fps)
    fps = int(fps)
    timeline = _face_timeline(face, fps)
    poses = face_poses(face)
    if poses and name not in poses:
        raise ValueError(f"'{face.name}' has no pose '{name}' to put on the timeline")
    if not poses and name not in timeline.names:
        raise ValueError(f"'{face.name}' has no shape key '{name}' to put on the timeline")
    keys = arrival_keys(timeline.frames, name, timeline.names, fps, hold_s, transition_s, poses.get(name))
    entries = arrival_entries(name, bool(timeline.frames), hold_s)
    return _key_timeline(face, timeline, keys, entries, fps, transition_s)


@dataclass
class _Timeline:
    """A face's expression shape keys and the keyframes already on them."""

    blocks: list[bpy.types.ShapeKey]
    fcurves: dict[str, bpy.types.FCurve]
    frames: list[int]
    """Every frame that has a key on any shape key, ascending."""

    @property
    def names(self) -> list[str]:
        return [block.name for block in self.blocks]


def _face_timeline(face: bpy.types.Object, fps: int) -> _Timeline:
    blocks = _expression_blocks(face)
    fcurves = shape_key_fcurves(face.data.shape_keys)
    frames = sorted({int(point.co.x) for fcurve in fcurves.values() for point in fcurve.keyframe_points})
    if frames:
        _check_timeline_fps(face, fps)
    return _Timeline(blocks, fcurves, frames)


def _keys_from(start_s: float, relative: list[Key], names: Sequence[str]) -> list[Key]:
    """Keys ``start_s`` later, weighing every shape key (0 for those the schedule does not name)."""
    return [Key(round(start_s + key.time_s, 6), {name: key.weights.get(name, 0.0) for name in names})
            for key in relative]


def _key_timeline(face: bpy.types.Object, timeline: _Timeline, keys: list[Key], entries: list[ScheduleEntry],
                  fps: int, default_transition_s: float) -> TimelineResult:
    """Insert ``keys`` after the existing timeline, then set the scene's range and record the schedule."""
    appending = bool(timeline.frames)
    frames = [_frame(key.time_s, fps) for key in keys]
    _check_frames_increase(keys, frames, timeline.frames[-1] if appending else None, fps)
    # New shape keys at rest over the existing timeline first, then the new keys.
    for block in timeline.blocks:
        fcurve = timeline.fcurves.get(block.name)
        if fcurve is None and appending:
            fcurve = _new_fcurve(block, timeline.frames[0])
            _insert_keys(fcurve, timeline.frames, [0.0] * len(timeline.frames))
        elif fcurve is None:
            fcurve = _new_fcurve(block, frames[0])
        _insert_keys(fcurve, frames, [key.weights[block.name] for key in keys])
    _set_scene_timing(bpy.context.scene, fps, frames[-1])
    _record_schedule(face, entries, fps, default_transition_s, appending)
    return TimelineResult(keys=keys, frames=frames, first_frame=frames[0], last_frame=frames[-1], fps=fps)


def timeline_end_frame(face: bpy.types.Object) -> int:
    """The frame of the face's last shape-key keyframe; 0 when it has no timeline."""
    shape_keys = face.data.shape_keys if face.type == "MESH" else None
    fcurves = shape_key_fcurves(shape_keys).values() if shape_keys is not None else ()
    frames = [point.co.x for fcurve in fcurves for point in fcurve.keyframe_points]
    return int(max(frames)) if frames else 0


def sample_weights(face: bpy.types.Object, frame: float) -> dict[str, float]:
    """Expression shape-key name -> its evaluated value at ``frame`` (sets the scene's current frame)."""
    whole = int(frame // 1)
    bpy.context.scene.frame_set(whole, subframe=frame - whole)
    return {block.name: block.value for block in expression_keys(face)}



def shape_key_fcurves(shape_keys: bpy.types.Key) -> dict[str, bpy.types.FCurve]:
    """Shape-key name -> the F-curve of its value, for those that have one."""
    animation = shape_keys.animation_data
    if animation is None or animation.action is None:
        return {}
    names = {block.path_from_id("value"): block.name for block in shape_keys.key_blocks}
    return {names[fcurve.data_path]: fcurve for fcurve in action_fcurves(animation) if fcurve.data_path in names}


# --- checks -------------------------------------------------------------------------------------


def _check_fps(fps: int) -> None:
    if isinstance(fps, bool) or not isinstance(fps, Integral) or fps <= 0:
        raise ValueError(f"fps must be a whole number above zero, e.g. 24 or 30 (got {fps!r})")


def _expression_blocks(face: bpy.types.Object) -> list[bpy.types.ShapeKey]:
    if face.type != "MESH" or face.data.shape_keys is None:
        raise ValueError(f"'{face.name}' has no shape keys: build the face with build_face_object first")
    return expression_keys(face)


def _check_timeline_fps(face: bpy.types.Object, fps: int) -> None:
    made_at = face.get(FPS_PROPERTY)
    if made_at is not None and made_at != fps:
        raise ValueError(
            f"the timeline of '{face.name}' is at {made_at} fps; append at {made_at} fps too (got {fps})"
        )


def _end_seconds(existing_frames: Sequence[int], fps: int) -> float:
    return (existing_frames[-1] - FRAME_START) / fps if existing_frames else 0.0


def _start_seconds(start_s: float | None, existing_frames: list[int], fps: int) -> float:
    end_s = _end_seconds(existing_frames, fps)
    if start_s is None:
        return end_s
    if start_s < 0.0:
        raise ValueError(f"start_s must be zero or more seconds (got {start_s:g})")
    if existing_frames and _frame(start_s, fps) < existing_frames[-1]:
        raise ValueError(
            f"start_s {start_s:g}s is before the end of the existing timeline ({end_s:g}s, frame "
            f"{existing_frames[-1]}); new entries can only be appended: leave start_s out or give at least {end_s:g}"
        )
    return start_s


def _check_names_are_shape_keys(keys: list[Key], names: list[str]) -> None:
    have = set(names)
    unknown = [name for name in keys[0].weights if name not in have]
    if unknown:
        raise ScheduleError(
            f"expression '{unknown[0]}' has no shape key on the face (shape keys: "
            f"{', '.join(sorted(have)) or 'none'}): add it to the face before scheduling it"
        )


def _check_frames_increase(keys: list[Key], frames: list[int], end_frame: int | None, fps: int) -> None:
    pairs = [(None, end_frame, keys[0], frames[0])] if end_frame is not None else []
    pairs += [(keys[i - 1], frames[i - 1], keys[i], frames[i]) for i in range(1, len(keys))]
    for before, before_frame, after, after_frame in pairs:
        if after_frame <= before_frame:
            when = "the timeline's end" if before is None else f"the key at {before.time_s:g}s"
            raise ScheduleError(
                f"at {fps} fps the key at {after.time_s:g}s falls on frame {after_frame}, no later than {when} "
                f"(frame {before_frame}): make holds and transitions at least one frame ({1 / fps:.3g}s) long"
            )


# --- keyframes ----------------------------------------------------------------------------------


def _frame(time_s: float, fps: int) -> int:
    # Half frames round up (Python's round() would round them to even); the inner round() absorbs float error.
    return FRAME_START + math.floor(round(time_s * fps, 6) + 0.5)


def action_fcurves(animation: bpy.types.AnimData) -> list[bpy.types.FCurve]:
    """Every F-curve of the animation data's action, in any supported Blender version."""
    # Blender 4.4+ keeps an action's F-curves per slot, in a channel bag of a strip of a layer (and 5.0 drops
    # Action.fcurves); Blender 4.2 and 4.3 have neither slots nor layers, only Action.fcurves.
    slot = getattr(animation, "action_slot", None)
    if slot is None:
        return list(animation.action.fcurves)
    for layer in animation.action.layers:
        for strip in layer.strips:
            channelbag = strip.channelbag(slot)
            if channelbag is not None:
                return list(channelbag.fcurves)
    return []


def _new_fcurve(block: bpy.types.ShapeKey, frame: int) -> bpy.types.FCurve:
    # keyframe_insert creates the action (and in 4.4+ its slot, layer and channel bag) the same way in every
    # supported version; the key it makes is overwritten with an exact value by _insert_keys.
    block.keyframe_insert("value", frame=frame)
    return shape_key_fcurves(block.id_data)[block.name]


def _insert_keys(fcurve: bpy.types.FCurve, frames: list[int], values: list[float]) -> None:
    """Key ``values`` at ``frames`` (ascending, after any key already there but the first): eased, flat handles."""
    previous = [point.co.x for point in fcurve.keyframe_points if point.co.x < frames[0]]
    gaps = [frames[0] - previous[-1] if previous else None]
    gaps += [after - before for before, after in pairwise(frames)] + [None]
    for index, (frame, value) in enumerate(zip(frames, values, strict=True)):
        point = fcurve.keyframe_points.insert(frame, value)
        point.interpolation, point.easing = INTERPOLATION, EASING
        left, right = gaps[index] or gaps[index + 1] or 1.0, gaps[index + 1] or gaps[index] or 1.0
        point.handle_left_type = point.handle_right_type = "FREE"
        point.handle_left = (frame - left / 3.0, value)
        point.handle_right = (frame + right / 3.0, value)


def _end_state(timeline: _Timeline, frame: int) -> dict:
    return {name: timeline.fcurves[name].evaluate(frame) if name in timeline.fcurves else 0.0
            for name in timeline.names}


# --- scene and record ---------------------------------------------------------------------------


def _set_scene_timing(scene: bpy.types.Scene, fps: int, last_frame: int) -> None:
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.frame_start, scene.frame_end = FRAME_START, last_frame


def _record_schedule(face: bpy.types.Object, entries: list[ScheduleEntry], fps: int,
                     default_transition_s: float, appending: bool) -> None:
    # Transitions left to a non-standard default are written out, so the joined text reads back the same.
    if default_transition_s != DEFAULT_TRANSITION_S:
        entries = [replace(entry, transition_s=default_transition_s)
                   if entry.transition_s is None and (index > 0 or appending) else entry
                   for index, entry in enumerate(entries)]
    text = format_schedule(entries)
    previous = face.get(SCHEDULE_PROPERTY)
    face[SCHEDULE_PROPERTY] = f"{previous}, {text}" if previous else text
    face[FPS_PROPERTY] = fps
