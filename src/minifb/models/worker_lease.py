from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from minifb.kit.db import Base


class WorkerLease(Base):
    """Which process holds which Snowflake worker id, and until when (kit.db_leases).

    `expires_ms` is milliseconds since 1970 by the database's clock, the one
    clock every process agrees on; a row past it is free to take.
    """

    __tablename__ = "worker_leases"

    worker_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(128))
    expires_ms: Mapped[int] = mapped_column(BigInteger)
