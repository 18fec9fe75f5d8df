"""The error replies each route can give, for the OpenAPI document (every one an ErrorReply body)."""
from addon.core.protocol import ErrorReply

_MEANING = {
    400: "a malformed request (the message says what is wrong)",
    401: "no bearer token, or a wrong one",
    404: "no such subject, job or file",
    409: "not yet (the job has not succeeded), or not while it waits or runs",
    413: "the body is over the server's limit",
    415: "not multipart/form-data, or not an image",
    422: "well-formed but refused (an unknown option, engine or prompt)",
    429: "the queue is full; Retry-After says when to try again",
    503: "the worker is busy with uploads; Retry-After says when to try again",
}


def error_responses(*statuses: int) -> dict:
    return {status: {"model": ErrorReply, "description": _MEANING[status]} for status in statuses}
