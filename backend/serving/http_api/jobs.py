"""Expression jobs: create (202, or 429 with Retry-After), status, one asset, the whole set as a zip, cancel,
delete."""
import mimetypes
import os
from typing import Annotated

from fastapi import APIRouter, Path as PathParam
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from addon.core.protocol import Deleted, JobInfo, JobRequest, to_wire
from backend.serving.http_api.dependencies import Authorized, ServiceDep
from backend.serving.http_api.openapi import error_responses
from backend.serving.job_files import ASSET_NAME
from backend.serving.service import ServiceError

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Authorized])
ZIP_CHUNK = 1 << 20


@router.post("", status_code=202, response_model=JobInfo,
             responses=error_responses(400, 401, 404, 413, 422, 429, 503))
def create_job(service: ServiceDep, body: JobRequest) -> JSONResponse:
    return JSONResponse(to_wire(service.create_job(body)), status_code=202)


@router.get("/{job_id}", response_model=JobInfo, responses=error_responses(401, 404))
def job_status(job_id: str, service: ServiceDep) -> dict:
    return to_wire(service.job_status(job_id))


@router.get("/{job_id}/assets/{name}", responses={
    200: {"description": "the file", "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                        "format": "binary"}}}},
    **error_responses(400, 401, 404)})
def asset(job_id: str, name: Annotated[str, PathParam(pattern=ASSET_NAME.pattern)], service: ServiceDep) -> Response:
    """One file of the job's current set. Read whole (they are small) so that the set moving from partial/ to
    result/ at the end of the job cannot pull a file away mid-reply: the name is looked up again then."""
    for attempt in (1, 2):
        path = service.asset_path(job_id, name)
        try:
            data = path.read_bytes()
            break
        except FileNotFoundError:
            if attempt == 2:
                raise ServiceError("not_found", f"'{name}' of job {job_id} went away; ask for the job's files "
                                                "again") from None
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(content=data, media_type=media_type)


@router.get("/{job_id}/expression-set.zip", responses={
    200: {"description": "the whole expression set", "content": {"application/zip": {"schema": {
        "type": "string", "format": "binary"}}}},
    **error_responses(401, 404, 409)})
def expression_set(job_id: str, service: ServiceDep) -> StreamingResponse:
    handle = service.open_set_zip(job_id)
    size = os.fstat(handle.fileno()).st_size
    return StreamingResponse(iter(lambda: handle.read(ZIP_CHUNK), b""), media_type="application/zip",
                             headers={"Content-Length": str(size),
                                      "Content-Disposition": f'attachment; filename="promptface-{job_id}.zip"'},
                             background=BackgroundTask(handle.close))


@router.post("/{job_id}/cancel", response_model=JobInfo, responses=error_responses(401, 404))
def cancel(job_id: str, service: ServiceDep) -> dict:
    return to_wire(service.cancel(job_id))


@router.delete("/{job_id}", response_model=Deleted, responses=error_responses(401, 404, 409))
def delete(job_id: str, service: ServiceDep) -> dict:
    return to_wire(service.delete_job(job_id))
