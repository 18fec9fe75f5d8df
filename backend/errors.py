"""Errors of the compute side; all are PromptFaceErrors, so every front end reports them the same way."""
from addon.core.errors import PromptFaceError


class InputImageError(PromptFaceError):
    """The photo cannot be used: unreadable, too large, too small."""


class FaceDetectionError(PromptFaceError):
    """No usable face, or no way to tell which face is meant."""
