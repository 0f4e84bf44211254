from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from minifb.kit.db import Base, utcnow


class FriendRequest(Base):
    __tablename__ = "friend_requests"
    __table_args__ = (
        UniqueConstraint("from_user_id", "to_user_id"),
        CheckConstraint("from_user_id <> to_user_id", name="not_self"),
        Index("ix_friend_requests_to_user_id_id", "to_user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    from_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    to_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Friendship(Base):
    """One row per direction: (a, b) and (b, a), so every lookup is one index range."""

    __tablename__ = "friendships"
    __table_args__ = (
        CheckConstraint("user_id <> friend_id", name="not_self"),
        Index("ix_friendships_user_id_id", "user_id", "id"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    friend_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # Both directions share the id; it orders a friend list by recency.
    id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
