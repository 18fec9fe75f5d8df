"""What every HTTP request passes before any route reads it (pure ASGI, so nothing of the body is read first):

- `RequestGate`: the Host header (a DNS-rebinding page names its own host, so a server on loopback accepts only
  localhost names), the bearer token (everything but the open paths), and the body's size (a declared length over
  the limit is refused at once, a body that grows past it as soon as it does).
- `InternalErrors`: a failure no route expected becomes a 500 ErrorReply that names no internals, and the
  connection stays usable (Starlette's own last-resort handler re-raises, and the server then closes it).
"""
import hmac
import logging
import uuid

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.serving.http_api.replies import error_response
from backend.settings import Settings

log = logging.getLogger(__name__)

# Paths anyone may call (nothing private in them).
OPEN_PATHS = ("/v1/health", "/v1/engines", "/v1/openapi.json")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
UPLOAD_PATH = "/v1/subjects"
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers on top of the photo itself


class RequestGate:
    def __init__(self, app: ASGIApp, token: str, settings: Settings, allowed_hosts: tuple[str, ...] | None):
        self.app, self.token, self.settings = app, token, settings
        self.allowed_hosts = None if allowed_hosts is None else {name.lower() for name in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit, too_large = self._body_limit(scope)
        refusal = self._host_refusal(headers) or self._token_refusal(scope, headers)
        declared = headers.get("content-length", "")
        if refusal is None and declared.isdigit() and int(declared) > limit:
            refusal = ("too_large", too_large(int(declared)))
        if refusal is not None:
            await error_response(headers, *refusal)(scope, receive, send)
            return
        await self.app(scope, _counted(receive, limit, too_large), send)

    def _host_refusal(self, headers: Headers) -> tuple[str, str] | None:
        if self.allowed_hosts is None:
            return None
        host = _host_name(headers.get("host", ""))
        if host in self.allowed_hosts:
            return None
        return ("bad_request", f"this server answers only requests addressed to {', '.join(sorted(self.allowed_hosts))}"
                               f" (the Host header named '{host[:60]}'); use one of those names, or start the server "
                               "with --allowed-host NAME")

    def _token_refusal(self, scope: Scope, headers: Headers) -> tuple[str, str] | None:
        if scope["path"] in OPEN_PATHS:
            return None
        authorization = headers.get("authorization", "")
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return None
        problem = "no bearer token was sent" if not authorization else "the bearer token is wrong"
        return ("unauthorized", f"{problem}; send 'Authorization: Bearer TOKEN' with the token kept in the file "
                                "'token' of the server's data dir (printed when the server first started)")

    def _body_limit(self, scope: Scope):
        """(bytes a request to this path may send, the message when it sends more)."""
        if scope["path"] == UPLOAD_PATH:
            photo = self.settings.max_upload_bytes
            return photo + MULTIPART_OVERHEAD, lambda size: (
                f"the upload is {size / 1e6:.1f} MB or more; photos up to {photo / 1e6:.1f} MB are accepted — "
                "scale it down or export it as JPEG")
        request = self.settings.max_request_bytes
        return request, lambda size: (f"the request body is {size / 1e3:.0f} kB or more; this server accepts up to "
                                      f"{request / 1e3:.0f} kB (a job request is a few hundred bytes)")


def _counted(receive: Receive, limit: int, too_large) -> Receive:
    """receive, refusing (413) a body that grows past limit: a chunked body, or one longer than it declared."""
    received = 0

    async def counted() -> dict:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, detail=too_large(received))
        return message

    return counted


def _host_name(host: str) -> str:
    """'name:port', '[::1]:port' → the name alone, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class InternalErrors:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            if started:  # half a reply is out: nothing to do but let the server drop the connection
                raise
            reference = uuid.uuid4().hex[:8]
            log.exception("%s %s failed (reference %s)", scope.get("method"), scope.get("path"), reference)
            response = error_response(Headers(scope=scope), "internal",
                                      f"the server failed on this request (reference {reference} in its log); "
                                      "try again, and report it if it keeps failing")
            await response(scope, receive, send)
