"""Migrations build exactly the schema the models describe, and undo cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from minifb.migrations import downgrade, upgrade
from minifb.models import Base


async def _diff(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
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
