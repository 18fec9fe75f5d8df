"""POST /v1/subjects: upload a neutral photo (multipart field "photo") → SubjectInfo (201); DELETE one.

The body's size is limited before this route runs (gate.RequestGate): a declared Content-Length over the limit is
refused before anything is read, and a body that grows past it (chunked, or lying about its length) is refused as
soon as it does. The photo is parsed from the stream here, so no form model: the OpenAPI document gets the
multipart body written out.
"""
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from addon.core.protocol import Deleted, SubjectInfo, to_wire
from backend.serving.http_api.dependencies import Authorized, ServiceDep
from backend.serving.http_api.openapi import error_responses
from backend.serving.service import ServiceError

router = APIRouter(prefix="/v1/subjects", tags=["subjects"], dependencies=[Authorized])

UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["photo"],
    "properties": {"photo": {"type": "string", "format": "binary", "description": "a JPEG or PNG face photo"}}}}}}


@router.post("", status_code=201, response_model=SubjectInfo, openapi_extra={"requestBody": UPLOAD_BODY},
             responses=error_responses(400, 401, 413, 415, 422, 503))
async def create_subject(request: Request, service: ServiceDep) -> JSONResponse:
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise ServiceError("unsupported_media", "send the photo as multipart/form-data in the file field 'photo' "
                                                "(e.g. curl -F photo=@face.jpg)")
    parser = MultiPartParser(request.headers, request.stream(), max_files=1, max_fields=8)
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


@router.delete("/{subject_id}", response_model=Deleted, responses=error_responses(401, 404, 409))
def delete(subject_id: str, service: ServiceDep) -> dict:
    return to_wire(service.delete_subject(subject_id))
