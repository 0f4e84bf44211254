from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from minifb.auth import service
from minifb.auth.deps import (
    ClientDep,
    KeySetDep,
    LoginPolicyDep,
    MetricsDep,
    PasswordsDep,
    RevocationsDep,
    TokensDep,
)
from minifb.auth.schemas import (
    AuthResult,
    LoginRequest,
    PasswordChangeRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
)
from minifb.kit.deps import CacheDep, SessionDep
from minifb.kit.security import CurrentUser

router = APIRouter(prefix="/auth", tags=["auth"])
well_known = APIRouter(tags=["auth"])

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Invalid credentials or token."},
    422: {"description": "The request is not valid."},
    429: {"description": "Too many attempts."},
}


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AuthResult,
    responses={409: {"description": "Username or email taken."}, **_PROBLEMS},
)
async def register(
    body: RegisterRequest,
    session: SessionDep,
    client: ClientDep,
    cache: CacheDep,
    passwords: PasswordsDep,
    tokens: TokensDep,
    policy: LoginPolicyDep,
    metrics: MetricsDep,
) -> AuthResult:
    return await service.register(
        session,
        body,
        client=client,
        cache=cache,
        passwords=passwords,
        tokens=tokens,
        policy=policy,
        metrics=metrics,
    )


@router.post("/login", response_model=AuthResult, responses=_PROBLEMS)
async def login(
    body: LoginRequest,
    session: SessionDep,
    client: ClientDep,
    cache: CacheDep,
    passwords: PasswordsDep,
    tokens: TokensDep,
    policy: LoginPolicyDep,
    metrics: MetricsDep,
) -> AuthResult:
    return await service.login(
        session,
        body,
        client=client,
        cache=cache,
        passwords=passwords,
        tokens=tokens,
        policy=policy,
        metrics=metrics,
    )


@router.post("/refresh", response_model=TokenPair, responses=_PROBLEMS)
async def refresh(
    body: RefreshRequest, session: SessionDep, tokens: TokensDep, revocations: RevocationsDep
) -> TokenPair:
    return await service.refresh(
        session, body.refresh_token, tokens=tokens, revocations=revocations
    )


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=_PROBLEMS)
async def logout(
    body: RefreshRequest, session: SessionDep, revocations: RevocationsDep
) -> Response:
    await service.logout(session, body.refresh_token, revocations=revocations)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password",
    response_model=TokenPair,
    responses={403: {"description": "The current password is wrong."}, **_PROBLEMS},
)
async def change_password(
    body: PasswordChangeRequest,
    principal: CurrentUser,
    session: SessionDep,
    client: ClientDep,
    cache: CacheDep,
    passwords: PasswordsDep,
    tokens: TokensDep,
    revocations: RevocationsDep,
    policy: LoginPolicyDep,
) -> TokenPair:
    return await service.change_password(
        session,
        principal,
        body,
        client=client,
        cache=cache,
        passwords=passwords,
        tokens=tokens,
        revocations=revocations,
        policy=policy,
    )


@well_known.get("/.well-known/jwks.json")
async def jwks(keyset: KeySetDep, response: Response) -> dict[str, object]:
    """The public keys that verify access tokens (several during a key rotation)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return keyset.jwks()
