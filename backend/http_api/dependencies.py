"""Shared request dependencies: the service, and the bearer-token check (everything but health and engines)."""
import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from backend.service import Service, ServiceError


async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


async def require_token(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """401 unless the Authorization header is 'Bearer <the server's token>' (compared in constant time)."""
    scheme, _, given = (authorization or "").partition(" ")
    expected = request.app.state.token
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode()):
        return
    where = request.app.state.service.settings.data_dir / "token"
    problem = "no bearer token was sent" if not authorization else "the bearer token is wrong"
    raise ServiceError("unauthorized", f"{problem}; send 'Authorization: Bearer TOKEN' with the token in {where} "
                                       "on the server (printed when the server first started)")


Authorized = Depends(require_token)
