"""Who is asking: the bearer token turned into a principal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from minifb.auth.tokens import InvalidToken
from minifb.bootstrap import Container
from minifb.kit.deps import ContainerDep
from minifb.kit.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="An access token from /auth/login.")


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    session_id: int


def authenticate(container: Container, authorization: str | None) -> Principal:
    """The principal an `Authorization: Bearer` header proves, or Unauthorized."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized()
    try:
        claims = container.tokens.verify(token.strip())
    except InvalidToken:
        raise Unauthorized("The access token is not valid.") from None
    # Logout and password change end a login at once, not when its token expires.
    if container.revocations.is_revoked(claims.session_id):
        raise Unauthorized("This session has ended.")
    return Principal(claims.user_id, claims.session_id)


async def current_principal(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    return authenticate(container, header)


CurrentUser = Annotated[Principal, Depends(current_principal)]
