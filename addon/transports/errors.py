"""Errors of the client transports (HTTP, stdio, SSH): what the backend said, or why it could not be asked."""
from ..core.errors import PromptFaceError


class BackendError(PromptFaceError):
    """The backend refused a request or could not be reached.

    `code` is a key of protocol.ERROR_STATUS when the backend replied with an ErrorReply; the transports add their
    own for failures before any reply: "unreachable", "unauthorized", "host_key_unknown", "host_key_changed",
    "protocol" and "connection_lost".
    """

    def __init__(self, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class ConnectionLost(BackendError):
    """The channel to the backend dropped (EOF, broken pipe, SSH disconnect); `reconnect()` opens a new one."""

    def __init__(self, message: str):
        super().__init__("connection_lost", message)
