"""POST /v1/subjects: upload a neutral photo (multipart field "photo") → SubjectInfo (201).

The body is streamed and counted: a declared Content-Length over the limit is refused before anything is read,
and a body that grows past it (chunked, or lying about its length) is refused as soon as it does.
"""
from typing import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from addon.core.protocol import to_wire
from backend.http_api.dependencies import Authorized, ServiceDep
from backend.service import ServiceError

router = APIRouter(prefix="/v1/subjects", tags=["subjects"], dependencies=[Authorized])

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers on top of the photo itself


@router.post("", status_code=201)
async def create_subject(request: Request, service: ServiceDep) -> JSONResponse:
    limit = service.settings.max_upload_bytes + MULTIPART_OVERHEAD
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ServiceError("unsupported_media", "send the photo as multipart/form-data in the file field 'photo' "
                                                "(e.g. curl -F photo=@face.jpg)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ServiceError("too_large", _too_large(int(declared), service.settings.max_upload_bytes))
    parser = MultiPartParser(request.headers, _limited(request.stream(), limit, service.settings.max_upload_bytes),
                             max_files=1, max_fields=8)
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise ServiceError("bad_request", f"the upload is not valid multipart/form-data ({error.message})") from None
    try:
        photo = form.get("photo")
        if not isinstance(photo, UploadFile):
            raise ServiceError("bad_request", "the upload has no file field 'photo'; send the photo in it")
        data, filename = await photo.read(), photo.filename or "photo"
    finally:
        await form.close()
    info = await run_in_threadpool(service.create_subject, data, filename)
    return JSONResponse(to_wire(info), status_code=201)


async def _limited(stream: AsyncIterator[bytes], limit: int, photo_limit: int) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise ServiceError("too_large", _too_large(received, photo_limit, more=True))
        yield chunk


def _too_large(size: int, photo_limit: int, more: bool = False) -> str:
    return (f"the upload is {'over ' if more else ''}{size / 1e6:.1f} MB; photos up to {photo_limit / 1e6:.1f} MB "
            "are accepted — scale it down or export it as JPEG")
