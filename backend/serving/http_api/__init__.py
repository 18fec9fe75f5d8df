"""The HTTP transport: `create_app(service, token)` builds the FastAPI app of protocol.py's API version 1.

Every request first passes gate.py (Host header, bearer token, body size; then a catch-all for internal errors);
then routers per resource (health, subjects, jobs). Every reply is a protocol.py message (to_wire); every error is
an ErrorReply with its HTTP status. The OpenAPI document is served at /v1/openapi.json.
"""
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from addon.core.protocol import API_VERSION, ERROR_STATUS
from backend.serving.http_api import health, jobs, subjects
from backend.serving.http_api.gate import LOOPBACK_NAMES, InternalErrors, RequestGate
from backend.serving.http_api.replies import error_response
from backend.serving.service import VERSION, Service, ServiceError

log = logging.getLogger(__name__)

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# Statuses Starlette raises by itself (unknown path, wrong method, a body over the limit) → error codes.
_CODES = {status: code for code, status in ERROR_STATUS.items()}


def create_app(service: Service, token: str, allowed_hosts: tuple[str, ...] | None = LOOPBACK_NAMES) -> FastAPI:
    """The app; its lifespan starts the service (the worker loads the engines) and stops it cleanly.

    allowed_hosts: the host names requests may address (the Host header); None accepts any (a server on a public
    interface, behind its own firewall and the token)."""
    if not token:
        raise ValueError("an API token is required")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(service.start)
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    app = FastAPI(title="PromptFace backend", version=VERSION, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/v1/openapi.json",
                  description=f"PromptFace's API version {API_VERSION}: upload a neutral photo (a subject), queue "
                              "expression jobs, fetch the expression set as it grows.")
    app.state.service = service
    for module in (health, subjects, jobs):
        app.include_router(module.router)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(RequestGate, token=token, settings=service.settings, allowed_hosts=allowed_hosts)
    app.add_middleware(InternalErrors)  # added last: outermost, so it also catches the gate's own failures
    return app


async def _service_error(request: Request, error: ServiceError) -> JSONResponse:
    return error_response(request.headers, error.code, error.message, error.retry_after)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    code = _CODES.get(error.status_code, "internal" if error.status_code >= 500 else "bad_request")
    if error.status_code == 404:
        message = f"no endpoint {request.method} {request.url.path}; the API is under /v1 (see /v1/openapi.json)"
    elif error.status_code == 405:
        allowed = _allowed_methods(request)
        message = f"{request.url.path} does not take {request.method}; it takes {allowed}"
        return error_response(request.headers, code, message, status=405, headers={"Allow": allowed})
    else:
        message = str(error.detail)
    return error_response(request.headers, code, message, status=error.status_code, headers=error.headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at this path (Starlette's own 405 names only the first route's)."""
    allowed = [method for method in HTTP_METHODS
               if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                      for route in request.app.router.routes)]
    return ", ".join(allowed)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(f"{'.'.join(str(part) for part in item.get('loc', ()) if part != 'body') or 'body'}: "
                         f"{item.get('msg', '').lower()}" for item in error.errors()[:5])
    return error_response(request.headers, "bad_request",
                          f"the request is malformed ({problems[:500]}); see /v1/openapi.json for its fields")
