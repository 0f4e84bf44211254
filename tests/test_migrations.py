"""Migrations build exactly the schema the models describe, and undo cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from minifb.migrations import downgrade, upgrade
from minifb.models import Base


def _modelled(name: str | None, type_: str, parent_names: Any) -> bool:
    # The search index's tables (FTS5 on SQLite, with its shadow tables) have no model:
    # only the search service's repository reads them (docs/decisions/0124).
    return not (type_ == "table" and name is not None and name.startswith("search_"))


async def _diff(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"include_name": _modelled}),
                    Base.metadata,
                )
            )
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


class TestMigrations:
    async def test_migrated_database_matches_the_models(self, database_url: str) -> None:
        # database_url is migrated by the test fixtures (SQLite or PostgreSQL).
        assert await _diff(database_url) == []

    def test_downgrade_to_base_and_upgrade_again(self, tmp_path: Path) -> None:
        import asyncio

        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        upgrade(url)
        downgrade(url, "base")
        assert asyncio.run(_tables(url)) <= {"alembic_version"}
        upgrade(url)
        assert set(Base.metadata.tables) <= asyncio.run(_tables(url))


async def _sql(url: str, *statements: str) -> list[Any]:
    """Run statements in one transaction; the rows of the last."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                result = await conn.execute(text(statement))
            return list(result) if result.returns_rows else []
    finally:
        await engine.dispose()


class TestMessagesMigration:
    def test_0005_gives_existing_people_friends_only_messages_and_undoes_cleanly(
        self, tmp_path: Path
    ) -> None:
        import asyncio

        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        upgrade(url, "0004")
        asyncio.run(
            _sql(
                url,
                "INSERT INTO users (id, username, email, display_name, bio, "
                "friend_request_policy, created_at, updated_at) VALUES (1, 'ada', "
                "'ada@example.com', 'Ada', '', 'everyone', '2026-01-01', '2026-01-01')",
            )
        )
        upgrade(url, "0005")
        rows = asyncio.run(_sql(url, "SELECT messages_from FROM users"))
        assert [tuple(row) for row in rows] == [("friends",)]
        assert {"conversations", "conversation_members", "messages"} <= asyncio.run(_tables(url))
        downgrade(url, "0004")
        assert not {"conversations", "conversation_members", "messages"} & asyncio.run(_tables(url))
        rows = asyncio.run(_sql(url, "SELECT username FROM users"))
        assert [tuple(row) for row in rows] == [("ada",)]
        columns = [row[1] for row in asyncio.run(_sql(url, "PRAGMA table_info(users)"))]
        assert "friend_request_policy" in columns
        assert "messages_from" not in columns
