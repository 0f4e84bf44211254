from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from minifb.kit.db import Base, utcnow
from minifb.models.reaction import ReactionCounts


class Visibility(enum.StrEnum):
    public = "public"
    friends = "friends"
    only_me = "only_me"


class Post(ReactionCounts, Base):
    __tablename__ = "posts"
    # A timeline and a feed rebuild both read one author's posts newest first.
    __table_args__ = (Index("ix_posts_author_id_id", "author_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    visibility: Mapped[Visibility] = mapped_column(
        Enum(Visibility, native_enum=False, length=16), default=Visibility.public
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(default=None)
    # Kept in the change's own transaction, so a read never counts rows.
    comment_count: Mapped[int] = mapped_column(default=0)
