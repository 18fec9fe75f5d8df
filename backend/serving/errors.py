"""ServiceError: a request the service refuses, with the protocol error code that says how each server reports it."""
from addon.core.errors import PromptFaceError
from addon.core.protocol import ERROR_STATUS


class ServiceError(PromptFaceError):
    """A request the service refuses; code is a key of protocol.ERROR_STATUS (which also gives its HTTP status)."""

    def __init__(self, code: str, message: str, retry_after: int | None = None):
        if code not in ERROR_STATUS:
            raise ValueError(f"unknown error code '{code}'")
        super().__init__(message)
        self.code, self.message, self.retry_after = code, message, retry_after

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.code]
