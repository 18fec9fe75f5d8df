"""GET /v1/health and /v1/engines: open to anyone (no token), nothing private in them."""
from fastapi import APIRouter

from addon.core.protocol import to_wire
from backend.http_api.dependencies import ServiceDep

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health")
def health(service: ServiceDep) -> dict:
    return to_wire(service.health())


@router.get("/engines")
def engines(service: ServiceDep) -> dict:
    return to_wire(service.engines())
