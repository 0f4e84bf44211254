from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from minifb.kit.db import Base, utcnow


class MediaStatus(enum.StrEnum):
    pending = "pending"  # a direct upload was offered; nothing checked yet
    ready = "ready"  # decoded, re-encoded, its renditions stored


class Media(Base):
    """One uploaded image: its two renditions under `key` in the storage.

    It is attached to at most one post or one message (`post_id`, `message_id`,
    set by those services through `media.service`); while it is attached to
    neither it is its owner's alone, and housekeeping removes it after a day.
    """

    __tablename__ = "media"
    __table_args__ = (
        Index("ix_media_owner_id_id", "owner_id", "id"),
        Index("ix_media_post_id", "post_id"),
        Index("ix_media_message_id", "message_id"),
        Index("ix_media_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[MediaStatus] = mapped_column(
        Enum(MediaStatus, native_enum=False, length=8), default=MediaStatus.ready
    )
    key: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(default=0)
    height: Mapped[int] = mapped_column(default=0)
    size: Mapped[int] = mapped_column(default=0)
    thumb_width: Mapped[int] = mapped_column(default=0)
    thumb_height: Mapped[int] = mapped_column(default=0)
    blurhash: Mapped[str | None] = mapped_column(String(64), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    # No foreign keys: a deleted post or message leaves its media with the owner alone.
    post_id: Mapped[int | None] = mapped_column(default=None)
    message_id: Mapped[int | None] = mapped_column(default=None)
    conversation_id: Mapped[int | None] = mapped_column(default=None)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
