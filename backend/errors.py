"""Errors of the compute side; all are PromptFaceErrors, so every front end reports them the same way."""
import os
import re
from pathlib import Path

from addon.core.errors import PromptFaceError


class InputImageError(PromptFaceError):
    """The photo cannot be used: unreadable, too large, too small."""


class NotAnImageError(InputImageError):
    """The bytes are not an image of a format this reads."""


class DamagedImageError(InputImageError):
    """An image format's signature, but its header or pixels cannot be read."""


class PhotoTooLargeError(InputImageError):
    """More pixels than the limit (known from the header alone)."""


class FaceDetectionError(PromptFaceError):
    """No usable face, or no way to tell which face is meant."""


def public_message(text: str, data_dir: Path) -> str:
    """A message fit for a client: paths under the data dir become relative to it, and any other path on this
    machine is cut down to its last part (its folders say where things live on the server)."""
    text = text.replace(str(Path(data_dir).resolve()) + os.sep, "").replace(str(data_dir) + os.sep, "")
    return _ABSOLUTE_PATH.sub(lambda match: _last_part(match.group(0)), text)


API_ROOT = "/v1"
# An absolute POSIX or Windows path inside a message (up to a quote, a space or punctuation that ends it).
_ABSOLUTE_PATH = re.compile(r"(?<![\w./\\])(?:[A-Za-z]:[\\/]|/)[^\s'\"()\[\]{}<>,;]+")


def _last_part(candidate: str) -> str:
    """A path → its last part; the API's own routes (/v1/...) are left as they are."""
    if candidate == API_ROOT or candidate.startswith(API_ROOT + "/"):
        return candidate
    return re.split(r"[\\/]", candidate.rstrip("\\/"))[-1]
