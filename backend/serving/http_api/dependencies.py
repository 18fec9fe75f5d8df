"""Shared request dependencies: the service, and the bearer scheme the OpenAPI document names.

The token itself is checked by gate.RequestGate, before any route runs or any body is read; `Authorized` only
declares the scheme on the routes that need it.
"""
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from backend.serving.service import Service


async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]

bearer = HTTPBearer(auto_error=False, description="the token in the file 'token' of the server's data dir")
Authorized = Security(bearer)
