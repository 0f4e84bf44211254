from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from minifb.auth import service
from minifb.auth.schemas import (
    AuthResult,
    LoginRequest,
    PasswordChangeRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
)
from minifb.gateway.client_ip import get_client_ip
from minifb.kit.deps import ContainerDep, SessionDep
from minifb.kit.security import CurrentUser

router = APIRouter(prefix="/auth", tags=["auth"])
well_known = APIRouter(tags=["auth"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Invalid credentials or token."},
    422: {"description": "The request is not valid."},
    429: {"description": "Too many attempts."},
}


def _client(request: Request) -> service.Client:
    return service.Client(
        ip=get_client_ip(request), user_agent=request.headers.get("user-agent", "")
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AuthResult,
    responses={409: {"description": "Username or email taken."}, **_PROBLEMS},
)
async def register(
    body: RegisterRequest, request: Request, session: SessionDep, c: ContainerDep
) -> AuthResult:
    return await service.register(session, c, body, client=_client(request))


@router.post("/login", response_model=AuthResult, responses=_PROBLEMS)
async def login(
    body: LoginRequest, request: Request, session: SessionDep, c: ContainerDep
) -> AuthResult:
    return await service.login(session, c, body, client=_client(request))


@router.post("/refresh", response_model=TokenPair, responses=_PROBLEMS)
async def refresh(body: RefreshRequest, session: SessionDep, c: ContainerDep) -> TokenPair:
    return await service.refresh(session, c, body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=_PROBLEMS)
async def logout(body: RefreshRequest, session: SessionDep, c: ContainerDep) -> Response:
    await service.logout(session, c, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password",
    response_model=TokenPair,
    responses={403: {"description": "The current password is wrong."}, **_PROBLEMS},
)
async def change_password(
    body: PasswordChangeRequest,
    request: Request,
    principal: CurrentUser,
    session: SessionDep,
    c: ContainerDep,
) -> TokenPair:
    return await service.change_password(session, c, principal, body, client=_client(request))


@well_known.get("/.well-known/jwks.json")
async def jwks(c: ContainerDep, response: Response) -> dict[str, object]:
    """The public keys that verify access tokens (several during a key rotation)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return c.keyset.jwks()
