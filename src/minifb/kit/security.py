"""Who is asking: the bearer token turned into a principal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from minifb.auth.tokens import InvalidToken
from minifb.kit.deps import ContainerDep
from minifb.kit.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="An access token from /auth/login.")


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    session_id: int


async def current_principal(
    request: Request,
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    try:
        claims = container.tokens.verify(credentials.credentials)
    except InvalidToken:
        raise Unauthorized("The access token is not valid.") from None
    # Logout and password change end a login at once, not when its token expires.
    if container.revocations.is_revoked(claims.session_id):
        raise Unauthorized("This session has ended.")
    principal = Principal(claims.user_id, claims.session_id)
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
