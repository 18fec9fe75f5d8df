"""Error replies: an ErrorReply body with its HTTP status, and the headers that go with it."""
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers

from addon.core.protocol import ERROR_STATUS, ErrorReply, to_wire

# Bodies over this size may still be unread when a reply refuses the request: the connection is closed rather than
# read to the end only to discard it.
UNREAD_BODY_BYTES = 65536


def error_response(request_headers: Headers, code: str, message: str, retry_after: int | None = None,
                   status: int | None = None, headers: dict | None = None) -> JSONResponse:
    reply_headers = dict(headers or {})
    if retry_after is not None:
        reply_headers["Retry-After"] = str(retry_after)
    if code == "unauthorized":
        reply_headers["WWW-Authenticate"] = "Bearer"
    if _large_body(request_headers):
        reply_headers["Connection"] = "close"
    return JSONResponse(to_wire(ErrorReply(error=code, message=message, retry_after=retry_after)),
                        status_code=status or ERROR_STATUS[code], headers=reply_headers)


def _large_body(headers: Headers) -> bool:
    length = headers.get("content-length", "")
    return ("chunked" in headers.get("transfer-encoding", "").lower()
            or (length.isdigit() and int(length) > UNREAD_BODY_BYTES))
