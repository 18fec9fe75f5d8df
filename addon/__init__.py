"""PromptFace Blender extension.

Only `addon.core` is importable without Blender: it holds the pure code that the backend shares
(expression-set format, prompt and schedule grammars, texture-blend maths). Blender-facing modules
import bpy themselves and are registered from `register()`.
"""


def register():
    from . import operators
    operators.register()


def unregister():
    from . import operators
    operators.unregister()
