from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from minifb.kit.db import Base, utcnow


class ReactionType(enum.StrEnum):
    like = "like"
    love = "love"
    haha = "haha"
    wow = "wow"
    sad = "sad"
    angry = "angry"


class TargetKind(enum.StrEnum):
    post = "post"
    comment = "comment"


class ReactionCounts:
    """One counter column per reaction type, changed in the reaction's own transaction."""

    like_count: Mapped[int] = mapped_column(default=0)
    love_count: Mapped[int] = mapped_column(default=0)
    haha_count: Mapped[int] = mapped_column(default=0)
    wow_count: Mapped[int] = mapped_column(default=0)
    sad_count: Mapped[int] = mapped_column(default=0)
    angry_count: Mapped[int] = mapped_column(default=0)


class Reaction(Base):
    """One person's reaction to one post or comment (a second one replaces it)."""

    __tablename__ = "reactions"
    __table_args__ = (
        UniqueConstraint("target_kind", "target_id", "user_id"),
        Index("ix_reactions_target_kind_target_id_id", "target_kind", "target_id", "id"),
        Index("ix_reactions_user_id_target_id", "user_id", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    target_kind: Mapped[TargetKind] = mapped_column(Enum(TargetKind, native_enum=False, length=8))
    target_id: Mapped[int]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[ReactionType] = mapped_column(Enum(ReactionType, native_enum=False, length=8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyKey(Base):
    """The first response to a request sent with `Idempotency-Key`, replayed for 24 hours."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of method, path and body: the same key with another body is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int]
    body: Mapped[bytes]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
