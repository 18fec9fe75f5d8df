"""Pure Python + numpy code shared by the add-on and the backend (no bpy, no torch)."""
