"""The operators on a rigged face (one built with the ARKit rig): apply one of its named poses, and key a recorded
take (Live Link Face CSV, Audio2Face JSON, a plain CSV) on its 52 keys. Thin wrappers around addon.scene.rig and
addon.scene.take_keys, the functions the command line uses."""
from pathlib import Path

import bpy
from bpy_extras.io_utils import ImportHelper

from ..core.errors import PromptFaceError
from ..core.face_takes import read_take
from ..scene.rig import apply_pose, is_rigged
from ..scene.take_keys import drive_from_take
from .face import active_face


def active_rigged_face(context) -> bpy.types.Object:
    face = active_face(context)
    if not is_rigged(face):
        raise PromptFaceError(f"'{face.name}' has no ARKit rig: generate it with Rig set to ARKit 52")
    return face


class PROMPTFACE_OT_apply_pose(bpy.types.Operator):
    """Set the active face's shape keys from one of its poses (a prompt, a viseme, the neutral)"""
    bl_idname = "promptface.apply_pose"
    bl_label = "Apply Pose"
    bl_options = {"REGISTER", "UNDO"}
    pose: bpy.props.StringProperty(name="Pose", description="The pose's name (happy, viseme_aa, neutral, …)")

    def execute(self, context):
        try:
            apply_pose(active_rigged_face(context), self.pose)
        except PromptFaceError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        return {"FINISHED"}


class PROMPTFACE_OT_drive_from_take(bpy.types.Operator, ImportHelper):
    """Key a recorded take (Live Link Face CSV, Audio2Face JSON, or a CSV of frame or time then ARKit columns) on
    the active face's 52 ARKit shape keys, from the start frame at the scene's frame rate"""
    bl_idname = "promptface.drive_from_take"
    bl_label = "Drive from Take…"
    bl_options = {"REGISTER", "UNDO"}
    filter_glob: bpy.props.StringProperty(default="*.csv;*.json", options={"HIDDEN"})
    take_fps: bpy.props.FloatProperty(
        name="Take FPS", default=0.0, min=0.0, max=1000.0,
        description="The take's rate: a Live Link Face timecode's or a CSV frame column's (0: 60 for Live Link "
                    "Face, 30 for a CSV; an Audio2Face export has its own)")
    start_frame: bpy.props.IntProperty(name="Start Frame", default=1, description="The frame of the take's 0 s")
    head_rotation: bpy.props.BoolProperty(name="Head Rotation", default=False,
                                          description="Key the take's head rotation on the object too")

    def execute(self, context):
        try:
            face = active_rigged_face(context)
            take = read_take(Path(bpy.path.abspath(self.filepath)), fps=self.take_fps or None)
            result = drive_from_take(face, take, context.scene, start_frame=self.start_frame,
                                     head_rotation=self.head_rotation)
        except (PromptFaceError, ValueError, OSError) as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"PromptFace: {take.source_format} keyed on frames {result.first_frame}–"
                              f"{result.end_frame}")
        return {"FINISHED"}


classes = (PROMPTFACE_OT_apply_pose, PROMPTFACE_OT_drive_from_take)
