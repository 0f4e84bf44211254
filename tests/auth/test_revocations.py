"""The ended-logins list of one process: read from the database, never trusted blind.

tests/auth/test_ended_logins.py drives it over HTTP; these tests reach what a
request cannot: a late commit, expiry, and the database going away and back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from sqlalchemy import update

from minifb.auth.exceptions import EndedLoginsUnknown
from minifb.auth.revocations import Revocations
from minifb.bootstrap import Container
from minifb.kit.db import Database
from minifb.kit.outages import NotKnownYet
from minifb.models import AuthSession, Base
from tests.factories import register
from tests.fixtures.app import AppFactory

LOG_LINE = "could not read the ended logins"


async def _eventually(condition: Callable[[], bool], *, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.01)


def _knows(revocations: Revocations) -> bool:
    try:
        revocations.is_revoked(0)
    except EndedLoginsUnknown:
        return False
    return True


async def _login_ids(make_client: AppFactory) -> tuple[Database, int]:
    """The app's database and the session id of a fresh login in it."""
    app, client = await make_client()
    person = await register(client)
    claims = jwt.decode(person.access_token, options={"verify_signature": False})
    container: Container = app.state.container
    return container.db, int(claims["sid"])


async def _end(db: Database, session_id: int, *, ago: float) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id)
            .values(revoked_at=datetime.now(UTC) - timedelta(seconds=ago))
        )


@pytest.fixture
async def movable_db(tmp_path: Path) -> AsyncIterator[tuple[Database, Path]]:
    """A SQLite database whose folder the test can take away (an outage) and put back."""
    folder = tmp_path / "db"
    folder.mkdir()
    db = Database(f"sqlite+aiosqlite:///{folder / 'minifb.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield db, folder
    await db.dispose()


async def _take_away(db: Database, folder: Path) -> None:
    await asyncio.to_thread(folder.rename, folder.with_name("away"))
    # Then no open connection outlives the outage (disposed first, a poll could
    # open a new one before the folder went, and read through it all along).
    await db.engine.dispose()


async def _put_back(folder: Path) -> None:
    await asyncio.to_thread(folder.with_name("away").rename, folder)


class TestWhatItKnows:
    async def test_known_at_once_where_it_was_ended(self, make_client: AppFactory) -> None:
        db, _ = await _login_ids(make_client)
        here = Revocations(db, keep_seconds=900)
        await here.refresh()
        here.add([11, 12])
        assert here.is_revoked(11)
        assert here.is_revoked(12)
        assert not here.is_revoked(13)

    async def test_a_login_stamped_before_the_last_read_but_committed_after_is_seen(
        self, make_client: AppFactory
    ) -> None:
        db, sid = await _login_ids(make_client)
        there = Revocations(db, keep_seconds=900)
        await there.refresh()
        # Stamped 20 s ago (a slow transaction, or a host whose clock is behind),
        # visible only now: the next read still covers it.
        await _end(db, sid, ago=20)
        await there.refresh()
        assert there.is_revoked(sid)

    async def test_forgotten_once_every_token_of_the_login_has_expired(
        self, make_client: AppFactory
    ) -> None:
        db, sid = await _login_ids(make_client)
        await _end(db, sid, ago=1000)
        revocations = Revocations(db, keep_seconds=900)
        await revocations.refresh()
        assert not revocations.is_revoked(sid)

        short = Revocations(db, keep_seconds=0.2)
        await short.refresh()
        short.add([42])
        await asyncio.sleep(0.3)
        await short.refresh()
        assert not short.is_revoked(42)


class TestWhenTheDatabaseCannotBeRead:
    async def test_refuses_until_the_first_load_then_recovers_by_itself(
        self, movable_db: tuple[Database, Path]
    ) -> None:
        db, folder = movable_db
        await _take_away(db, folder)
        revocations = Revocations(db, keep_seconds=900, poll_interval=0.01, max_backoff=0.05)
        await revocations.start()
        try:
            with pytest.raises(EndedLoginsUnknown) as refused:
                revocations.is_revoked(1)
            assert refused.value.status == 503
            assert int(refused.value.headers["Retry-After"]) >= 1
            with pytest.raises(NotKnownYet):  # and readiness says no
                await revocations.check()
            await _put_back(folder)
            await _eventually(lambda: _knows(revocations))
            assert not revocations.is_revoked(1)
            await revocations.check()
        finally:
            await revocations.stop()

    async def test_a_short_outage_keeps_the_list_and_logs_once(
        self, movable_db: tuple[Database, Path], caplog: pytest.LogCaptureFixture
    ) -> None:
        db, folder = movable_db
        revocations = Revocations(
            db, keep_seconds=900, poll_interval=0.01, max_backoff=0.02, stale_after=60
        )
        await revocations.start()
        try:
            revocations.add([7])
            caplog.set_level(logging.WARNING, logger="minifb.auth")
            await _take_away(db, folder)
            await _eventually(lambda: LOG_LINE in caplog.text)
            await asyncio.sleep(0.3)  # many more failed polls
            assert revocations.is_revoked(7)
            assert not revocations.is_revoked(8)
            assert caplog.text.count(LOG_LINE) == 1
            await _put_back(folder)
            await _eventually(lambda: "read again" in caplog.text)
        finally:
            await revocations.stop()

    async def test_a_long_outage_refuses_every_token_until_the_database_answers(
        self, movable_db: tuple[Database, Path]
    ) -> None:
        db, folder = movable_db
        revocations = Revocations(
            db, keep_seconds=900, poll_interval=0.01, max_backoff=0.02, stale_after=0.2
        )
        await revocations.start()
        try:
            assert not revocations.is_revoked(7)
            await _take_away(db, folder)
            await _eventually(lambda: not _knows(revocations))
            with pytest.raises(NotKnownYet):
                await revocations.check()
            await _put_back(folder)
            await _eventually(lambda: _knows(revocations))
        finally:
            await revocations.stop()


class TestEveryProcess:
    async def test_other_processes_learn_it_on_refresh(self, make_client: AppFactory) -> None:
        db, sid = await _login_ids(make_client)
        here, there = Revocations(db, keep_seconds=900), Revocations(db, keep_seconds=900)
        await there.refresh()
        await _end(db, sid, ago=0)
        here.add([sid])
        assert not there.is_revoked(sid)
        await there.refresh()
        assert there.is_revoked(sid)

    async def test_a_new_process_loads_what_is_still_in_force(
        self, make_client: AppFactory
    ) -> None:
        db, sid = await _login_ids(make_client)
        await _end(db, sid, ago=600)
        late = Revocations(db, keep_seconds=900)
        await late.start()
        try:
            assert late.is_revoked(sid)
        finally:
            await late.stop()
