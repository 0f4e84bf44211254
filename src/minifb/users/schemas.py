from __future__ import annotations

import enum
import re
from collections.abc import Collection
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, field_validator

from minifb.kit.schemas import (
    CONTROL,
    BodyId,
    Id,
    ReadSchema,
    Schema,
    Text,
    no_control,
    partial_update,
    trimmed_text_pattern,
)
from minifb.models.notification import NotificationType
from minifb.models.user import FriendRequestPolicy, MessagesPolicy

USERNAME_RE = re.compile(r"[A-Za-z0-9_]{3,30}")
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
    # Checked before lower-casing, which would turn the Kelvin sign into a "k".
    value = value.strip()
    if not USERNAME_RE.fullmatch(value):
        raise ValueError("3 to 30 characters of a-z, 0-9 and _")
    value = value.lower()
    if value in RESERVED_USERNAMES:
        raise ValueError("this username is reserved")
    return value


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be blank")
    return value


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in word)


# Surrounding whitespace is trimmed, case is folded; reserved names are refused.
_RESERVED = "|".join(_any_case(name) for name in sorted(RESERVED_USERNAMES))
USERNAME_PATTERN = rf"^\s*(?!(?:{_RESERVED})\s*$)[A-Za-z0-9_]{{3,30}}\s*$"

Username = Annotated[
    Text,
    Field(
        min_length=3,
        max_length=30,
        description="3 to 30 letters (a-z, kept in lower case), digits and _; "
        "not a reserved name such as `admin`.",
        json_schema_extra={"pattern": USERNAME_PATTERN},
    ),
    AfterValidator(_username),
]
DisplayName = Annotated[
    Text,
    Field(
        min_length=1,
        max_length=64,
        description="Up to 64 characters, trimmed of surrounding whitespace, not blank; "
        "no control characters but newline and tab.",
        json_schema_extra={"pattern": trimmed_text_pattern(CONTROL)},
    ),
    AfterValidator(str.strip),
    AfterValidator(_not_blank),
    AfterValidator(no_control),
]
Bio = Annotated[
    Text,
    Field(
        max_length=500,
        description="Up to 500 characters; no control characters but newline and tab.",
        json_schema_extra={"pattern": f"^[^{CONTROL}]*$"},
    ),
    AfterValidator(no_control),
]


USER_EXAMPLE: dict[str, Any] = {
    "id": "170412345678901234",
    "username": "ada",
    "display_name": "Ada Lovelace",
    "bio": "Poet of numbers.",
    "avatar_url": None,
    "created_at": "2026-01-02T10:30:00Z",
}
PERSON_EXAMPLE: dict[str, Any] = {**USER_EXAMPLE, "mutual_friends": 3}
USER_ME_EXAMPLE: dict[str, Any] = {
    **USER_EXAMPLE,
    "email": "ada@example.com",
    "settings": {
        "friend_requests_from": "everyone",
        "messages_from": "friends",
        "active_status": True,
        "notifications": {t.value: True for t in NotificationType},
    },
}
OTHER_USER_EXAMPLE: dict[str, Any] = {
    **USER_EXAMPLE,
    "id": "170412345678905678",
    "username": "charles",
    "display_name": "Charles Babbage",
    "bio": "",
}


class NotificationSettings(BaseModel):
    """Which notifications you get, by type; a type turned off is neither kept nor pushed.
    A change names only the types it turns on or off."""

    model_config = ConfigDict(extra="forbid")

    friend_request: StrictBool = True
    friend_accepted: StrictBool = True
    post_comment: StrictBool = True
    comment_reply: StrictBool = True
    post_reaction: StrictBool = True
    mention: StrictBool = True

    @classmethod
    def muting(cls, muted: Collection[str]) -> NotificationSettings:
        return cls(**{t.value: t.value not in muted for t in NotificationType})


class UserSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)

    friend_requests_from: FriendRequestPolicy = Field(
        FriendRequestPolicy.everyone, description="Who may send you friend requests."
    )
    messages_from: MessagesPolicy = Field(
        MessagesPolicy.friends,
        description="Who may start a conversation with you or add you to one.",
    )
    active_status: StrictBool = Field(
        True,
        description=(
            "Whether your friends see when you are online and when you were last active. "
            "Turned off, you do not see theirs either."
        ),
    )
    notifications: NotificationSettings = Field(
        default_factory=NotificationSettings,
        description="Which notifications you get, by type.",
    )


class UserRead(ReadSchema):
    """A person as anyone allowed to see them sees them: never the email."""

    model_config = ConfigDict(json_schema_extra={"examples": [USER_EXAMPLE]})

    id: Id
    username: str
    display_name: str
    bio: str
    avatar_url: str | None
    created_at: datetime


class PersonRead(UserRead):
    """A person in a list, with how many friends they share with the viewer."""

    model_config = ConfigDict(json_schema_extra={"examples": [PERSON_EXAMPLE]})

    mutual_friends: int


class UserMe(UserRead):
    """A person as they see themselves."""

    model_config = ConfigDict(json_schema_extra={"examples": [USER_ME_EXAMPLE]})

    email: str
    settings: UserSettings


class UserUpdate(Schema):
    """`PATCH /users/me`: only these fields can change; anything else is refused.

    A field left out keeps its value; `null` is refused rather than read as
    "unchanged" (an empty bio is `""`).
    """

    model_config = ConfigDict(
        json_schema_extra=partial_update(
            {"display_name": "Ada King", "bio": "Countess of Lovelace."},
            {"settings": {"friend_requests_from": "friends_of_friends"}},
            {"settings": {"notifications": {"post_reaction": False}}},
            {"settings": {"active_status": False}},
            nullable=("avatar_media_id",),
        )
    )

    display_name: DisplayName | None = None
    bio: Bio | None = None
    settings: UserSettings | None = None
    avatar_media_id: BodyId | None = Field(
        None,
        description="Your own upload (`POST /media`) as your profile picture; null removes it.",
    )

    @field_validator("display_name", "bio", "settings")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Validators run only on given fields, so this refuses an explicit null.
        if value is None:
            raise ValueError("may be left out but not null")
        return value


class FriendRequestCreate(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"user_id": "170412345678905678"}]})

    user_id: BodyId = Field(description="The person to ask.")


class RequestDirection(enum.StrEnum):
    incoming = "incoming"
    outgoing = "outgoing"


class FriendRequestRead(ReadSchema):
    """A friend request. `status` is `accepted` when sending it met a request the
    other person had already sent, which made the two friends at once."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "170412345678909999",
                    "from_user": USER_EXAMPLE,
                    "to_user": OTHER_USER_EXAMPLE,
                    "created_at": "2026-01-03T08:00:00Z",
                    "status": "pending",
                }
            ]
        }
    )

    id: Id
    from_user: UserRead
    to_user: UserRead
    created_at: datetime
    status: Literal["pending", "accepted"] = "pending"
