"""Database kernel: declarative base, engine and sessions, dialect helpers."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, MetaData, event, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {int: BigInteger, datetime: UTCDateTime}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Database:
    """The engine and session factory of one process."""

    def __init__(self, url: str, *, pool_size: int = 20, ca_cert: str | None = None) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        kwargs: dict[str, Any] = {}
        connect_args: dict[str, Any] = {}
        if self.dialect == "sqlite":
            connect_args["timeout"] = 30
        else:
            # Size the pool for the load instead of churning overflow connections.
            # No pre-ping: it is a round trip on every checkout; recycling bounds
            # how stale a pooled connection can get instead.
            kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=30, pool_recycle=1800)
            if ca_cert:
                # verify-full: the certificate chain and the host name are both checked.
                connect_args["ssl"] = ssl.create_default_context(cafile=ca_cert)
        self._pool_size = pool_size
        self._connect_args = connect_args
        self._direct: Any = None  # asyncpg pool for `fetch`, made on first use
        self._direct_lock = asyncio.Lock()
        self.engine: AsyncEngine = create_async_engine(url, connect_args=connect_args, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on error."""
        async with self.sessionmaker() as session:
            async with session.begin():
                yield session
                await run_before_commit(session)
            await run_after_commit(session)

    async def fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement outside any transaction and return its rows.

        For the hottest paths only: the SQL is the dialect's own (`$1` and
        arrays on PostgreSQL, `?1` and json_each on SQLite) and goes straight
        to the driver, skipping the ORM session, the BEGIN/COMMIT round trips
        and statement compilation (PERFORMANCE.md: 20 rows cost 0.10 of the
        bare ceiling through asyncpg, 0.034 through Core). On PostgreSQL one
        statement is atomic by itself, so a write (a CTE of inserts) may come
        here too; on SQLite nothing is committed, so only reads.
        """
        if self.dialect == "postgresql":
            pool = self._direct or await self._direct_pool()
            async with pool.acquire() as conn:
                return [tuple(r) for r in await conn.fetch(sql, *params)]
        async with self.engine.connect() as conn:
            return [tuple(r) for r in (await conn.exec_driver_sql(sql, params)).all()]

    async def _direct_pool(self) -> Any:
        import asyncpg

        async with self._direct_lock:
            if self._direct is None:
                dsn = make_url(self.url).set(drivername="postgresql")
                self._direct = await asyncpg.create_pool(
                    dsn.render_as_string(hide_password=False),
                    min_size=1,
                    max_size=self._pool_size,
                    # Only single read statements run here: nothing to reset on
                    # release, and the default reset is an extra round trip.
                    reset=_no_reset,
                    **self._connect_args,
                )
        return self._direct

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._direct is not None:
            await self._direct.close()
            self._direct = None
        await self.engine.dispose()


async def _no_reset(_: Any) -> None:
    return None


BEFORE_COMMIT_KEY = "minifb.before_commit"
AFTER_COMMIT_KEY = "minifb.after_commit"
log = logging.getLogger("minifb.db")


def before_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]]) -> None:
    """Run `callback` inside the transaction, just before it commits (writes batched
    until the end, such as the outbox rows)."""
    session.info.setdefault(BEFORE_COMMIT_KEY, []).append(callback)


async def run_before_commit(session: AsyncSession) -> None:
    for callback in session.info.pop(BEFORE_COMMIT_KEY, []):
        await callback()


def after_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]]) -> None:
    """Run `callback` once the session's transaction has committed (never on rollback).

    For side effects outside the database that must not get ahead of it, such
    as dropping a cache entry: dropped earlier, a concurrent reader could cache
    the old row again before the commit.
    """
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)


async def run_after_commit(session: AsyncSession) -> None:
    for callback in session.info.pop(AFTER_COMMIT_KEY, []):
        try:
            await callback()
        except Exception:
            # The change is committed; a failed follow-up must not turn it into an error.
            log.exception("after-commit callback failed")


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; busy_timeout makes writers queue.
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "busy_timeout=30000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def insert_ignore(session: AsyncSession, table: Any) -> Insert:
    """`INSERT ... ON CONFLICT DO NOTHING` for the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


__all__ = [
    "Base",
    "BigInteger",
    "Database",
    "UTCDateTime",
    "after_commit",
    "before_commit",
    "insert_ignore",
    "utcnow",
]
