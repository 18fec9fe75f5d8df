"""What the sidebar panel edits and shows, stored on the scene as `scene.promptface`."""
import zlib

import bpy

from ..core.arkit import ARKIT_RIG
from ..core.protocol import EDITORS, RECONSTRUCTORS
from ..generation import session

DEFAULT_ENGINE = "DEFAULT"
# Engines offered before Connect/Test has asked the backend which it has: every engine the protocol names.
_FALLBACK_ENGINES = {"editor": EDITORS, "reconstructor": RECONSTRUCTORS}
# Blender keeps only a pointer to dynamic enum items: the strings must stay referenced from Python.
_engine_items: dict[str, list[tuple]] = {}


def _engine_enum_items(kind: str) -> list[tuple[str, str, str, str, int]]:
    """Default, then the engines of this kind that Connect/Test found (or the known names before that). Each item
    has a number derived from its name, so a choice survives the list changing."""
    reported = session.known_engines.get(kind)
    if reported:
        engines = [(name, name if available else f"{name} (unavailable)", reason or f"{kind} '{name}'")
                   for name, available, reason in reported]
    else:
        engines = [(name, name, f"{kind} '{name}' (Connect/Test lists what the backend has)")
                   for name in _FALLBACK_ENGINES[kind]]
    items = [(DEFAULT_ENGINE, "Default", f"The default {kind} from the add-on preferences", "NONE", 0)]
    items += [(name, label, description, "NONE", zlib.crc32(name.encode()) & 0x7FFFFFFF or 1)
              for name, label, description in engines]
    _engine_items[kind] = items
    return items


class PROMPTFACE_PG_prompt(bpy.types.PropertyGroup):
    text: bpy.props.StringProperty(
        name="Prompt", description="Free text (a delighted surprise), a mixture (70% happy + 30% surprised) "
                                   "or action units (AU12:0.8 AU6:0.5)")


class PROMPTFACE_PG_state(bpy.types.PropertyGroup):
    photo_path: bpy.props.StringProperty(name="Photo", subtype="FILE_PATH",
                                         description="A neutral, frontal photo of one face")
    prompts: bpy.props.CollectionProperty(type=PROMPTFACE_PG_prompt)
    prompt_index: bpy.props.IntProperty(name="Active Prompt", min=0)
    editor: bpy.props.EnumProperty(name="Editor", items=lambda self, context: _engine_enum_items("editor"),
                                   description="How the photo is edited into each expression")
    reconstructor: bpy.props.EnumProperty(
        name="Reconstructor", items=lambda self, context: _engine_enum_items("reconstructor"),
        description="How each edited photo becomes a mesh")
    schedule: bpy.props.StringProperty(name="Schedule", default="neutral 0.5s, happy 1s, neutral",
                                       description="e.g. neutral 0.5s, happy 1s, surprised 0.5s @0.3s, neutral")
    fps: bpy.props.IntProperty(name="FPS", default=30, min=1, max=240)
    rig: bpy.props.EnumProperty(
        name="Rig", description="The shape keys the face gets",
        items=(("prompts", "Prompts", "A shape key per prompt"),
               (ARKIT_RIG, "ARKit 52", "The person's 52 ARKit blendshapes (Live Link Face, Audio2Face); each prompt "
                                      "and viseme a pose of them")))
    prompt_keys: bpy.props.BoolProperty(name="Prompt Keys", default=False,
                                        description="With the ARKit rig: a shape key per prompt too")
    # Shown by the panel; written only on the main thread by generation/session.py.
    busy: bpy.props.BoolProperty(name="Busy", options={"SKIP_SAVE"})
    progress: bpy.props.FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR", options={"SKIP_SAVE"})
    status_message: bpy.props.StringProperty(name="Status", options={"SKIP_SAVE"})
    last_error: bpy.props.StringProperty(name="Last Error", options={"SKIP_SAVE"})
    job_id: bpy.props.StringProperty(name="Job")
    face_name: bpy.props.StringProperty(name="Face")


classes = (PROMPTFACE_PG_prompt, PROMPTFACE_PG_state)


def attach() -> None:
    bpy.types.Scene.promptface = bpy.props.PointerProperty(type=PROMPTFACE_PG_state)


def detach() -> None:
    del bpy.types.Scene.promptface
