from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from minifb.kit.db import Base


class DeadLetter(Base):
    """An event a consumer failed on after its last attempt, parked for an operator.

    One row per consumer and event: failing again after a retry updates it.
    `retried_at` is set when it was sent back and cleared if it fails again.
    """

    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("consumer", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    consumer: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int] = mapped_column(index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    # The envelope as the bus carried it, to put the event back if its outbox row is gone.
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int]
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime]
    retried_at: Mapped[datetime | None] = mapped_column(default=None)
