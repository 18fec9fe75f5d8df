"""The one error type a user sees: its message names the problem and what to do about it."""


class PromptFaceError(Exception):
    """An error caused by input or configuration that the user can fix."""


class ExpressionSetError(PromptFaceError):
    """An expression set on disk is missing a file, malformed, or of an unknown version."""


class PromptError(PromptFaceError):
    """A prompt (expression text, mixture or action units) cannot be understood."""


class ScheduleError(PromptFaceError):
    """A timeline schedule cannot be parsed or refers to something unknown."""


class TakeError(PromptFaceError, ValueError):
    """A recorded take (Live Link Face CSV, Audio2Face JSON, a plain CSV) is malformed or names a column that is not
    an ARKit shape."""
