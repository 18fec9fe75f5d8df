"""The operators that talk to a backend: Connect/Test, Generate, Cancel. They only check their inputs on the main
thread and start a task (generation/session.py); the network runs on a worker thread and Blender stays responsive."""
from pathlib import Path

import bpy

from ..core.arkit import ARKIT_RIG
from ..core.errors import PromptFaceError
from ..generation import job_cache, session
from ..generation.worker import GenerateRequest
from ..preferences import backend_settings
from ..transports.connect import BackendSettings, check_settings
from ..ui.properties import DEFAULT_ENGINE

MODAL_TIMER_S = 0.25


def _checked_settings(context) -> BackendSettings:
    settings = backend_settings(context)
    check_settings(settings, bpy.app.online_access, getattr(bpy.app, "online_access_override", False))
    return settings


def _generate_request(state, settings: BackendSettings) -> GenerateRequest:
    """The request from the panel's fields, refused with a clear message before any network use."""
    if not state.photo_path.strip():
        raise PromptFaceError("choose a photo first")
    photo = Path(bpy.path.abspath(state.photo_path))
    if not photo.is_file():
        raise PromptFaceError(f"the photo {photo} does not exist or is not a file")
    prompts = [item.text.strip() for item in state.prompts if item.text.strip()]
    if not prompts:
        raise PromptFaceError("add at least one prompt (e.g. happy, or 70% happy + 30% surprised)")
    return GenerateRequest(photo=photo, prompts=prompts,
                           editor=settings.editor if state.editor == DEFAULT_ENGINE else state.editor,
                           reconstructor=(settings.reconstructor if state.reconstructor == DEFAULT_ENGINE
                                          else state.reconstructor),
                           cache_root=job_cache.cache_root(), poll_interval_s=settings.poll_interval_s,
                           options={"rig": ARKIT_RIG} if state.rig == ARKIT_RIG else {})


def _refuse(operator, state, error: Exception) -> set:
    state.last_error = str(error)
    operator.report({"ERROR"}, str(error))
    return {"CANCELLED"}


class PROMPTFACE_OT_connect(bpy.types.Operator):
    """Check the backend in the add-on preferences: reachable, right version, token accepted; list its engines"""
    bl_idname = "promptface.connect"
    bl_label = "Connect / Test"

    @classmethod
    def poll(cls, context):
        return not session.busy()

    def execute(self, context):
        state = context.scene.promptface
        try:
            session.start_connection_check(_checked_settings(context), context.scene)
        except PromptFaceError as error:
            return _refuse(self, state, error)
        return {"FINISHED"}


class PROMPTFACE_OT_generate(bpy.types.Operator):
    """Generate the prompts' expressions from the photo; each finished expression joins the face as it arrives
    (Esc or Cancel stops the job)"""
    bl_idname = "promptface.generate"
    bl_label = "Generate"

    _timer = None

    # Blender calls these when the class is (un)registered: the downloads Generate makes are packed into a .blend
    # when it is saved and cleaned after a file is loaded for exactly as long as Generate exists.
    @classmethod
    def register(cls):
        session.add_file_handlers()

    @classmethod
    def unregister(cls):
        session.remove_file_handlers()

    @classmethod
    def poll(cls, context):
        return not session.busy()

    def execute(self, context):
        state = context.scene.promptface
        try:
            settings = _checked_settings(context)
            session.start_generate(settings, _generate_request(state, settings), context.scene,
                                   prompt_keys=state.rig == ARKIT_RIG and state.prompt_keys)
        except PromptFaceError as error:
            return _refuse(self, state, error)
        self.report({"INFO"}, "PromptFace: generating…")
        return {"FINISHED"}

    def invoke(self, context, event):
        result = self.execute(context)
        if result != {"FINISHED"} or context.window is None:
            return result
        # Stay modal only to catch Esc; the results are applied by a timer whether or not this runs.
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(MODAL_TIMER_S, window=context.window)
        window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if not session.busy():
            context.window_manager.event_timer_remove(self._timer)
            return {"FINISHED"}
        if event.type == "ESC" and event.value == "PRESS":
            session.cancel()
            return {"RUNNING_MODAL"}
        return {"PASS_THROUGH"}


class PROMPTFACE_OT_cancel(bpy.types.Operator):
    """Stop the running task; a running job is cancelled on the server"""
    bl_idname = "promptface.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return session.busy()

    def execute(self, context):
        session.cancel()
        return {"FINISHED"}


class PROMPTFACE_OT_report(bpy.types.Operator):
    """Show a message in the status bar and the Info editor (used from timers, which cannot report)"""
    bl_idname = "promptface.report"
    bl_label = "PromptFace Report"
    bl_options = {"INTERNAL"}
    level: bpy.props.EnumProperty(items=(("INFO", "Info", ""), ("WARNING", "Warning", ""), ("ERROR", "Error", "")))
    message: bpy.props.StringProperty()

    def execute(self, context):
        self.report({self.level}, self.message)
        return {"FINISHED"}


classes = (PROMPTFACE_OT_connect, PROMPTFACE_OT_generate, PROMPTFACE_OT_cancel, PROMPTFACE_OT_report)
