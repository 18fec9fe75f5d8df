"""The operators on a face in the scene: import an expression set, build its timeline, export it. Thin wrappers that
read their properties, call the same scene code as the command line, and report."""
from pathlib import Path

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..core.errors import PromptFaceError
from ..core.expression_set import read_expression_set
from ..core.schedule import parse_schedule
from ..scene.build import build_face
from ..scene.fbx_export import export_fbx
from ..scene.face_object import SET_PATH_PROPERTY, face_prompts
from ..scene.timeline import apply_schedule, timeline_end_frame
from ..scene.unity_export import export_unity


def active_face(context) -> bpy.types.Object:
    face = context.active_object
    if face is None or SET_PATH_PROPERTY not in face:
        raise PromptFaceError("select a PromptFace face first (import an expression set)")
    return face


class PROMPTFACE_OT_import_expression_set(bpy.types.Operator, ImportHelper):
    """Build a face from an expression set (its folder's manifest.json, or a .zip)"""
    bl_idname = "promptface.import_expression_set"
    bl_label = "Import Expression Set"
    bl_options = {"REGISTER", "UNDO"}
    filter_glob: bpy.props.StringProperty(default="manifest.json;*.zip", options={"HIDDEN"})
    prompt_keys: bpy.props.BoolProperty(name="Prompt Keys", default=False,
                                        description="For a set with the ARKit rig: a shape key per prompt too")

    def execute(self, context):
        path = Path(self.filepath)
        try:
            expression_set = read_expression_set(path.parent if path.name == "manifest.json" else path)
            face = build_face(expression_set, prompt_keys=self.prompt_keys)
        except PromptFaceError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        for other in context.selected_objects:
            other.select_set(False)
        face.select_set(True)
        context.view_layer.objects.active = face
        self.report({"INFO"}, f"PromptFace: {len(expression_set.expressions) - 1} expressions on '{face.name}'")
        return {"FINISHED"}


class PROMPTFACE_OT_apply_schedule(bpy.types.Operator):
    """Key the active face's expressions on the timeline (appends after existing keys)"""
    bl_idname = "promptface.apply_schedule"
    bl_label = "Build Timeline"
    bl_options = {"REGISTER", "UNDO"}
    schedule: bpy.props.StringProperty(name="Schedule", description="e.g. neutral 0.5s, happy 1s, neutral")
    fps: bpy.props.IntProperty(name="FPS", default=30, min=1, max=240)

    def execute(self, context):
        try:
            face = active_face(context)
            appending = timeline_end_frame(face) > 0
            result = apply_schedule(face, parse_schedule(self.schedule, continues=appending), fps=self.fps,
                                    expressions=face_prompts(face))
        except (PromptFaceError, ValueError) as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"PromptFace: timeline to frame {result.last_frame}")
        return {"FINISHED"}


class PROMPTFACE_OT_export_fbx(bpy.types.Operator, ExportHelper):
    """Export the active face as FBX for Unity, with its textures beside it"""
    bl_idname = "promptface.export_fbx"
    bl_label = "Export FBX for Unity"
    filename_ext = ".fbx"
    filter_glob: bpy.props.StringProperty(default="*.fbx", options={"HIDDEN"})

    def execute(self, context):
        try:
            path = export_fbx(active_face(context), self.filepath)
        except (PromptFaceError, ValueError) as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"PromptFace: wrote {path}")
        return {"FINISHED"}


class PROMPTFACE_OT_export_unity(bpy.types.Operator):
    """Export the active face for the PromptFace Unity package: FBX, textures and sidecar in one folder"""
    bl_idname = "promptface.export_unity"
    bl_label = "Export for Unity"
    directory: bpy.props.StringProperty(name="Folder", subtype="DIR_PATH")
    filter_folder: bpy.props.BoolProperty(default=True, options={"HIDDEN"})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        try:
            if not self.directory:
                raise PromptFaceError("choose a folder to export into")
            result = export_unity(active_face(context), bpy.path.abspath(self.directory))
        except (PromptFaceError, ValueError) as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"PromptFace: wrote {result.fbx} and {result.sidecar.name}")
        return {"FINISHED"}


classes = (PROMPTFACE_OT_import_expression_set, PROMPTFACE_OT_apply_schedule, PROMPTFACE_OT_export_fbx,
           PROMPTFACE_OT_export_unity)
