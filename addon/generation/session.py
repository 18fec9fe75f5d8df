"""The main-thread side of a remote task: start it, drain its events, apply them to the scene.

Only this module touches Blender data for a running task, and only on the main thread: from a `bpy.app.timers`
function in a Blender session, or from `run_until_idle()` / `run_until()` where no timers run (Blender as a module,
tests, scripts). The first expression-set update builds the face with the neutral; each expression that arrives is
then added as a shape key, joins its texture to the blend and, while the Grow Timeline preference is on, is appended
to the timeline (addon.scene.timeline.append_arrival). Each of these is one undo step. A job with the ARKit rig
(options {"rig": "arkit"}) builds the face with the rig's 52 keys from the first update; each arriving expression
then becomes a pose on the face (and a key of its own only with `prompt_keys`) and joins the timeline as that pose.

Downloaded jobs (job_cache.py): job folders no open face uses are cleaned when Generate starts and after a file is
loaded; saving packs the textures a face reads from a job folder into the .blend.
"""
import dataclasses
import logging
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import bpy

from ..core.errors import PromptFaceError
from ..core.expression_set import Expression, ExpressionSet, read_expression_set
from ..preferences import grow_timeline
from ..scene.build import build_face
from ..scene.face_object import NEUTRAL_NAME, add_shape_key, expression_keys, record_set_properties
from ..scene.rig import is_rigged
from ..scene.texture_blend_nodes import add_expression_to_material, face_material_name
from ..scene.timeline import FPS_PROPERTY, append_arrival
from ..transports.connect import BackendSettings, open_backend
from . import job_cache, worker

log = logging.getLogger(__name__)

TIMER_INTERVAL_S = 0.1
FACE_NAME = "PromptFace"


@dataclass(frozen=True)
class Arrival:
    """One update applied to the face: when, which shape keys it added, and what the server had still pending."""
    time: float
    added: list[str]
    pending: list[str]


@dataclass
class Session:
    task: worker.Task
    scene_name: str
    face_name: str | None = None
    job_folder: Path | None = None
    """The local mirror of the running job's expression set."""
    applied: set[str] = field(default_factory=set)
    """Expressions already put on the face (one the user then undid is not put back)."""
    arrivals: list[Arrival] = field(default_factory=list)
    outcome: worker.Finished | worker.Failed | None = None
    prompt_keys: bool = False
    """With the ARKit rig: give each expression a shape key of its own too."""


_current: Session | None = None
_last: Session | None = None
# Engines the last Connect/Test reported, for the panel's engine menus: {"editor": [...], "reconstructor": [...]}.
known_engines: dict[str, list[tuple[str, bool, str]]] = {}


def current() -> Session | None:
    return _current


def last() -> Session | None:
    """The session that ran most recently (running or finished)."""
    return _current or _last


def busy() -> bool:
    return _current is not None


def cancel() -> bool:
    """Ask the running task to stop (a running job is cancelled on the server). False when nothing runs."""
    if _current is None:
        return False
    _current.task.cancel()
    _state(_current).status_message = "cancelling…"
    return True


def start_generate(settings: BackendSettings, request: worker.GenerateRequest, scene: bpy.types.Scene,
                   prompt_keys: bool = False) -> Session:
    """Start a Generate job; `prompt_keys`: with the rig, a shape key per expression too."""
    if _current is None:
        job_cache.clean_job_cache(request.cache_root)
    return _start(worker.Task("generate", lambda task: worker.generate(task, lambda: open_backend(settings),
                                                                        request)), scene, prompt_keys)


def start_connection_check(settings: BackendSettings, scene: bpy.types.Scene) -> Session:
    return _start(worker.Task("connect", lambda task: worker.check_connection(task, lambda: open_backend(settings),
                                                                               settings.address())), scene)


def _start(task: worker.Task, scene: bpy.types.Scene, prompt_keys: bool = False) -> Session:
    global _current
    if _current is not None:
        raise PromptFaceError("PromptFace is already busy; wait for it or press Cancel")
    state = scene.promptface
    state.busy, state.progress, state.last_error = True, 0.0, ""
    state.status_message = "starting…"
    _current = Session(task=task, scene_name=scene.name, prompt_keys=prompt_keys)
    task.start()
    if not bpy.app.timers.is_registered(_on_timer):
        bpy.app.timers.register(_on_timer, first_interval=TIMER_INTERVAL_S, persistent=True)
    return _current


# ---------------------------------------------------------------------------------------------------------------
# Draining


def drain() -> bool:
    """Apply every event waiting now, without blocking. Returns whether a task is still running."""
    while _current is not None:
        event = _next_event(0.0)
        if event is None:
            break
        _apply(_current, event)
    return _current is not None


def run_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Apply events as they come until predicate() is true (for scripts and tests, where Blender's timers do not
    run); False if the task ended or `timeout` seconds passed first. Blocks on the event queue, never sleeps."""
    deadline = time.monotonic() + timeout
    while not predicate() and _current is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        event = _next_event(min(remaining, 1.0))
        if event is not None:
            _apply(_current, event)
    return predicate()


def run_until_idle(timeout: float) -> bool:
    """Apply events until the running task ends; False if it is still running after `timeout` seconds."""
    return run_until(lambda: _current is None, timeout)


def shutdown(timeout: float = 5.0) -> None:
    """Cancel a running task and stop draining (the add-on is being disabled)."""
    global _current
    if _current is not None:
        _current.task.cancel()
        _current.task.join(timeout)
        _current = None
    if bpy.app.timers.is_registered(_on_timer):
        bpy.app.timers.unregister(_on_timer)


def _next_event(timeout: float):
    try:
        return _current.task.events.get(timeout=timeout) if timeout > 0 else _current.task.events.get_nowait()
    except queue.Empty:
        return None


def _on_timer():
    try:
        still_running = drain()
    except Exception:  # never let an exception unregister the timer while a task is running
        log.exception("PromptFace: applying a result failed")
        still_running = _current is not None
    return TIMER_INTERVAL_S if still_running else None


# ---------------------------------------------------------------------------------------------------------------
# Applying events


def _state(session: Session):
    scene = bpy.data.scenes.get(session.scene_name) or bpy.context.scene
    return scene.promptface


def _apply(session: Session, event) -> None:
    state = _state(session)
    if isinstance(event, worker.Progress):
        state.progress = max(0.0, min(1.0, event.fraction))
        state.status_message = event.message
        _status_bar(f"PromptFace: {event.message}")
    elif isinstance(event, worker.Note):
        state.status_message = event.message
        _report("INFO", event.message)
    elif isinstance(event, worker.Connected):
        _remember_engines(event.engines)
    elif isinstance(event, worker.JobStarted):
        state.job_id = event.job_id
        session.job_folder = event.folder
    elif isinstance(event, worker.SetUpdated):
        try:
            _apply_set(session, event)
        except (PromptFaceError, ValueError) as error:
            session.task.cancel()  # the rest of the job cannot be applied either
            _end(session, worker.Failed(f"cannot add the downloaded expressions: {error}", "apply",
                                        session.task.job_id))
    elif isinstance(event, worker.TERMINAL_EVENTS):
        _end(session, event)
    _redraw()


def _apply_set(session: Session, event: worker.SetUpdated) -> None:
    expression_set = read_expression_set(event.folder)
    face = bpy.data.objects.get(session.face_name) if session.face_name else None
    if face is None:  # first update (or the face was deleted meanwhile): build it with the neutral
        face = build_face(_neutral_only(expression_set), name=FACE_NAME, prompt_keys=session.prompt_keys)
        session.face_name = face.name
        session.applied.clear()
        _make_active(face)
        _undo_push(f"PromptFace: neutral face '{face.name}'")
    present = {key.name for key in expression_keys(face)} | session.applied
    added = []
    for expression in expression_set.expressions:
        if expression.name != NEUTRAL_NAME and expression.name not in present:
            _add_expression(session, face, expression_set, expression)
            added.append(expression.name)
    session.arrivals.append(Arrival(time.monotonic(), added, list(event.pending)))
    _state(session).face_name = face.name


def _neutral_only(expression_set: ExpressionSet) -> ExpressionSet:
    neutral = [expression for expression in expression_set.expressions if expression.name == NEUTRAL_NAME]
    return dataclasses.replace(expression_set, expressions=neutral)


def _add_expression(session: Session, face: bpy.types.Object, expression_set: ExpressionSet,
                    expression: Expression) -> None:
    """One arriving expression: shape key and texture in the blend (on a rigged face only with prompt_keys), the
    face's records (its pose on a rigged face) and the timeline; one undo step."""
    if not is_rigged(face) or session.prompt_keys:
        add_shape_key(face, expression.name, expression.vertices)
        add_expression_to_material(face, bpy.data.materials[face_material_name(face)], expression)
    record_set_properties(face, expression_set)
    session.applied.add(expression.name)
    if grow_timeline():
        _grow_timeline(session, face, expression.name)
    _undo_push(f"PromptFace: add '{expression.name}'")


def _grow_timeline(session: Session, face: bpy.types.Object, name: str) -> None:
    fps = face.get(FPS_PROPERTY) or _state(session).fps
    try:
        append_arrival(face, name, fps)
    except (PromptFaceError, ValueError) as error:  # the expression stays on the face; only the timeline lacks it
        _report("WARNING", f"PromptFace: '{name}' was not added to the timeline: {error}")


def _undo_push(message: str) -> None:
    """Make what was just applied one undo step, where the context has an undo stack (not in every timer)."""
    try:
        if bpy.ops.ed.undo_push.poll():
            bpy.ops.ed.undo_push(message=message)
    except RuntimeError as error:
        log.debug("no undo step for %r: %s", message, error)


# ---------------------------------------------------------------------------------------------------------------
# Downloaded jobs


def _running_job_folders() -> list[Path]:
    return [_current.job_folder] if _current is not None and _current.job_folder is not None else []


@bpy.app.handlers.persistent
def _clean_downloads_after_load(filepath, *_):
    job_cache.clean_job_cache(also_in_use=_running_job_folders())


@bpy.app.handlers.persistent
def _pack_downloads_before_save(filepath, *_):
    job_cache.pack_downloaded_images()


_FILE_HANDLERS = ((bpy.app.handlers.load_post, _clean_downloads_after_load),
                  (bpy.app.handlers.save_pre, _pack_downloads_before_save))


def add_file_handlers() -> None:
    for handlers, handler in _FILE_HANDLERS:
        if handler not in handlers:
            handlers.append(handler)


def remove_file_handlers() -> None:
    for handlers, handler in _FILE_HANDLERS:
        if handler in handlers:
            handlers.remove(handler)


def _end(session: Session, outcome) -> None:
    global _current, _last
    state = _state(session)
    session.outcome = outcome
    state.busy = False
    if isinstance(outcome, worker.Failed):
        state.last_error = outcome.message
        state.status_message = "failed"
        _report("ERROR", f"PromptFace: {outcome.message}")
    elif outcome.status == "failed":
        state.last_error = outcome.message
        state.status_message = "the job failed"
        _report("ERROR", f"PromptFace: the job failed: {outcome.message}")
    else:
        if outcome.status == "succeeded":
            state.progress = 1.0
        state.status_message = _summary(session, outcome)
        _report("INFO", f"PromptFace: {state.status_message}")
    _status_bar(None)
    _last, _current = session, None
    session.task.join(1.0)


def _summary(session: Session, outcome: worker.Finished) -> str:
    face = bpy.data.objects.get(session.face_name) if session.face_name else None
    if session.task.kind != "generate":
        return outcome.message
    if face is None:
        return f"{outcome.status}: {outcome.message}"
    count = len(expression_keys(face))
    return f"{outcome.status}: {count} expression{'s' if count != 1 else ''} on '{face.name}'"


def _remember_engines(engines) -> None:
    known_engines.clear()
    for engine in engines.engines:
        known_engines.setdefault(engine.kind, []).append((engine.name, engine.available, engine.reason or ""))


def _make_active(face: bpy.types.Object) -> None:
    view_layer = bpy.context.view_layer
    if view_layer is None or face.name not in view_layer.objects:
        return
    for other in view_layer.objects.selected:
        other.select_set(False)
    face.select_set(True)
    view_layer.objects.active = face


def _report(level: str, message: str) -> None:
    """A report in the status bar and the Info editor (printed in background mode); timers cannot call
    Operator.report, so a tiny internal operator does it."""
    try:
        bpy.ops.promptface.report(level=level, message=message)
    except (AttributeError, RuntimeError):
        log.warning("%s", message)


def _status_bar(text: str | None) -> None:
    window_manager = bpy.context.window_manager
    for window in (window_manager.windows if window_manager else ()):
        window.workspace.status_text_set(text)


def _redraw() -> None:
    window_manager = bpy.context.window_manager
    for window in (window_manager.windows if window_manager else ()):
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()
