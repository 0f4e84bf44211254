from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, EmailStr, Field, JsonValue

from minifb.auth.passwords import MAX_LENGTH, MIN_LENGTH
from minifb.kit.schemas import NO_NUL, STORABLE, Schema, Text
from minifb.users.schemas import USER_ME_EXAMPLE, DisplayName, UserMe, Username

# No length cap below the policy's: a longer password must reach the policy check
# and be refused with its reason, never silently cut.
Password = Annotated[
    Text,
    Field(min_length=1, max_length=1024, json_schema_extra={"format": "password"}),
]
# A password being chosen: the document states the policy's lengths, which the policy
# (not the field) enforces, so that a refusal names its reason.
NewPassword = Annotated[
    Text,
    Field(
        min_length=1,
        max_length=1024,
        description=f"{MIN_LENGTH} to {MAX_LENGTH} characters; not a common password, "
        "nor your username or email.",
        json_schema_extra={"format": "password", "minLength": MIN_LENGTH, "maxLength": MAX_LENGTH},
    ),
]
Email = Annotated[
    EmailStr,
    STORABLE,
    Field(
        description="An email address; a domain of special use (RFC 6761: `.test`, "
        "`.local`, `.invalid`, `.localhost`, `.onion`, `.arpa`), which no mail reaches, "
        "is refused."
    ),
]

# What tokens look like in the document's examples; no key signed them.
ACCESS_TOKEN_EXAMPLE = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiIxNzA0In0.c2ln"  # noqa: S105
REFRESH_TOKEN_EXAMPLE = "rt_Jx3Lw0o1b9mQxq5c8vGk2YhT4nZs7eUa"  # noqa: S105


class RegisterRequest(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "ada",
                    "email": "ada@example.com",
                    "password": "analytical engine 1843",
                    "display_name": "Ada Lovelace",
                }
            ]
        }
    )

    username: Username
    email: Email
    password: NewPassword
    display_name: DisplayName


class LoginRequest(Schema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"login": "ada", "password": "analytical engine 1843"}]}
    )

    login: Annotated[
        Text,
        Field(
            min_length=1, max_length=254, description="Username or email.", json_schema_extra=NO_NUL
        ),
    ]
    password: Password


class RefreshRequest(Schema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": REFRESH_TOKEN_EXAMPLE}]}
    )

    refresh_token: Annotated[
        Text,
        Field(
            min_length=1,
            max_length=256,
            description="The refresh token of the last pair.",
            json_schema_extra=NO_NUL,
        ),
    ]


class PasswordChangeRequest(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "current_password": "analytical engine 1843",
                    "new_password": "difference engine 1822",
                }
            ]
        }
    )

    current_password: Password
    new_password: NewPassword


TOKEN_PAIR_EXAMPLE: dict[str, JsonValue] = {
    "access_token": ACCESS_TOKEN_EXAMPLE,
    "refresh_token": REFRESH_TOKEN_EXAMPLE,
    "token_type": "Bearer",
    "expires_in": 900,
}


class TokenPair(Schema):
    """An access token for `Authorization: Bearer`, and the refresh token that gets the
    next pair."""

    model_config = ConfigDict(json_schema_extra={"examples": [TOKEN_PAIR_EXAMPLE]})

    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int = Field(description="Seconds the access token lasts.")


class AuthResult(TokenPair):
    """The tokens of a new login, and the account it is."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**TOKEN_PAIR_EXAMPLE, "user": USER_ME_EXAMPLE}]}
    )

    user: UserMe
