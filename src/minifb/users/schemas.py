from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from minifb.kit.schemas import Id, ReadSchema, Schema, Text
from minifb.models.user import FriendRequestPolicy

USERNAME_RE = re.compile(r"^[a-z0-9_]{3,30}$")
# Names that would impersonate the service or collide with routes.
RESERVED_USERNAMES = frozenset(
    {
        "admin",
        "administrator",
        "root",
        "support",
        "help",
        "api",
        "me",
        "settings",
        "system",
        "minifb",
        "moderator",
        "security",
        "staff",
        "official",
        "null",
        "undefined",
    }
)


def _username(value: str) -> str:
    value = value.strip().lower()
    if not USERNAME_RE.fullmatch(value):
        raise ValueError("3 to 30 characters of a-z, 0-9 and _")
    if value in RESERVED_USERNAMES:
        raise ValueError("this username is reserved")
    return value


def _no_control(value: str) -> str:
    if any((ord(c) < 32 and c not in "\n\t") or ord(c) == 127 for c in value):
        raise ValueError("control characters are not allowed")
    return value


Username = Annotated[Text, Field(min_length=3, max_length=30), AfterValidator(_username)]
DisplayName = Annotated[
    Text, Field(min_length=1, max_length=64), AfterValidator(str.strip), AfterValidator(_no_control)
]
Bio = Annotated[Text, Field(max_length=500), AfterValidator(_no_control)]


class UserSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    friend_requests_from: FriendRequestPolicy = FriendRequestPolicy.everyone


class UserRead(ReadSchema):
    """A person as anyone allowed to see them sees them: never the email."""

    id: Id
    username: str
    display_name: str
    bio: str
    avatar_url: str | None
    created_at: datetime


class PersonRead(UserRead):
    """A person in a list, with how many friends they share with the viewer."""

    mutual_friends: int


class UserMe(UserRead):
    """A person as they see themselves."""

    email: str
    settings: UserSettings


class UserUpdate(Schema):
    """`PATCH /users/me`: only these fields can change; anything else is refused.

    A field left out keeps its value; `null` is refused rather than read as
    "unchanged" (an empty bio is `""`).
    """

    display_name: DisplayName | None = None
    bio: Bio | None = None
    settings: UserSettings | None = None

    @field_validator("display_name", "bio", "settings")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Validators run only on given fields, so this refuses an explicit null.
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class FriendRequestCreate(Schema):
    user_id: Id


class RequestDirection(enum.StrEnum):
    incoming = "incoming"
    outgoing = "outgoing"


class FriendRequestRead(ReadSchema):
    """A friend request. `status` is `accepted` when sending it met a request the
    other person had already sent, which made the two friends at once."""

    id: Id
    from_user: UserRead
    to_user: UserRead
    created_at: datetime
    status: Literal["pending", "accepted"] = "pending"
