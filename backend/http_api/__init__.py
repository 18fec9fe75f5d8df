"""The HTTP transport: `create_app(service, token)` builds the FastAPI app of protocol.py's API version 1.

Routers per resource (health, subjects, jobs), the bearer-token check in dependencies.py. Every reply is a
protocol.py message (to_wire); every error is an ErrorReply with its HTTP status.
"""
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from addon.core.protocol import ERROR_STATUS, ErrorReply, to_wire
from backend.http_api import health, jobs, subjects
from backend.service import Service, ServiceError

log = logging.getLogger(__name__)

# Statuses Starlette raises by itself (unknown path, wrong method) → error codes.
_CODES = {status: code for code, status in ERROR_STATUS.items()}


def create_app(service: Service, token: str) -> FastAPI:
    """The app; its lifespan starts the service (the worker loads the engines) and stops it cleanly."""
    if not token:
        raise ValueError("an API token is required")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(service.start)
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    app = FastAPI(title="PromptFace backend", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service, app.state.token = service, token
    for module in (health, subjects, jobs):
        app.include_router(module.router)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)
    return app


def error_response(request: Request, code: str, message: str, retry_after: int | None = None,
                   status: int | None = None) -> JSONResponse:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if code == "unauthorized":
        headers["WWW-Authenticate"] = "Bearer"
    if _large_body(request):
        # The body may not have been read (an upload refused early): close rather than read it only to discard it.
        headers["Connection"] = "close"
    return JSONResponse(to_wire(ErrorReply(error=code, message=message, retry_after=retry_after)),
                        status_code=status or ERROR_STATUS[code], headers=headers)


def _large_body(request: Request) -> bool:
    length = request.headers.get("content-length", "")
    return "chunked" in request.headers.get("transfer-encoding", "") or (length.isdigit() and int(length) > 65536)


async def _service_error(request: Request, error: ServiceError) -> JSONResponse:
    return error_response(request, error.code, error.message, error.retry_after)


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    code = _CODES.get(error.status_code, "internal" if error.status_code >= 500 else "bad_request")
    message = (f"no endpoint {request.method} {request.url.path}; the API is under /v1 (see protocol.py)"
               if error.status_code in (404, 405) else str(error.detail))
    return error_response(request, code, message, status=error.status_code)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg')}"
                         for item in error.errors())
    return error_response(request, "bad_request",
                          f"the request is malformed ({problems}); send a JSON object as the body")


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return error_response(request, "internal",
                          f"the server failed: {type(error).__name__}: {error} (details in its log)")
