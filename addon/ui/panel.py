"""The "PromptFace" tab of the 3D View sidebar."""
import bpy

from ..generation import session
from ..preferences import preferences
from ..core.arkit import ARKIT_RIG
from ..scene.face_object import face_self_checks
from ..scene.rig import face_poses, is_rigged


class PROMPTFACE_UL_prompts(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0):
        layout.prop(item, "text", text="", emboss=False, icon="OUTLINER_OB_FONT")


class PROMPTFACE_MT_poses(bpy.types.Menu):
    """The active rigged face's poses: each sets its shape keys (promptface.apply_pose)."""
    bl_label = "Apply Pose"
    bl_idname = "PROMPTFACE_MT_poses"

    def draw(self, context):
        for name in face_poses(context.active_object):
            self.layout.operator("promptface.apply_pose", text=name).pose = name


class PROMPTFACE_PT_main(bpy.types.Panel):
    bl_label = "PromptFace"
    bl_idname = "PROMPTFACE_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "PromptFace"

    def draw(self, context):
        layout = self.layout
        state = context.scene.promptface
        busy = session.busy()

        column = layout.column(align=True)
        column.enabled = not busy
        column.prop(state, "photo_path", text="")
        column.label(text="Prompts:")
        row = column.row()
        row.template_list("PROMPTFACE_UL_prompts", "", state, "prompts", state, "prompt_index", rows=3)
        buttons = row.column(align=True)
        buttons.operator("promptface.prompt_add", icon="ADD", text="")
        buttons.operator("promptface.prompt_remove", icon="REMOVE", text="")
        buttons.separator()
        buttons.operator("promptface.prompt_move", icon="TRIA_UP", text="").direction = "UP"
        buttons.operator("promptface.prompt_move", icon="TRIA_DOWN", text="").direction = "DOWN"
        column.prop(state, "editor")
        column.prop(state, "reconstructor")
        row = column.row(align=True)
        row.prop(state, "rig", expand=True)
        if state.rig == ARKIT_RIG:
            column.prop(state, "prompt_keys")

        prefs = preferences(context)
        row = layout.row(align=True)
        # The name the preferences show ("SSH", "HTTP Server", "This Computer"; str.title() made "Ssh", "Http").
        backend = prefs.bl_rna.properties["backend"].enum_items[prefs.backend].name if prefs else "This Computer"
        row.label(text=f"Backend: {backend}", icon="NETWORK_DRIVE")
        row.operator("promptface.connect", text="Connect / Test")
        row = layout.row(align=True)
        row.scale_y = 1.4
        row.operator("promptface.generate", icon="PLAY")
        row.operator("promptface.cancel", icon="CANCEL")

        if busy or state.status_message:
            text = state.status_message or "working…"
            if hasattr(layout, "progress"):  # Blender 4.0+
                layout.progress(factor=state.progress, type="BAR", text=text)
            else:
                layout.label(text=f"{state.progress:.0%} {text}")
        if state.last_error:
            box = layout.box()
            box.alert = True
            for index, line in enumerate(_wrap(state.last_error, 48)):
                box.label(text=line, icon="ERROR" if index == 0 else "BLANK1")

        face = bpy.data.objects.get(state.face_name) if state.face_name else None
        checks = face_self_checks(face) if face is not None else {}
        if checks:
            box = layout.box()
            box.label(text="Self-check (expression recogniser):")
            for name, (label, disagrees) in checks.items():
                row = box.row()
                row.alert = disagrees
                row.label(text=f"{name}: {label}", icon="ERROR" if disagrees else "CHECKMARK")

        layout.separator()
        column = layout.column(align=True)
        column.prop(state, "schedule", text="")
        column.prop(state, "fps")
        operator = column.operator("promptface.apply_schedule", icon="TIME")
        operator.schedule, operator.fps = state.schedule, state.fps
        row = column.row(align=True)
        row.operator("promptface.export_unity", icon="EXPORT")
        row.operator("promptface.export_fbx", text="FBX Only")
        if is_rigged(context.active_object):
            _draw_rig(layout)


def _draw_rig(layout) -> None:
    """What a rigged active face offers: its poses, and keying a recorded take on its 52 keys."""
    box = layout.box()
    box.label(text="ARKit rig (52 shape keys):", icon="SHAPEKEY_DATA")
    row = box.row(align=True)
    row.menu("PROMPTFACE_MT_poses", icon="POSE_HLT")
    row.operator("promptface.drive_from_take", icon="FILE_MOVIE")


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + [line] if line else lines


classes = (PROMPTFACE_UL_prompts, PROMPTFACE_MT_poses, PROMPTFACE_PT_main)
