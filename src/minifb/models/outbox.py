from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from minifb.kit.db import Base


class OutboxEvent(Base):
    """An event written in the transaction of the change it describes (DESIGN §4)."""

    __tablename__ = "outbox"
    # The relay reads unpublished rows in id order; a partial index keeps that scan tiny.
    __table_args__ = (
        Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(default=1)
    occurred_at: Mapped[datetime]
    actor_id: Mapped[int | None]
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime | None] = mapped_column(default=None)


class ProcessedEvent(Base):
    """Which consumer has handled which event, so a redelivery has no second effect."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    handled_at: Mapped[datetime]
