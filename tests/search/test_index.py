"""The database index and the indexing rules below the HTTP surface, on the tier's
database: words, idempotent writes, and late events reading the current rows."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import text

from minifb.adapters.search import PersonDoc, Viewer, words
from minifb.adapters.search.opensearch import OpenSearchIndex
from minifb.bootstrap import create_search_index
from minifb.config import Settings
from minifb.search import service
from minifb.search.repository import DatabaseIndex
from tests.factories import API, create_post, register
from tests.fixtures.events import settle


class TestWords:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ('"river" OR NEAR(lunch, 2)', ["river", "or", "near", "lunch", "2"]),
            ("-river:* & !lunch|(x)", ["river", "lunch", "x"]),
            ("ana_k Kovač", ["ana", "k", "kovač"]),
            ("😀 🔥 '\"*", []),
            ("河川 Straße", ["河川", "straße"]),
        ],
    )
    def test_only_letters_and_digits_make_words(self, query: str, expected: list[str]) -> None:
        assert words(query) == expected

    def test_at_most_32_words(self) -> None:
        assert len(words("w " * 100)) == 32


class TestDatabaseIndex:
    async def test_putting_twice_keeps_one_entry_and_removing_twice_is_fine(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        person = await register(client, "twice_put", display_name="Twice")
        await settle(app)
        container = app.state.container
        index, viewer = container.search, Viewer(int(person.id))
        doc = PersonDoc(int(person.id), "twice_put", "Twice Again")
        async with container.db.transaction() as session:
            await index.put_people(session, [doc])
            await index.put_people(session, [doc])
            hits = await index.people(session, ["twice"], viewer, limit=10)
            assert [h.id for h in hits] == [int(person.id)]
            assert await index.people(session, ["again"], viewer, limit=10) != []
            await index.remove_person(session, int(person.id))
            await index.remove_person(session, int(person.id))
            assert await index.people(session, ["twice"], viewer, limit=10) == []

    async def test_a_late_event_for_a_deleted_post_indexes_nothing(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author = await register(client)
        post = await create_post(client, author, "ephemeral words")
        await settle(app)
        container = app.state.container
        key = "rowid" if container.settings.is_sqlite else "post_id"
        count = text(f"SELECT count(*) FROM search_posts WHERE {key} = :id")  # noqa: S608
        params = {"id": int(post["id"])}
        async with container.db.transaction() as session:
            assert await session.scalar(count, params) == 1
        deleted = await client.delete(f"{API}/posts/{post['id']}", headers=author.headers)
        assert deleted.status_code == 204
        await settle(app)
        async with container.db.transaction() as session:
            assert await session.scalar(count, params) == 0
            # post.created replayed after the deletion: the row decides, not the event.
            await service.index_posts(session, container.search, [int(post["id"])])
            assert await session.scalar(count, params) == 0


class TestChoosingTheIndex:
    @pytest.mark.parametrize("url", ["database://", "auto"])
    def test_the_database_s_own_by_default(self, url: str) -> None:
        sqlite = Settings(_env_file=None, search_url=url)  # type: ignore[call-arg]
        index = create_search_index(sqlite)
        assert isinstance(index, DatabaseIndex)
        assert index.dialect == "sqlite"
        pg = sqlite.model_copy(update={"database_url": "postgresql+asyncpg://db/minifb"})
        assert create_search_index(pg).dialect == "postgresql"  # type: ignore[attr-defined]

    def test_an_opensearch_url_names_its_indexes_with_the_prefix(self) -> None:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            search_url="opensearch+https://search.example.com",
            search_index_prefix="prod",
        )
        index = create_search_index(settings)
        assert isinstance(index, OpenSearchIndex)
        assert (index.people_index, index.posts_index) == ("prod-people", "prod-posts")

    @pytest.mark.parametrize("prefix", ["", "Upper", "has space", "-dash", "x" * 42])
    def test_an_index_prefix_opensearch_would_refuse_is_a_settings_error(self, prefix: str) -> None:
        with pytest.raises(ValidationError, match="search_index_prefix"):
            Settings(_env_file=None, search_index_prefix=prefix)  # type: ignore[call-arg]


class TestTheRecentWindow:
    async def test_posts_are_ranked_among_the_newest_matches_only(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author = await register(client)
        oldest = await create_post(client, author, "window window window window")
        newer = [await create_post(client, author, f"window post {i}") for i in range(3)]
        await settle(app)
        container = app.state.container
        dialect = "sqlite" if container.settings.is_sqlite else "postgresql"
        viewer = Viewer(int(author.id))
        async with container.db.transaction() as session:
            everything = await DatabaseIndex(dialect).posts(session, ["window"], viewer, limit=10)
            recent = await DatabaseIndex(dialect, candidates=3).posts(
                session, ["window"], viewer, limit=10
            )
        # The oldest is the most relevant, so first while it is a candidate.
        assert everything[0].id == int(oldest["id"])
        assert len(everything) == 4
        assert {h.id for h in recent} == {int(p["id"]) for p in newer}
