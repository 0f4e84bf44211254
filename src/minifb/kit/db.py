"""Database kernel: declarative base, engine and sessions, dialect helpers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    MetaData,
    String,
    bindparam,
    column,
    event,
    func,
    make_url,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, ExceptionContext, Result
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeDecorator

from minifb.adapters.resilience import CircuitBreaker, Unavailable
from minifb.kit.commit_hooks import EVENTS_KEY, run_after_commit, run_before_commit
from minifb.kit.outages import DATABASE, is_database_outage, is_unsent

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
    """The engine and session factory of one process, and the breaker of its database.

    Every way in (`session`, `transaction`, `begin`, `fetch`, `ping`) is
    bounded (connecting and waiting for a pooled connection time out within
    seconds), checks the breaker first and counts its outcome there: while the
    database keeps failing, calls are refused at once with `Unavailable`
    instead of each waiting out a connect, and a failure that means the
    database is gone comes out as `Unavailable` too (a 503 for requests).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 20,
        ca_cert: str | None = None,
        connect_timeout: float = 2.0,
        pool_timeout: float = 2.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        kwargs: dict[str, Any] = {}
        connect_args: dict[str, Any] = {}
        if self.dialect == "sqlite":
            connect_args["timeout"] = 30
        else:
            # Size the pool for the load instead of churning overflow connections.
            # No pre-ping: it is a round trip on every checkout; recycling bounds
            # how stale a pooled connection can get, and `_drop_closed` below
            # skips the ones the driver already knows are gone.
            kwargs.update(
                pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout, pool_recycle=1800
            )
            connect_args["timeout"] = connect_timeout
            if ca_cert:
                # verify-full: the certificate chain and the host name are both checked.
                connect_args["ssl"] = ssl.create_default_context(cafile=ca_cert)
        # A short cool-down, capped low: a trial against a database that refuses
        # costs one quick failure, and full service returns within about two
        # seconds of the database (DESIGN §8).
        self.breaker = breaker or CircuitBreaker(
            DATABASE, threshold=3, cooldown=0.5, max_cooldown=2.0
        )
        self._pool_size = pool_size
        self._pool_timeout = pool_timeout
        self._connect_args = connect_args
        self._direct: Any = None  # asyncpg pool for `fetch`, made on first use
        self._direct_lock = asyncio.Lock()
        self.engine: AsyncEngine = create_async_engine(url, connect_args=connect_args, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine.sync_engine, "checkout", _drop_closed)
            event.listen(self.engine.sync_engine, "handle_error", _outage_is_disconnect)
        self.sessionmaker = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=_CountedSession
        )
        self._events_committed: Callable[[Sequence[Mapping[str, Any]]], None] = _nothing

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session (no transaction opened for you) whose use counts in the breaker."""
        trial = self._admit()
        reached = False
        try:
            async with self.sessionmaker() as session:
                try:
                    yield session
                finally:
                    reached = bool(session.info.pop(REACHED_KEY, False))
        except BaseException as exc:
            failure = self._failed(exc, reached=reached, trial=trial)
            if failure is exc:
                raise
            raise failure from exc
        self._settle(reached=reached, trial=trial)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits (`commit`) on success and rolls back on error."""
        async with self.session() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await self.commit(session)

    async def commit(self, session: AsyncSession) -> None:
        """Commit the session's transaction: the one way a write commits.

        The before-commit hooks (the outbox rows go in here), the commit, the
        after-commit hooks (dropping what the cache holds of the change), then
        `committed`, which wakes the outbox relay if the transaction wrote
        events. The request's session, `transaction` and the consumers all
        commit here.
        """
        await run_before_commit(session)
        await session.commit()
        await run_after_commit(session)
        self.committed(session.info.pop(EVENTS_KEY, ()))

    def committed(self, events: Sequence[Mapping[str, Any]]) -> None:
        """The end of every commit: once it has committed, the outbox rows it wrote
        (`events`) go to the relay, which publishes them at once (docs/decisions/0125).

        `commit` ends here; so does a hot path that commits on its own, with no
        session (one statement through `fetch`, or a `begin` block): it calls this
        once its write has committed (docs/decisions/0108). A plain call, no await:
        the relay runs in its own task.
        """
        if events:
            self._events_committed(events)

    def on_events_committed(self, hand_over: Callable[[Sequence[Mapping[str, Any]]], None]) -> None:
        """Have `hand_over` called with the outbox rows of every commit that wrote some:
        the composition root hands in the relay's, so the kernel needs no relay of its own."""
        self._events_committed = hand_over

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a transaction (`engine.begin()`, counted in the breaker)."""
        trial = self._admit()
        reached = False
        try:
            async with self.engine.begin() as conn:
                reached = True
                yield conn
        except BaseException as exc:
            failure = self._failed(exc, reached=reached, trial=trial)
            if failure is exc:
                raise
            raise failure from exc
        self._settle(reached=reached, trial=trial)

    @asynccontextmanager
    async def driver_transaction(self) -> AsyncIterator[Any]:
        """PostgreSQL only: an asyncpg connection of `fetch`'s pool in a transaction,
        committed on success and rolled back on error (counted in the breaker).

        For a hot path whose statements must commit together but that would
        spend most of its time in SQLAlchemy (the outbox relay's claim, publish
        and mark); the SQL is PostgreSQL's own, as for `fetch`.
        """
        if self.dialect != "postgresql":
            raise RuntimeError("driver_transaction is PostgreSQL's")
        import asyncpg

        trial = self._admit()
        reached = False
        try:
            pool = self._direct or await self._direct_pool()
            async with pool.acquire(timeout=self._pool_timeout) as conn:
                reached = True
                try:
                    async with conn.transaction():
                        yield conn
                finally:
                    # The pool does not reset what it gets back (`_no_reset`): a
                    # connection whose rollback was cancelled is not reused. One the
                    # server ended is the pool's already (asyncpg's InterfaceError).
                    with contextlib.suppress(asyncpg.InterfaceError):
                        if conn.is_in_transaction():
                            conn.terminate()
        except BaseException as exc:
            failure = self._failed(exc, reached=reached, trial=trial)
            if failure is exc:
                raise
            raise failure from exc
        self._settle(reached=reached, trial=trial)

    async def fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement outside any transaction and return its rows.

        For the hottest paths only: the SQL is the dialect's own (`$1` and
        arrays on PostgreSQL, `?1` and json_each on SQLite) and goes straight
        to the driver, skipping the ORM session, the BEGIN/COMMIT round trips
        and statement compilation (docs/performance.md: moving the feed's
        reader's-ties query here, with two other changes, took GET /feed from
        0.011 to 0.038 of the bare ceiling). Writes come here too on
        PostgreSQL, where one statement is atomic by itself (`POST /posts`
        writes the post and its event as one CTE); on SQLite nothing is
        committed, so only reads.
        """
        trial = self._admit()
        reached = False
        try:
            if self.dialect == "sqlite":
                async with self.engine.connect() as conn:
                    reached = True
                    rows = (await conn.exec_driver_sql(sql, params)).all()
            else:
                pool = self._direct or await self._direct_pool()
                rows = await self._fetch_direct(pool, sql, params)
                reached = True
        except BaseException as exc:
            # Short of an outage, an error here is the database's answer (a constraint).
            failure = self._failed(exc, reached=True, trial=trial)
            if failure is exc:
                raise
            raise failure from exc
        self._settle(reached=reached, trial=trial)
        return [tuple(r) for r in rows]

    async def _fetch_direct(self, pool: Any, sql: str, params: tuple[Any, ...]) -> Any:
        for attempt in (1, 2):
            async with pool.acquire(timeout=self._pool_timeout) as conn:
                try:
                    return await conn.fetch(sql, *params)
                except Exception as exc:
                    # A pooled connection the server dropped (a restart), found out
                    # before anything was sent: once more, on a fresh connection.
                    if attempt == 2 or not is_unsent(exc):
                        raise
                    conn.terminate()
        raise AssertionError("unreachable")

    # The breaker's bookkeeping around each way in (inline rather than one more
    # context manager: `fetch` is on the hottest paths).

    def _admit(self) -> bool:
        """Raise `Unavailable` while the breaker is open; True if this call is its trial."""
        trial = self.breaker.state == "half-open"
        self.breaker.check()
        return trial

    def _settle(self, *, reached: bool, trial: bool) -> None:
        """Count a call that reached the database (whatever it answered) as its success;
        one that never did counts neither way."""
        if reached:
            self.breaker.success()
        elif trial:
            self.breaker.release()

    def _failed(self, exc: BaseException, *, reached: bool, trial: bool) -> BaseException:
        """The exception a failed call raises: a failure that means the database is
        down counts against it and becomes `Unavailable`; anything else it answered (a
        constraint violation, a deadlock) is its success; a cancelled call neither."""
        if not isinstance(exc, Exception):
            if trial:
                self.breaker.release()
            return exc
        if not is_database_outage(exc):
            self._settle(reached=reached, trial=trial)
            return exc
        self.breaker.failure()
        if isinstance(exc, Unavailable):
            return exc
        return Unavailable(DATABASE, retry_after=max(1.0, math.ceil(self.breaker.retry_after)))

    async def _direct_pool(self) -> Any:
        import asyncpg

        async with self._direct_lock:
            if self._direct is None:
                dsn = make_url(self.url).set(drivername="postgresql")
                self._direct = await asyncpg.create_pool(
                    dsn.render_as_string(hide_password=False),
                    # No floor of open connections: with one, the pool reconnects in
                    # the background while the database is down, logging a traceback
                    # per try. Connections open on demand and stay pooled.
                    min_size=0,
                    max_size=self._pool_size,
                    # Only single statements run here, each atomic by itself and
                    # leaving no session state: nothing to reset on release, and
                    # the default reset is an extra round trip.
                    reset=_no_reset,
                    **self._connect_args,
                )
        return self._direct

    async def warm(self, connections: int) -> int:
        """Open up to `connections` connections in each pool (the session's and
        `fetch`'s) before requests need them; how many opened in both.

        A server's first second at full rate otherwise opens them on the request
        path (a process forked on the database's side, then the driver's
        set-up): in the stream benchmark the slowest answer of that second was
        250-360 ms without, 140-150 ms with 10 opened ahead (docs/performance.md).
        Best effort and outside the breaker: a database that is down now is found
        by the first request instead. Nothing to open on SQLite.
        """
        if self.dialect != "postgresql" or connections <= 0:
            return 0
        count = min(connections, self._pool_size)

        async def sessions() -> int:
            async with contextlib.AsyncExitStack() as held:
                opened = await asyncio.gather(
                    *(held.enter_async_context(self.engine.connect()) for _ in range(count)),
                    return_exceptions=True,
                )
            return sum(1 for conn in opened if not isinstance(conn, BaseException))

        async def direct() -> int:
            pool = self._direct or await self._direct_pool()
            acquired = await asyncio.gather(
                *(pool.acquire(timeout=self._pool_timeout) for _ in range(count)),
                return_exceptions=True,
            )
            held = [conn for conn in acquired if not isinstance(conn, BaseException)]
            for conn in held:
                await pool.release(conn)
            return len(held)

        return min(await asyncio.gather(sessions(), direct()))

    async def ping(self) -> None:
        async with self.begin() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._direct is not None:
            await self._direct.close()
            self._direct = None
        await self.engine.dispose()


def _outage_is_disconnect(context: ExceptionContext) -> None:
    """Have SQLAlchemy drop the connection (and the pool's others) on any error that
    means the server went away, not only those the dialect recognises (its check
    misses a shutdown notice that arrived while the connection was idle)."""
    if not context.is_disconnect and is_database_outage(context.original_exception):
        context.is_disconnect = True
        context.invalidate_pool_on_disconnect = True


REACHED_KEY = "minifb.db_reached"


class _CountedSession(Session):
    """The sessions of `Database`: each notes when it got a connection (see `_settle`)."""


@event.listens_for(_CountedSession, "after_begin")
def _reached(session: Session, _transaction: Any, _connection: Any) -> None:
    session.info[REACHED_KEY] = True


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Skip a pooled connection the driver knows is closed, for a fresh one.

    A restarted server closes every connection; the driver notices as soon as
    the socket does, so this costs an attribute read, not the round trip a
    pre-ping would. The pool then connects anew (or fails, which the breaker
    counts). A connection that dies mid-statement still fails that statement
    (with `Unavailable`: whether it was written cannot be known).
    """
    if dbapi_connection.driver_connection.is_closed():
        # The others in the pool went with it (a restart closes them all): the pool
        # replaces each of them on its next checkout too.
        raise InvalidatePoolError("the pooled connection was closed by the server")


async def _no_reset(_: Any) -> None:
    return None


def _nothing(_: Sequence[Mapping[str, Any]]) -> None:
    return None


log = logging.getLogger("minifb.db")


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


def affected(result: Result[Any]) -> int:
    """How many rows an INSERT, UPDATE or DELETE changed (the one way to read it)."""
    return cast(CursorResult[Any], result).rowcount


async def driver_rows(session: AsyncSession, sql: str, params: Sequence[Any]) -> Sequence[Any]:
    """The rows of one raw statement (the dialect's own SQL, as `Database.fetch` takes)
    on the session's connection, in its transaction once one has begun.

    On PostgreSQL straight from asyncpg: its records, without SQLAlchemy's row
    objects, which were a seventh of the feed worker's time on a batch's
    audience (docs/performance.md). Each row unpacks like a tuple.
    """
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        rows: Sequence[Any] = await driver.fetch(sql, *params)
        return rows
    return (await conn.exec_driver_sql(sql, tuple(params))).all()


def insert_ignore(session: AsyncSession, table: Any) -> Insert:
    """`INSERT ... ON CONFLICT DO NOTHING` for the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def id_table(session: AsyncSession, ids: Iterable[int]) -> TableValuedAlias:
    """`ids` as a table of one column, `value`, bound as one value: an array on
    PostgreSQL (`unnest`), JSON text on SQLite (`json_each`).

    A statement using it has the same text however many ids there are. An
    `IN` list or a many-row `VALUES` is rendered anew for each count, and each
    text is one more statement the driver prepares and keeps (up to its cache
    size per pooled connection): a process's memory crept up for many minutes
    as batches of new sizes came by (docs/performance.md, "Soak").
    """
    values = list(ids)
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, values, type_=postgresql.ARRAY(BigInteger))
        return func.unnest(array).table_valued(column("value", BigInteger)).render_derived()
    as_json = bindparam(None, orjson.dumps(values).decode(), type_=String)
    return func.json_each(as_json).table_valued(column("value", BigInteger))


def among(
    session: AsyncSession,
    target: ColumnElement[Any] | QueryableAttribute[Any],
    ids: Collection[int],
) -> ColumnElement[bool]:
    """`target IN ids`, with one statement text for any number of ids (`id_table`)."""
    return target.in_(select(id_table(session, ids).c.value))


__all__ = [
    "Base",
    "BigInteger",
    "Database",
    "UTCDateTime",
    "affected",
    "among",
    "id_table",
    "insert_ignore",
    "utcnow",
]
