"""`GET /search` through HTTP, on the tier's own database index: FTS5 on the SQLite pass,
PostgreSQL full text on the PostgreSQL pass. Each class here is the contract both SQL
backends are held to (the same tests, run once per tier)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import API, Person, befriend, block, create_post, register
from tests.fixtures.events import settle


async def _search(
    client: httpx.AsyncClient, who: Person, q: str, type_: str = "all", **params: Any
) -> httpx.Response:
    return await client.get(
        f"{API}/search", params={"q": q, "type": type_, **params}, headers=who.headers
    )


async def _post_ids(client: httpx.AsyncClient, who: Person, q: str) -> list[str]:
    response = await _search(client, who, q, "posts", limit=100)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["posts"]["items"]]


async def _user_ids(client: httpx.AsyncClient, who: Person, q: str) -> list[str]:
    response = await _search(client, who, q, "users", limit=100)
    assert response.status_code == 200, response.text
    return [u["id"] for u in response.json()["users"]["items"]]


async def _every_page(client: httpx.AsyncClient, who: Person, q: str, section: str) -> list[str]:
    """The ids of every page of one section, two at a time, following the cursors."""
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await _search(client, who, q, section, **params)
        assert response.status_code == 200, response.text
        page = response.json()[section]
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


class TestPeople:
    async def test_username_and_display_name_prefixes_find_a_person(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        ana = await register(client, "anastasia_k", display_name="Ana Kovač")
        bob = await register(client, "bob", display_name="Robert Brown")
        await settle(app)
        assert await _user_ids(client, bob, "anas") == [ana.id]
        assert await _user_ids(client, bob, "kov") == [ana.id]
        assert await _user_ids(client, bob, "Ana Kov") == [ana.id]
        assert await _user_ids(client, ana, "rob bro") == [bob.id]
        assert await _user_ids(client, ana, "zzz") == []

    async def test_a_changed_display_name_is_found_by_its_new_words(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        ana = await register(client, "ana_s", display_name="Ana Smith")
        reader = await register(client)
        await settle(app)
        response = await client.patch(
            f"{API}/users/me", json={"display_name": "Ana Zelenko"}, headers=ana.headers
        )
        assert response.status_code == 200, response.text
        await settle(app)
        assert await _user_ids(client, reader, "zelen") == [ana.id]
        assert await _user_ids(client, reader, "smith") == []

    async def test_pages_follow_each_other_without_repeats(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        found = {(await register(client, f"pager_{i}", display_name="Pager")).id for i in range(5)}
        reader = await register(client)
        await settle(app)
        seen = await _every_page(client, reader, "pager", "users")
        assert len(seen) == len(set(seen)) == 5
        assert set(seen) == found


class TestPosts:
    async def test_words_find_posts_most_relevant_first(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author = await register(client)
        once = await create_post(client, author, "A walk by the river in spring, then lunch")
        twice = await create_post(client, author, "river river: kayaking the river")
        await create_post(client, author, "nothing to see here")
        await settle(app)
        assert await _post_ids(client, author, "river") == [twice["id"], once["id"]]
        assert await _post_ids(client, author, "river lunch") == [once["id"]]
        # Stemming: "walking" finds "walk".
        assert await _post_ids(client, author, "walking") == [once["id"]]

    async def test_equal_relevance_is_newest_first_and_pages_continue(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author = await register(client)
        posts = [await create_post(client, author, f"same words here {i}") for i in range(5)]
        await settle(app)
        newest_first = [p["id"] for p in reversed(posts)]
        assert await _post_ids(client, author, "same words") == newest_first
        assert await _every_page(client, author, "same words", "posts") == newest_first

    async def test_all_returns_both_sections(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        author = await register(client, "gardener", display_name="Gardener")
        post = await create_post(client, author, "gardener notes")
        await settle(app)
        body = (await _search(client, author, "gardener")).json()
        assert [u["id"] for u in body["users"]["items"]] == [author.id]
        assert [p["id"] for p in body["posts"]["items"]] == [post["id"]]
        only_posts = (await _search(client, author, "gardener", "posts")).json()
        assert only_posts["users"] is None


class TestTheIndexFollowsEvents:
    async def test_edits_and_deletions_reach_the_index(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author = await register(client)
        post = await create_post(client, author, "original wording")
        await settle(app)
        assert await _post_ids(client, author, "original") == [post["id"]]
        edited = await client.patch(
            f"{API}/posts/{post['id']}", json={"text": "revised wording"}, headers=author.headers
        )
        assert edited.status_code == 200, edited.text
        await settle(app)
        assert await _post_ids(client, author, "original") == []
        assert await _post_ids(client, author, "revised") == [post["id"]]
        deleted = await client.delete(f"{API}/posts/{post['id']}", headers=author.headers)
        assert deleted.status_code == 204
        await settle(app)
        assert await _post_ids(client, author, "revised") == []

    async def test_comments_are_not_searchable(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        author = await register(client)
        post = await create_post(client, author, "a post")
        response = await client.post(
            f"{API}/posts/{post['id']}/comments", json={"text": "zanzibar"}, headers=author.headers
        )
        assert response.status_code == 201, response.text
        await settle(app)
        assert await _post_ids(client, author, "zanzibar") == []


class TestVisibility:
    """The matrix: who finds whose post and whom, by visibility and ties."""

    @pytest.fixture
    async def cast(self, app: FastAPI, client: httpx.AsyncClient) -> dict[str, Any]:
        author = await register(client, "author_one", display_name="Matrix Author")
        friend = await register(client)
        stranger = await register(client)
        blocked = await register(client)
        blocker = await register(client)
        await befriend(client, author, friend)
        await block(client, author, blocked)
        await block(client, blocker, author)
        posts = {
            v: (await create_post(client, author, f"matrix {v}", visibility=v))["id"]
            for v in ("public", "friends", "only_me")
        }
        await settle(app)
        return {
            "author": author,
            "friend": friend,
            "stranger": stranger,
            "blocked": blocked,
            "blocker": blocker,
            "posts": posts,
        }

    @pytest.mark.parametrize(
        ("reader", "sees"),
        [
            ("author", {"public", "friends", "only_me"}),
            ("friend", {"public", "friends"}),
            ("stranger", {"public"}),
            ("blocked", set()),
            ("blocker", set()),
        ],
    )
    async def test_who_finds_which_post(
        self, client: httpx.AsyncClient, cast: dict[str, Any], reader: str, sees: set[str]
    ) -> None:
        found = set(await _post_ids(client, cast[reader], "matrix"))
        assert found == {cast["posts"][v] for v in sees}

    @pytest.mark.parametrize(
        ("reader", "finds"),
        [("friend", True), ("stranger", True), ("blocked", False), ("blocker", False)],
    )
    async def test_who_finds_the_author(
        self, client: httpx.AsyncClient, cast: dict[str, Any], reader: str, finds: bool
    ) -> None:
        found = await _user_ids(client, cast[reader], "matrix author")
        assert found == ([cast["author"].id] if finds else [])

    async def test_a_post_made_friends_only_leaves_strangers_results_at_once(
        self, app: FastAPI, client: httpx.AsyncClient, cast: dict[str, Any]
    ) -> None:
        response = await client.patch(
            f"{API}/posts/{cast['posts']['public']}",
            json={"visibility": "only_me"},
            headers=cast["author"].headers,
        )
        assert response.status_code == 200
        assert await _post_ids(client, cast["stranger"], "matrix") == []

    async def test_no_token_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{API}/search", params={"q": "x"})
        assert response.status_code == 401


HOSTILE = [
    '"',
    '"unbalanced',
    "*",
    "ana*",
    "NEAR(a b)",
    "a OR b",
    "a AND NOT b",
    "-river",
    "text:river",
    "&|!()",
    "'; DROP TABLE posts; --",
    "river:* & !lunch",
    "^river",
    "{river}",
    "😀🔥",
    "河 川",
    "\\",
    "%_",
    "a" * 200,
    "river " * 33,
]


class TestHostileQueries:
    @pytest.mark.parametrize("query", HOSTILE)
    @pytest.mark.parametrize("type_", ["users", "posts", "all"])
    async def test_any_text_is_results_never_an_error(
        self, app: FastAPI, client: httpx.AsyncClient, query: str, type_: str
    ) -> None:
        author = await register(client, "river_person", display_name="River Lunch")
        await create_post(client, author, "river lunch")
        await settle(app)
        response = await _search(client, author, query, type_)
        assert response.status_code == 200, response.text

    @pytest.mark.parametrize("query", ["a" * 201, "x" * 5000, ""])
    async def test_too_long_or_empty_is_422(self, client: httpx.AsyncClient, query: str) -> None:
        who = await register(client)
        response = await _search(client, who, query)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    @pytest.mark.parametrize(
        "cursor", ["x", "czE6MHgxLjBwKzA6MQ", "czE6bmFuOjE", "czE6MHgxLjBwKzA6MA", "!!!", "é" * 10]
    )
    async def test_a_cursor_not_issued_here_is_422(
        self, client: httpx.AsyncClient, cursor: str
    ) -> None:
        who = await register(client)
        # "czE6MHgxLjBwKzA6MQ" is s1:0x1.0p+0:1 (well formed) with type=all: refused too.
        response = await _search(client, who, "river", "all", cursor=cursor)
        assert response.status_code == 422
        bad_for_one = await _search(client, who, "river", "posts", cursor=cursor)
        if cursor == "czE6MHgxLjBwKzA6MQ":
            assert bad_for_one.status_code == 200
        else:
            assert bad_for_one.status_code == 422
