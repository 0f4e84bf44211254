from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, String, Text, text, true
from sqlalchemy.orm import Mapped, mapped_column

from minifb.kit.db import Base, utcnow


class FriendRequestPolicy(enum.StrEnum):
    everyone = "everyone"
    friends_of_friends = "friends_of_friends"
    nobody = "nobody"


class MessagesPolicy(enum.StrEnum):
    everyone = "everyone"
    friends = "friends"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    # Stored lower-cased, so the unique index makes names unique ignoring case.
    username: Mapped[str] = mapped_column(String(30), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    bio: Mapped[str] = mapped_column(Text, default="")
    avatar_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    # The profile picture's media (docs/decisions/0123); `avatar_url` is the app's URL of it.
    avatar_media_id: Mapped[int | None] = mapped_column(default=None)
    friend_request_policy: Mapped[FriendRequestPolicy] = mapped_column(
        Enum(FriendRequestPolicy, native_enum=False, length=24),
        default=FriendRequestPolicy.everyone,
    )
    # The notification types this person turned off (`NotificationType` values).
    muted_notifications: Mapped[list[Any]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    messages_from: Mapped[MessagesPolicy] = mapped_column(
        Enum(MessagesPolicy, native_enum=False, length=16),
        default=MessagesPolicy.friends,
        server_default=MessagesPolicy.friends.value,
    )
    # Whether friends see when this person is online and was last active (and,
    # in return, whether they see their friends'); docs/decisions/0122.
    active_status: Mapped[bool] = mapped_column(default=True, server_default=true())
    # When their last stream socket closed; while one is open they are active now.
    last_active_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
