"""The database's ways in: bounded in time, counted by its breaker, and only outages count."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from minifb.adapters.resilience import CircuitBreaker, Unavailable
from minifb.kit.db import Database, among, utcnow
from minifb.models import ProcessedEvent
from tests.fixtures.tiers import PG_SERVER_URL

needs_postgres = pytest.mark.skipif(
    not PG_SERVER_URL, reason="PostgreSQL behaviour (MINIFB_TEST_DATABASE_URL)"
)


def breaker(threshold: int = 3) -> CircuitBreaker:
    return CircuitBreaker("database", threshold=threshold, cooldown=30, max_cooldown=30)


@contextlib.asynccontextmanager
async def database(url: str, **options: object) -> AsyncIterator[Database]:
    db = Database(url, **options)  # type: ignore[arg-type]
    try:
        yield db
    finally:
        await db.dispose()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word (a hung server)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def _select_one(db: Database, way: str) -> None:
    if way == "fetch":
        await db.fetch("SELECT 1")
    else:
        async with db.transaction() as session:
            await session.execute(text("SELECT 1"))


WAYS = ["session", "fetch"]


class TestUnreachable:
    @pytest.mark.parametrize("way", WAYS)
    async def test_a_refused_connection_is_unavailable_and_opens_the_breaker(
        self, way: str
    ) -> None:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/minifb"
        async with asyncio.timeout(10), database(url, breaker=breaker()) as db:
            for _ in range(3):
                with pytest.raises(Unavailable) as caught:
                    await _select_one(db, way)
                assert caught.value.service == "database"
            assert db.breaker.state == "open"
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(Unavailable) as refused:
                await _select_one(db, way)
            assert loop.time() - started < 0.05  # refused without trying to connect
            assert refused.value.retry_after >= 1

    @pytest.mark.parametrize("way", WAYS)
    async def test_connecting_to_a_hung_server_gives_up_after_the_connect_timeout(
        self, way: str
    ) -> None:
        async with silent_server() as port:
            url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/minifb"
            async with database(url, connect_timeout=0.3, breaker=breaker()) as db:
                loop = asyncio.get_running_loop()
                started = loop.time()
                async with asyncio.timeout(5):
                    with pytest.raises(Unavailable):
                        await _select_one(db, way)
                assert loop.time() - started < 2.0


class TestWarm:
    @needs_postgres
    async def test_opens_connections_in_both_pools_up_to_the_pool_size(
        self, database_url: str
    ) -> None:
        async with database(database_url, pool_size=3) as db:
            assert await db.warm(5) == 3
            assert db.engine.pool.checkedin() == 3  # type: ignore[attr-defined]
            assert db._direct is not None
            assert db._direct.get_idle_size() == 3
            # Used afterwards as before.
            assert await db.fetch("SELECT 1") == [(1,)]

    async def test_a_database_that_is_down_opens_none_and_leaves_the_breaker_closed(
        self,
    ) -> None:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/minifb"
        async with asyncio.timeout(10), database(url, breaker=breaker(threshold=1)) as db:
            assert await db.warm(4) == 0
            assert db.breaker.state == "closed"

    async def test_sqlite_has_nothing_to_open(self, tmp_path: Path) -> None:
        async with database(f"sqlite+aiosqlite:///{tmp_path / 'warm.db'}") as db:
            assert await db.warm(4) == 0


class TestAnswers:
    async def test_constraint_violations_do_not_count_against_the_database(
        self, database_url: str
    ) -> None:
        async with database(database_url, breaker=breaker(threshold=1)) as db:
            for _ in range(3):
                with pytest.raises(IntegrityError):
                    await _insert_twice(db)
            assert db.breaker.state == "closed"

    @needs_postgres
    async def test_deadlocks_and_serialization_failures_do_not_count(
        self, database_url: str
    ) -> None:
        async with database(database_url, breaker=breaker(threshold=1)) as db:
            async with db.begin() as conn:
                await conn.execute(
                    text("CREATE TABLE IF NOT EXISTS probe_rows (id int PRIMARY KEY)")
                )
                await conn.execute(text("TRUNCATE probe_rows"))
                await conn.execute(text("INSERT INTO probe_rows VALUES (1), (2)"))
            try:
                failures = await asyncio.gather(
                    _deadlock(db, 1, 2), _deadlock(db, 2, 1), return_exceptions=True
                )
                assert any(_sqlstate(f) == "40P01" for f in failures), failures
                with pytest.raises(DBAPIError) as caught:
                    await _serialization_failure(db)
                assert _sqlstate(caught.value) == "40001"
                assert db.breaker.state == "closed"
            finally:
                async with db.begin() as conn:
                    await conn.execute(text("DROP TABLE probe_rows"))

    async def test_a_session_that_never_reached_the_database_frees_the_trial(
        self, database_url: str
    ) -> None:
        trial = CircuitBreaker("database", threshold=1, cooldown=0.01)
        async with database(database_url, breaker=trial) as db:
            trial.failure()
            await asyncio.sleep(0.02)
            async with db.session():
                assert trial.state == "half-open"
            assert trial.allow()  # the slot is free again, the breaker not closed by nothing
            trial.release()
            await _select_one(db, "session")
            assert trial.state == "closed"


@needs_postgres
class TestDriverTransaction:
    async def test_it_commits_on_success_and_rolls_back_on_error(self, database_url: str) -> None:
        # One pooled connection: what a failed transaction leaves on it, the next use meets.
        async with database(database_url, pool_size=1) as db:
            async with db.driver_transaction() as conn:
                await conn.execute("CREATE TABLE probe_driver (id int PRIMARY KEY)")
                await conn.execute("INSERT INTO probe_driver VALUES (1)")
            try:
                with pytest.raises(RuntimeError, match="on purpose"):
                    await _in_driver_transaction(db, "INSERT INTO probe_driver VALUES (2)", None)
                with pytest.raises(asyncpg.UniqueViolationError):
                    await _in_driver_transaction(
                        db,
                        "INSERT INTO probe_driver VALUES (3)",
                        "INSERT INTO probe_driver VALUES (1)",
                    )
                assert await db.fetch("SELECT id FROM probe_driver ORDER BY id") == [(1,)]
                assert db.breaker.state == "closed"
            finally:
                await db.fetch("DROP TABLE probe_driver")


async def _in_driver_transaction(db: Database, first: str, then: str | None) -> None:
    """Run `first`, then `then` (None: raise instead) in one driver transaction."""
    async with db.driver_transaction() as conn:
        await conn.execute(first)
        if then is None:
            raise RuntimeError("on purpose")
        await conn.execute(then)


async def test_a_driver_transaction_is_postgresql_s_alone(tmp_path: Path) -> None:
    async with database(f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}") as db:
        with pytest.raises(RuntimeError, match="PostgreSQL"):
            async with db.driver_transaction():
                pass


async def _insert_twice(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(text("CREATE TEMP TABLE IF NOT EXISTS probe (id int PRIMARY KEY)"))
        await session.execute(text("INSERT INTO probe VALUES (1)"))
        await session.execute(text("INSERT INTO probe VALUES (1)"))


def _sqlstate(error: BaseException) -> str | None:
    return getattr(getattr(error, "orig", None), "sqlstate", None)


async def _deadlock(db: Database, first: int, second: int) -> None:
    async with db.begin() as conn:
        await conn.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
        lock = text("SELECT id FROM probe_rows WHERE id = :id FOR UPDATE")
        await conn.execute(lock, {"id": first})
        await asyncio.sleep(0.2)
        await conn.execute(lock, {"id": second})


async def _serialization_failure(db: Database) -> None:
    async with db.begin() as conn:
        await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        await conn.execute(text("SELECT id FROM probe_rows"))
        async with db.begin() as other:
            await other.execute(text("UPDATE probe_rows SET id = 3 WHERE id = 2"))
        await conn.execute(text("UPDATE probe_rows SET id = 4 WHERE id = 2"))


@needs_postgres
class TestPool:
    @pytest.mark.parametrize("way", WAYS)
    async def test_waiting_for_a_pooled_connection_gives_up_after_the_pool_timeout(
        self, database_url: str, way: str
    ) -> None:
        async with database(database_url, pool_size=1, pool_timeout=0.3) as db:
            holding = asyncio.Event()

            async def hold() -> None:
                if way == "fetch":
                    holding.set()
                    await db.fetch("SELECT pg_sleep(1.5)")
                    return
                async with db.transaction() as session:
                    await session.execute(text("SELECT 1"))
                    holding.set()
                    await asyncio.sleep(1.5)

            async with asyncio.timeout(10):
                holder = asyncio.create_task(hold())
                await holding.wait()
                await asyncio.sleep(0.05)
                loop = asyncio.get_running_loop()
                started = loop.time()
                with pytest.raises(Unavailable):
                    await _select_one(db, way)
                assert loop.time() - started < 1.0
                await holder

    @pytest.mark.parametrize("way", WAYS)
    async def test_a_pooled_connection_the_server_ended_is_replaced_without_an_error(
        self, database_url: str, way: str
    ) -> None:
        async with database(database_url, pool_size=1, breaker=breaker(threshold=1)) as db:
            if way == "fetch":
                [(pid,)] = await db.fetch("SELECT pg_backend_pid()")
            else:
                async with db.transaction() as session:
                    pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            admin = await asyncpg.connect(database_url.replace("+asyncpg", "", 1))
            try:
                assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
            await asyncio.sleep(0.2)  # the server's goodbye reaches the idle connection
            await _select_one(db, way)
            assert db.breaker.state == "closed"


class TestAmong:
    async def test_it_finds_the_ids_given_with_one_statement_text_for_any_count(
        self, database_url: str
    ) -> None:
        """Big ids (past 2^53) come back exact, none is found twice, and one id, five or
        none are the same statement, so the driver prepares it once."""
        big = 2**62 + 1
        texts: list[str] = []
        async with database(database_url) as db:

            @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
            def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
                texts.append(statement)

            async with db.transaction() as session:
                at = utcnow()
                for event_id in (1, 2, 3, big):
                    session.add(ProcessedEvent(consumer="probe", event_id=event_id, handled_at=at))
                await session.flush()
                texts.clear()
                column = ProcessedEvent.event_id
                found = [
                    set(await session.scalars(select(column).where(among(session, column, ids))))
                    for ids in ([2], [1, 2, 2, big, 9], [])
                ]
        assert found == [{2}, {1, 2, big}, set()]
        assert len(texts) == 3
        assert len(set(texts)) == 1
