"""Who is asking: the bearer token turned into a principal.

The kernel knows no service: how a token is verified is the `TokenVerifier`
Protocol below, which the auth service implements (`auth.verifier`) and the
composition root hands in (`bootstrap.Container.verifier`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from minifb.kit.deps import PortsDep
from minifb.kit.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="An access token from /auth/login.")


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    session_id: int


class TokenVerifier(Protocol):
    """Turns an access token into the principal it proves."""

    def verify(self, token: str) -> Principal:
        """The principal of a valid token whose login has not ended.

        Raises `Unauthorized` otherwise, or a 503 while it cannot be known whether
        the login has ended. No I/O: it runs on every authenticated request.
        """
        ...


def authenticate(verifier: TokenVerifier, authorization: str | None) -> Principal:
    """The principal an `Authorization: Bearer` header proves, or Unauthorized."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized()
    return verifier.verify(token.strip())


async def current_principal(
    ports: PortsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    return authenticate(ports.verifier, header)


CurrentUser = Annotated[Principal, Depends(current_principal)]
