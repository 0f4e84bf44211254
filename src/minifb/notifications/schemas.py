from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, JsonValue

from minifb.kit.schemas import BodyId, Id, ReadSchema, Schema
from minifb.models.notification import NotificationType

ACTOR_EXAMPLE: dict[str, Any] = {
    "id": "170412345678905678",
    "username": "ana",
    "display_name": "Ana Lima",
    "avatar_url": None,
}
NOTIFICATION_EXAMPLE: dict[str, Any] = {
    "id": "170412345678907777",
    "type": "post_reaction",
    "actor": ACTOR_EXAMPLE,
    "actor_count": 4,
    "text": "Ana Lima and 3 others reacted to your post.",
    "post_id": "170412345678901111",
    "comment_id": None,
    "read": False,
    "created_at": "2026-01-03T08:00:00Z",
    "updated_at": "2026-01-03T09:15:00Z",
}

MARK_READ_EXAMPLES: list[JsonValue] = [{}, {"up_to_id": "170412345678907777"}]


class ActorRead(ReadSchema):
    """Who did it (the newest of them, for a group)."""

    id: Id
    username: str
    display_name: str
    avatar_url: str | None


class NotificationRead(ReadSchema):
    """Something another person did that concerns you.

    `post_reaction` notifications group the reactions to one post while unread:
    `actor` is the newest reactor and `actor_count` how many people reacted.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [NOTIFICATION_EXAMPLE]})

    id: Id
    type: NotificationType = Field(
        description="`friend_request`, `friend_accepted`, `post_comment` (on your post), "
        "`comment_reply` (to your comment), `post_reaction` (to your post) or `mention`."
    )
    actor: ActorRead
    actor_count: int = Field(description="How many people it is about (1 but for groups).")
    text: str = Field(description="What happened, in words.")
    post_id: Id | None = Field(description="The post it is about, if any.")
    comment_id: Id | None = Field(description="The comment it is about, if any.")
    read: bool
    created_at: datetime
    updated_at: datetime = Field(description="When a group last grew (else `created_at`).")


class UnreadCount(ReadSchema):
    """How many of your notifications are unread."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"count": 3}]})

    count: int


class MarkRead(Schema):
    """`POST /notifications/read`: all of them, or those up to one (as listed: that one
    and everything below it)."""

    model_config = ConfigDict(json_schema_extra={"examples": MARK_READ_EXAMPLES})

    up_to_id: BodyId | None = Field(
        None, description="One of your notifications; left out, all of them."
    )


class PresenceRead(ReadSchema):
    """A friend's presence: online now, or when they were last active."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"user_id": "170412345678905678", "online": True, "last_active_at": None},
                {
                    "user_id": "170412345678901234",
                    "online": False,
                    "last_active_at": "2026-01-02T10:30:00Z",
                },
            ]
        }
    )

    user_id: Id
    online: bool = Field(description="Whether they have the app open now.")
    last_active_at: datetime | None = Field(
        description="When they last had it open, while offline (null when online, or never seen)."
    )
