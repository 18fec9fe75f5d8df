"""GET /v1/health and /v1/engines: open to anyone (no token), nothing private in them. They run on the event loop
(no thread): they only read the service's state in memory, so busy request threads never delay them."""
from fastapi import APIRouter

from addon.core.protocol import EngineList, Health, to_wire
from backend.serving.http_api.dependencies import ServiceDep

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health", response_model=Health)
async def health(service: ServiceDep) -> dict:
    return to_wire(service.health())


@router.get("/engines", response_model=EngineList)
async def engines(service: ServiceDep) -> dict:
    return to_wire(service.engines())
