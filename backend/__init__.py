"""PromptFace compute side: engines, pipeline and commands. Never imports bpy."""
