"""Expression jobs: create (202, or 429 with Retry-After), status, one asset, the whole set as a zip, cancel."""
import mimetypes
from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.responses import FileResponse, JSONResponse, Response

from addon.core.protocol import JobRequest, from_wire, to_wire
from backend.http_api.dependencies import Authorized, ServiceDep
from backend.service import ServiceError

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Authorized])


@router.post("", status_code=202)
def create_job(service: ServiceDep, body: Annotated[dict, Body()]) -> JSONResponse:
    try:
        request = from_wire(JobRequest, body)
    except (TypeError, ValueError) as error:
        raise ServiceError("bad_request", f"{error}; a job needs subject_id and prompts") from None
    return JSONResponse(to_wire(service.create_job(request)), status_code=202)


@router.get("/{job_id}")
def job_status(job_id: str, service: ServiceDep) -> dict:
    return to_wire(service.job_status(job_id))


@router.get("/{job_id}/assets/{name}")
def asset(job_id: str, name: str, service: ServiceDep) -> Response:
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


@router.get("/{job_id}/expression-set.zip")
def expression_set(job_id: str, service: ServiceDep) -> FileResponse:
    return FileResponse(service.set_zip_path(job_id), media_type="application/zip",
                        filename=f"promptface-{job_id}.zip")


@router.post("/{job_id}/cancel")
def cancel(job_id: str, service: ServiceDep) -> dict:
    return to_wire(service.cancel(job_id))
