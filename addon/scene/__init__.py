"""Blender scene building (bpy only): the face object, its texture-blend material, the timeline, export, preview."""
