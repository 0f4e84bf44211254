"""kit's `TokenVerifier`, as the auth service implements it: signature, claims, ended logins."""

from __future__ import annotations

from minifb.auth.revocations import Revocations
from minifb.auth.tokens import AccessTokenCodec, InvalidToken
from minifb.kit.errors import Unauthorized
from minifb.kit.security import Principal


class LoginVerifier:
    """An access token's signature and claims (`AccessTokenCodec`), then whether its
    login has ended (`Revocations`, docs/decisions/0102 and 0111). No I/O: a cached
    verification and a set lookup, on every authenticated request."""

    __slots__ = ("_revocations", "_tokens")

    def __init__(self, tokens: AccessTokenCodec, revocations: Revocations) -> None:
        self._tokens = tokens
        self._revocations = revocations

    def verify(self, token: str) -> Principal:
        return self.verify_until(token)[0]

    def verify_until(self, token: str) -> tuple[Principal, int]:
        """`verify`, and when the token expires (epoch seconds): a connection that
        outlives its request (the stream) is closed then."""
        try:
            claims = self._tokens.verify(token)
        except InvalidToken:
            raise Unauthorized("The access token is not valid.") from None
        # Logout and password change end a login at once, not when its token expires.
        if self._revocations.is_revoked(claims.session_id):
            raise Unauthorized("This session has ended.")
        return Principal(claims.user_id, claims.session_id), claims.expires_at

    def has_ended(self, session_id: int) -> bool:
        """Whether the login has ended since its token was verified (503 while unknown)."""
        return self._revocations.is_revoked(session_id)
