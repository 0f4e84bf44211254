"""The schema check: behind the migrations' head it says so (once) and refuses readiness;
at the head it answers without I/O. On a database of the test's own, on either tier."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from minifb.adapters.resilience import Unavailable
from minifb.kit.db import Database
from minifb.kit.schema import SchemaCheck, SchemaOutdated, shipped_migrations
from minifb.migrations import downgrade, upgrade
from tests.fixtures.deadline import bounded

HEAD = ", ".join(sorted(shipped_migrations().heads))


@pytest.fixture
async def empty_db(unmigrated_database_url: str) -> AsyncIterator[Database]:
    database = Database(unmigrated_database_url)
    yield database
    await database.dispose()


def schema_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "minifb.schema"]


class TestShippedMigrations:
    def test_the_head_is_the_newest_migration_file(self) -> None:
        migrations = shipped_migrations()
        assert len(migrations.heads) == 1
        assert migrations.heads <= migrations.known
        assert len(migrations.known) >= 3


class TestAnUnmigratedDatabase:
    async def test_one_line_says_what_to_do(
        self, empty_db: Database, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="minifb.schema")
        check = SchemaCheck(empty_db)
        await check.start()
        for _ in range(3):
            with pytest.raises(SchemaOutdated) as refused:
                await check.ping()
        reason = f"database schema not migrated (head is {HEAD}): run `minifb db upgrade`"
        assert str(refused.value) == reason
        assert schema_lines(caplog) == [reason]
        assert not check.at_head

    async def test_ready_once_migrated_without_a_restart(
        self, empty_db: Database, unmigrated_database_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="minifb.schema")
        check = SchemaCheck(empty_db)
        await check.start()
        await asyncio.to_thread(upgrade, unmigrated_database_url)
        await check.ping()
        assert check.at_head
        assert schema_lines(caplog)[-1] == f"database schema now at the head {HEAD}: ready"

    async def test_at_the_head_it_reads_nothing_more(
        self, empty_db: Database, unmigrated_database_url: str
    ) -> None:
        await asyncio.to_thread(upgrade, unmigrated_database_url)
        check = SchemaCheck(empty_db)
        await check.start()
        assert check.at_head
        # Taken back a step behind its back: the check, done with, does not look again.
        await asyncio.to_thread(downgrade, unmigrated_database_url, "-1")
        await check.ping()


class TestADatabaseBehind:
    async def test_names_both_revisions(
        self, empty_db: Database, unmigrated_database_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        await asyncio.to_thread(upgrade, unmigrated_database_url)
        await asyncio.to_thread(downgrade, unmigrated_database_url, "-1")
        async with empty_db.begin() as conn:
            behind = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        assert behind is not None
        assert behind != HEAD
        caplog.set_level(logging.INFO, logger="minifb.schema")
        check = SchemaCheck(empty_db)
        await check.start()
        expected = f"database schema at {behind}, head is {HEAD}: run `minifb db upgrade`"
        assert schema_lines(caplog) == [expected]
        with pytest.raises(SchemaOutdated, match="run `minifb db upgrade`"):
            await check.ping()


class TestADatabaseAheadOfThisRelease:
    async def test_a_newer_release_s_revision_is_served(
        self, empty_db: Database, unmigrated_database_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        await asyncio.to_thread(upgrade, unmigrated_database_url)
        async with empty_db.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
        caplog.set_level(logging.INFO, logger="minifb.schema")
        check = SchemaCheck(empty_db)
        await check.start()
        assert check.at_head
        assert schema_lines(caplog) == [
            f"database schema at f00dfeed, newer than this release's head {HEAD}: serving"
        ]


class TestWaitingForTheMigrations:
    @bounded(60)
    async def test_the_wait_ends_once_they_have_run(
        self, empty_db: Database, unmigrated_database_url: str
    ) -> None:
        check = SchemaCheck(empty_db, poll_interval=0.05)
        await check.start()
        waiting = asyncio.create_task(check.wait())
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await asyncio.to_thread(upgrade, unmigrated_database_url)
        await waiting
        assert check.at_head

    @bounded(30)
    async def test_an_unreachable_database_is_read_again_later(self) -> None:
        unreachable = Database("postgresql+asyncpg://nobody@127.0.0.1:9/none", connect_timeout=0.5)
        try:
            check = SchemaCheck(unreachable)
            await check.start()  # says nothing of the schema: the database probe will
            with pytest.raises(Unavailable):
                await check.ping()
            assert not check.at_head
        finally:
            await unreachable.dispose()
