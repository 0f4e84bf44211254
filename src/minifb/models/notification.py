from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from minifb.kit.db import Base, utcnow


class NotificationType(enum.StrEnum):
    friend_request = "friend_request"
    friend_accepted = "friend_accepted"
    post_comment = "post_comment"
    comment_reply = "comment_reply"
    post_reaction = "post_reaction"
    mention = "mention"


class Notification(Base):
    """Something another person did that concerns `user_id`.

    `post_reaction` notifications are groups: while one is unread, a new reactor
    joins it (`actor_id` becomes the newest, `actor_count` grows) instead of
    making another; the partial unique index keeps one unread group per post.
    `position` orders the list: a new id at creation and at every such update,
    so an updated group comes back to the top.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_id_position", "user_id", "position"),
        # Those about a post or its comments go when it does (`handlers.forget`).
        Index("ix_notifications_post_id", "post_id"),
        Index(
            "uq_notifications_unread_reactions",
            "user_id",
            "post_id",
            unique=True,
            postgresql_where=text("type = 'post_reaction' AND read_at IS NULL"),
            sqlite_where=text("type = 'post_reaction' AND read_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[NotificationType] = mapped_column(
        Enum(NotificationType, native_enum=False, length=24)
    )
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    actor_count: Mapped[int] = mapped_column(default=1)
    # What it is about; no foreign keys: a post deleted meanwhile must not make the
    # consumer fail. The consumer removes them once the post or comment is deleted.
    post_id: Mapped[int | None] = mapped_column(default=None)
    comment_id: Mapped[int | None] = mapped_column(default=None)
    position: Mapped[int]
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationActor(Base):
    """Who is in a grouped notification, so a person counts once however often they act."""

    __tablename__ = "notification_actors"

    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), primary_key=True
    )
    actor_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
