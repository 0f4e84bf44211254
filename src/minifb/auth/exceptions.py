from __future__ import annotations

from minifb.kit.errors import Forbidden, ServiceUnavailable, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "invalid-credentials"

    def __init__(self) -> None:
        # One message for unknown account and wrong password: no account probing.
        super().__init__("The login or the password is wrong.")


class InvalidRefreshToken(Unauthorized):
    code = "invalid-refresh-token"

    def __init__(self, detail: str = "The refresh token is not valid.") -> None:
        super().__init__(detail)


class RefreshTokenReused(InvalidRefreshToken):
    """A rotated token came back: the family is revoked, and that must be kept."""

    keep_changes = True

    def __init__(self) -> None:
        super().__init__("The refresh token was already used; the session has been ended.")


class WrongPassword(Forbidden):
    code = "wrong-password"

    def __init__(self) -> None:
        super().__init__("The current password is wrong.")


class EndedLoginsUnknown(ServiceUnavailable):
    """The ended logins could not be read from the database lately: a token cannot be
    told apart from one whose login has ended, so it is refused for now."""

    code = "ended-logins-unknown"

    def __init__(self, *, retry_after: int) -> None:
        super().__init__(
            "Logins cannot be checked right now; try again shortly.",
            headers={"Retry-After": str(max(retry_after, 1))},
        )
