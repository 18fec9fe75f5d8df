"""Editing the panel's prompt list: add, remove, move up and down."""
import bpy


class PROMPTFACE_OT_prompt_add(bpy.types.Operator):
    """Add a prompt below the selected one"""
    bl_idname = "promptface.prompt_add"
    bl_label = "Add Prompt"
    bl_options = {"REGISTER", "UNDO"}
    text: bpy.props.StringProperty(name="Prompt", default="happy")

    def execute(self, context):
        state = context.scene.promptface
        state.prompts.add().text = self.text
        last = len(state.prompts) - 1
        target = min(state.prompt_index + 1, last) if last > 0 else 0
        state.prompts.move(last, target)
        state.prompt_index = target
        return {"FINISHED"}


class PROMPTFACE_OT_prompt_remove(bpy.types.Operator):
    """Remove the selected prompt"""
    bl_idname = "promptface.prompt_remove"
    bl_label = "Remove Prompt"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        state = context.scene.promptface
        return 0 <= state.prompt_index < len(state.prompts)

    def execute(self, context):
        state = context.scene.promptface
        state.prompts.remove(state.prompt_index)
        state.prompt_index = max(0, min(state.prompt_index, len(state.prompts) - 1))
        return {"FINISHED"}


class PROMPTFACE_OT_prompt_move(bpy.types.Operator):
    """Move the selected prompt up or down"""
    bl_idname = "promptface.prompt_move"
    bl_label = "Move Prompt"
    bl_options = {"REGISTER", "UNDO"}
    direction: bpy.props.EnumProperty(items=(("UP", "Up", ""), ("DOWN", "Down", "")))

    @classmethod
    def poll(cls, context):
        state = context.scene.promptface
        return len(state.prompts) > 1 and 0 <= state.prompt_index < len(state.prompts)

    def execute(self, context):
        state = context.scene.promptface
        target = state.prompt_index + (-1 if self.direction == "UP" else 1)
        if not 0 <= target < len(state.prompts):
            return {"CANCELLED"}
        state.prompts.move(state.prompt_index, target)
        state.prompt_index = target
        return {"FINISHED"}


classes = (PROMPTFACE_OT_prompt_add, PROMPTFACE_OT_prompt_remove, PROMPTFACE_OT_prompt_move)
