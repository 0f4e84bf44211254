"""Rebuilding the index from the tables: the service's `reindex` on the tier's database,
and `minifb search reindex` on a seeded SQLite file."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from minifb.cli import app as cli
from minifb.search import service
from tests.factories import API, create_post, register
from tests.fixtures.events import settle


class TestReindex:
    async def test_a_cleared_index_is_rebuilt_in_batches(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author = await register(client, "rebuilder", display_name="Re Builder")
        posts = [await create_post(client, author, f"rebuild item {i}") for i in range(5)]
        await settle(app)
        container = app.state.container
        async with container.db.transaction() as session:
            await container.search.clear(session)

        async def found() -> tuple[list[str], list[str]]:
            body = (
                await client.get(
                    f"{API}/search", params={"q": "rebuild", "limit": 50}, headers=author.headers
                )
            ).json()
            users = (
                await client.get(
                    f"{API}/search",
                    params={"q": "rebuilder", "type": "users"},
                    headers=author.headers,
                )
            ).json()["users"]
            return [u["id"] for u in users["items"]], [p["id"] for p in body["posts"]["items"]]

        assert await found() == ([], [])
        batches: list[tuple[str, int]] = []
        counted: list[tuple[int, int]] = []
        done = await service.reindex(
            container.db,
            container.search,
            batch=2,
            totals=lambda people, posts_: counted.append((people, posts_)),
            progress=lambda kind, n: batches.append((kind, n)),
        )
        assert done == (1, 5) == counted[0]
        if not container.settings.is_sqlite:
            # Analysed once rebuilt: the planner knows how many posts the index holds.
            async with container.db.transaction() as session:
                estimate = await session.scalar(
                    text("SELECT reltuples FROM pg_class WHERE relname = 'search_posts'")
                )
            assert estimate == 5
        assert batches == [("people", 1), ("posts", 2), ("posts", 2), ("posts", 1)]
        assert await found() == ([author.id], [p["id"] for p in reversed(posts)])
        # Again: the same index, not twice the hits.
        await service.reindex(container.db, container.search, batch=3)
        assert await found() == ([author.id], [p["id"] for p in reversed(posts)])


runner = CliRunner()


class TestCommand:
    def test_reindex_indexes_what_the_seed_wrote(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "var" / "cli.db"
        monkeypatch.setenv("MINIFB_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
        assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
        seeded = runner.invoke(cli, ["seed", "--users", "20", "--posts-per-user", "2"])
        assert seeded.exit_code == 0, seeded.output
        result = runner.invoke(cli, ["search", "reindex", "--batch", "7"])
        assert result.exit_code == 0, result.output
        engine = create_engine(f"sqlite:///{path}")
        try:
            with engine.connect() as conn:
                posts = conn.scalar(text("SELECT count(*) FROM posts"))
                indexed_posts = conn.scalar(text("SELECT count(*) FROM search_posts"))
                indexed_people = conn.scalar(text("SELECT count(*) FROM search_people"))
                found = conn.scalar(
                    text("SELECT count(*) FROM search_people WHERE search_people MATCH 'demo*'")
                )
        finally:
            engine.dispose()
        assert f"indexed 20 people and {posts} posts" in result.output
        assert indexed_posts == posts
        assert indexed_people == found == 20

    def test_reindex_on_an_unmigrated_database_says_to_upgrade(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "var" / "none.db"
        monkeypatch.setenv("MINIFB_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
        result = runner.invoke(cli, ["search", "reindex"])
        assert result.exit_code != 0
        assert "minifb db upgrade" in result.output
