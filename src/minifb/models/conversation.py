from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from minifb.kit.db import Base, utcnow


class ConversationKind(enum.StrEnum):
    direct = "direct"
    group = "group"


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[ConversationKind] = mapped_column(
        Enum(ConversationKind, native_enum=False, length=8)
    )
    title: Mapped[str | None] = mapped_column(String(100), default=None)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # "low:high" of the two people of a direct conversation, so there is one per pair;
    # null for a group.
    pair_key: Mapped[str | None] = mapped_column(String(40), unique=True, default=None)
    last_message_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversationMember(Base):
    """A current member; leaving deletes the row, so a former member is an outsider."""

    __tablename__ = "conversation_members"
    # A person's conversations, newest activity first, are one index range.
    __table_args__ = (
        Index("ix_conversation_members_user_id_activity_id", "user_id", "activity_id"),
    )

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # The id of the conversation's latest message, or of the member's joining when
    # later: orders the member's list (ids are time-ordered and unique).
    activity_id: Mapped[int]
    last_read_message_id: Mapped[int | None] = mapped_column(default=None)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        # A resend with the same client id finds the first message.
        UniqueConstraint("conversation_id", "sender_id", "client_message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    client_message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
