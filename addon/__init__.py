"""PromptFace Blender extension.

Only `addon.core` (and the pure client code in `addon.transports` and `addon.generation.worker`) is importable
without Blender: it holds the code that the backend shares (expression-set format, prompt and schedule grammars,
texture-blend maths). Blender-facing modules import bpy themselves and are registered from `register()`.
"""


def _classes() -> tuple:
    """Every Blender class of the add-on, in registration order (property groups before their users)."""
    from . import operators, preferences
    from .ui import panel, properties
    return (*preferences.classes, *properties.classes, *operators.classes, *panel.classes)


def register():
    import bpy
    from .ui import properties
    for cls in _classes():
        bpy.utils.register_class(cls)
    properties.attach()


def unregister():
    import bpy
    from .generation import session
    from .ui import properties
    session.shutdown()
    properties.detach()
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
