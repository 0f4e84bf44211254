from __future__ import annotations

from typing import Annotated, Literal

from pydantic import EmailStr, Field

from minifb.kit.schemas import STORABLE, Schema, Text
from minifb.users.schemas import DisplayName, UserMe, Username

# No length cap below the policy's: a longer password must reach the policy check
# and be refused with its reason, never silently cut.
Password = Annotated[Text, Field(min_length=1, max_length=1024)]
Email = Annotated[EmailStr, STORABLE]


class RegisterRequest(Schema):
    username: Username
    email: Email
    password: Password
    display_name: DisplayName


class LoginRequest(Schema):
    login: Annotated[Text, Field(min_length=1, max_length=254, description="Username or email.")]
    password: Password


class RefreshRequest(Schema):
    refresh_token: Annotated[Text, Field(min_length=1, max_length=256)]


class PasswordChangeRequest(Schema):
    current_password: Password
    new_password: Password


class TokenPair(Schema):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int


class AuthResult(TokenPair):
    user: UserMe
