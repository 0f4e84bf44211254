"""Ids for past moments, and rows written in bulk: the seed's plumbing.

Every seeded id is the snowflake of its row's own `created_at` millisecond,
so ids sort by time exactly as live ones do. SQLite gets Core `executemany`
per batch; PostgreSQL gets COPY (asyncpg's `copy_records_to_table`), several
times faster for the big tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import Base, Database
from minifb.kit.ids import EPOCH_MS, TIME_SHIFT

BATCH = 5_000  # rows per executemany / COPY and per progress step
POST_DAYS = 28  # posts spread over the last four weeks
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# phase name, rows added by this step, best known total of the phase
ProgressFn = Callable[[str, int, int], None]


def no_progress(phase: str, advance: int, total: int) -> None:
    return None


LOW_BITS = TIME_SHIFT  # worker + sequence bits under the millisecond
LOW_MASK = (1 << LOW_BITS) - 1


def past_id(moment_ms: int, low: int) -> int:
    """The snowflake for Unix millisecond `moment_ms` with `low` in the worker+sequence bits."""
    if not 0 <= low <= LOW_MASK:
        raise ValueError(f"low bits must be in 0..{LOW_MASK}")
    return ((moment_ms - EPOCH_MS) << TIME_SHIFT) | low


class PastIds:
    """Ids for past moments of one table, in any order, never the same twice.

    The low 22 bits carry a counter that starts after the rows the table
    already has, so ids from one run and from earlier runs differ even in the
    same millisecond (up to 4,194,304 seeded rows per table).
    """

    def __init__(self, start: int) -> None:
        self._next = start

    def at(self, moment_ms: int) -> int:
        low = self._next & LOW_MASK
        self._next += 1
        return past_id(moment_ms, low)


def ms_to_datetime(moment_ms: int) -> datetime:
    # The same arithmetic as kit.ids.id_time, so created_at == id_time(id).
    return datetime.fromtimestamp(moment_ms / 1000, UTC)


async def count_rows(db: Database, model: type[Base]) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def bulk_insert(
    session: AsyncSession, model: type[Base], rows: Sequence[dict[str, Any]]
) -> None:
    """Insert `rows` (dicts with the same keys) the fastest way the dialect offers."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        conn = await session.connection()
        # The adapter opens its transaction on the first statement; COPY must run inside it.
        await conn.execute(text("SELECT 1"))
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        columns = list(rows[0])
        await driver.copy_records_to_table(
            model.__tablename__,
            records=[tuple(row[c] for c in columns) for row in rows],
            columns=columns,
        )
    else:
        await session.execute(insert(model), list(rows))
