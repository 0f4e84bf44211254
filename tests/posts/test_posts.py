"""Posts: POST /posts, GET|PATCH|DELETE /posts/{id}, GET /users/{id}/posts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from minifb.posts.schemas import PostRead
from tests.factories import People, befriend, block, comment, create_post, react
from tests.fixtures.events import Events, settle
from tests.fixtures.http import API, assert_problem, get_json
from tests.fixtures.queries import QueryLog
from tests.posts.helpers import counts


async def timeline_ids(
    client: httpx.AsyncClient, author: Any, viewer: Any, **params: Any
) -> list[str]:
    body = await get_json(client, f"/users/{author.id}/posts", viewer, **params)
    return [post["id"] for post in body["items"]]


class TestCreate:
    async def test_answers_the_post(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        post = await create_post(client, alice, "  Hello\n\tworld  ", visibility="friends")
        PostRead.model_validate(post)
        assert post["text"] == "Hello\n\tworld"
        assert post["visibility"] == "friends"
        assert post["author"] == {
            "id": alice.id,
            "username": alice.username,
            "display_name": post["author"]["display_name"],
            "avatar_url": None,
        }
        assert post["media"] == []
        assert post["edited_at"] is None
        assert post["created_at"].endswith("Z")
        assert post["counts"] == {"comments": 0, "reactions": counts()}
        assert post["viewer_reaction"] is None
        assert await get_json(client, f"/posts/{post['id']}", alice) == post

    async def test_defaults_to_public(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert (await create_post(client, alice, media_ids=[]))["visibility"] == "public"

    async def test_emits_post_created(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        (alice,) = await people(1)
        post = await create_post(client, alice, visibility="only_me")
        (data,) = await events("post.created")
        assert data["post_id"] == post["id"]
        assert data["author_id"] == alice.id
        assert data["visibility"] == "only_me"
        assert data["created_at"][:19] == post["created_at"][:19]

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"text": ""},
            {"text": "   \n\t "},
            {"text": "x" * 5001},
            {"text": "bell \x07"},
            {"text": "nul \x00"},
            {"text": "del \x7f"},
            {"text": "ok", "visibility": "everyone"},
            {"text": "ok", "author_id": "1"},
            {"text": 5},
        ],
        ids=[
            "no-text",
            "empty",
            "blank",
            "too-long",
            "bell",
            "nul",
            "del",
            "bad-visibility",
            "extra-field",
            "not-a-string",
        ],
    )
    async def test_bad_bodies(
        self, client: httpx.AsyncClient, people: People, body: dict[str, Any]
    ) -> None:
        (alice,) = await people(1)
        response = await client.post(f"{API}/posts", json=body, headers=alice.headers)
        assert_problem(response, 422)
        assert await timeline_ids(client, alice, alice) == []

    async def test_longest_text(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        post = await create_post(client, alice, " " + "é" * 5000 + " ")
        assert len(post["text"]) == 5000

    async def test_media_that_is_not_yours_is_refused(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (alice,) = await people(1)
        response = await client.post(
            f"{API}/posts", json={"text": "hi", "media_ids": ["1"]}, headers=alice.headers
        )
        body = assert_problem(response, 422)
        assert body["errors"][0]["loc"] == ["body", "media_ids"]
        assert "your own upload" in body["errors"][0]["msg"]

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.post(f"{API}/posts", json={"text": "hi"}), 401)


class TestGet:
    async def test_missing_and_bad_ids(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert_problem(await client.get(f"{API}/posts/1", headers=alice.headers), 404)
        assert_problem(await client.get(f"{API}/posts/abc", headers=alice.headers), 422)
        assert_problem(await client.get(f"{API}/posts/0", headers=alice.headers), 422)
        assert_problem(await client.get(f"{API}/posts/{2**63}", headers=alice.headers), 422)

    async def test_needs_a_token(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        post = await create_post(client, alice)
        assert_problem(await client.get(f"{API}/posts/{post['id']}"), 401)

    async def test_shows_counts_and_own_reaction(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob, carol = await people(3)
        post = await create_post(client, alice)
        await get_json(client, f"/posts/{post['id']}", bob)  # cached before the changes
        await react(client, bob, f"posts/{post['id']}", "love")
        await react(client, carol, f"posts/{post['id']}", "like")
        await comment(client, carol, post["id"])
        seen = await get_json(client, f"/posts/{post['id']}", bob)
        assert seen["counts"] == {"comments": 1, "reactions": counts(love=1, like=1)}
        assert seen["viewer_reaction"] == "love"
        assert (await get_json(client, f"/posts/{post['id']}", alice))["viewer_reaction"] is None


class TestUpdate:
    async def test_changes_text_and_visibility(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice, "first")
        await get_json(client, f"/posts/{post['id']}", bob)  # cached before the edit
        response = await client.patch(
            f"{API}/posts/{post['id']}",
            json={"text": " second ", "visibility": "friends"},
            headers=alice.headers,
        )
        assert response.status_code == 200, response.text
        edited = response.json()
        assert edited["text"] == "second"
        assert edited["visibility"] == "friends"
        assert edited["edited_at"] is not None
        assert await get_json(client, f"/posts/{post['id']}", alice) == edited
        # Bob is no friend: the post is gone for him.
        assert_problem(await client.get(f"{API}/posts/{post['id']}", headers=bob.headers), 404)
        (data,) = await events("post.updated")
        assert data["post_id"] == post["id"]
        assert data["fields"] == ["text", "visibility"]
        assert (data["visibility"], data["previous_visibility"]) == ("friends", "public")

    async def test_text_only_keeps_visibility(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (alice,) = await people(1)
        post = await create_post(client, alice, visibility="only_me")
        response = await client.patch(
            f"{API}/posts/{post['id']}", json={"text": "new"}, headers=alice.headers
        )
        assert response.json()["visibility"] == "only_me"
        assert response.json()["text"] == "new"

    @pytest.mark.parametrize(
        "body",
        [
            {"text": "x", "author_id": "1"},
            {"created_at": "2020-01-01T00:00:00Z"},
            {"media_ids": []},
            {"text": None},
            {"visibility": None},
            {"text": ""},
            {"text": "a\x1bb"},
            {"visibility": "secret"},
        ],
    )
    async def test_bad_bodies(
        self, client: httpx.AsyncClient, people: People, body: dict[str, Any]
    ) -> None:
        (alice,) = await people(1)
        post = await create_post(client, alice, "keep")
        response = await client.patch(f"{API}/posts/{post['id']}", json=body, headers=alice.headers)
        assert_problem(response, 422)
        assert (await get_json(client, f"/posts/{post['id']}", alice)) == post

    async def test_others_visible_post_is_403(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice, "mine")
        response = await client.patch(
            f"{API}/posts/{post['id']}", json={"text": "hacked"}, headers=bob.headers
        )
        assert_problem(response, 403)
        assert (await get_json(client, f"/posts/{post['id']}", alice))["text"] == "mine"

    async def test_others_hidden_post_is_404(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice, "mine", visibility="friends")
        for method in ("PATCH", "DELETE"):
            response = await client.request(
                method, f"{API}/posts/{post['id']}", json={"text": "x"}, headers=bob.headers
            )
            assert_problem(response, 404)

    async def test_missing_and_unauthenticated(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (alice,) = await people(1)
        assert_problem(
            await client.patch(f"{API}/posts/1", json={"text": "x"}, headers=alice.headers), 404
        )
        assert_problem(await client.patch(f"{API}/posts/1", json={"text": "x"}), 401)


class TestDelete:
    async def test_removes_everything(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice)
        top = await comment(client, bob, post["id"])
        await comment(client, alice, post["id"], parent_id=top["id"])
        await react(client, bob, f"posts/{post['id']}")
        await react(client, alice, f"comments/{top['id']}")
        await get_json(client, f"/posts/{post['id']}", bob)  # cached
        response = await client.delete(f"{API}/posts/{post['id']}", headers=alice.headers)
        assert response.status_code == 204, response.text
        for who in (alice, bob):
            for path in (
                f"/posts/{post['id']}",
                f"/posts/{post['id']}/comments",
                f"/posts/{post['id']}/reactions",
                f"/comments/{top['id']}/reactions",
            ):
                response = await client.get(API + path, headers=who.headers)
                assert_problem(response, 404)
            assert await timeline_ids(client, alice, who) == []
        again = await client.delete(f"{API}/posts/{post['id']}", headers=alice.headers)
        assert_problem(again, 404)
        assert [e["post_id"] for e in await events("post.deleted")] == [post["id"]]

    async def test_others_post_is_403(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice)
        assert_problem(await client.delete(f"{API}/posts/{post['id']}", headers=bob.headers), 403)
        assert await get_json(client, f"/posts/{post['id']}", alice) == post

    async def test_needs_a_token(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.delete(f"{API}/posts/1"), 401)


class TestTimeline:
    async def test_newest_first_in_pages(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        posted = [(await create_post(client, alice, f"post {n}"))["id"] for n in range(5)]
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            body = await get_json(client, f"/users/{alice.id}/posts", bob, **params)
            assert len(body["items"]) <= 2
            seen += [p["id"] for p in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == posted[::-1]

    async def test_only_what_the_viewer_may_see(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, friend, stranger = await people(3)
        await befriend(client, alice, friend)
        public = (await create_post(client, alice, visibility="public"))["id"]
        friends = (await create_post(client, alice, visibility="friends"))["id"]
        only_me = (await create_post(client, alice, visibility="only_me"))["id"]
        assert await timeline_ids(client, alice, alice) == [only_me, friends, public]
        assert await timeline_ids(client, alice, friend) == [friends, public]
        assert await timeline_ids(client, alice, stranger) == [public]

    async def test_blocked_or_missing_person_is_404(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob = await people(2)
        await create_post(client, alice)
        await block(client, alice, bob)
        for viewer, author in ((bob, alice), (alice, bob)):
            response = await client.get(f"{API}/users/{author.id}/posts", headers=viewer.headers)
            assert_problem(response, 404)
        assert_problem(await client.get(f"{API}/users/1/posts", headers=alice.headers), 404)

    async def test_refusals(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert_problem(await client.get(f"{API}/users/{alice.id}/posts"), 401)
        for params in ({"limit": 0}, {"limit": 101}, {"cursor": "!!"}):
            response = await client.get(
                f"{API}/users/{alice.id}/posts", params=params, headers=alice.headers
            )
            assert_problem(response, 422)
        assert_problem(await client.get(f"{API}/users/x/posts", headers=alice.headers), 422)

    @pytest.mark.parametrize("warm", [False, True], ids=["cold-cache", "warm-cache"])
    async def test_query_count_does_not_grow_with_the_page(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        people: People,
        queries: QueryLog,
        warm: bool,
    ) -> None:
        alice, bob, carol = await people(3)
        await befriend(client, alice, bob)
        for n in range(40):
            post = await create_post(
                client, alice, f"post {n}", visibility="friends" if n % 2 else "public"
            )
            if n % 3 == 0:
                await react(client, bob, f"posts/{post['id']}")
        del carol
        used: dict[int, int] = {}
        for limit in (5, 40):
            if warm:
                await get_json(client, f"/users/{alice.id}/posts", bob, limit=limit)
            await settle(app)
            queries.clear()
            queries.recording = True
            body = await get_json(client, f"/users/{alice.id}/posts", bob, limit=limit)
            queries.recording = False
            assert len(body["items"]) == limit
            used[limit] = len(queries.selects())
        assert used[5] == used[40]
        # Cold, one more: the images of the posts the cache missed (media.cards_of_posts).
        assert used[40] <= (3 if warm else 5)


class TestCachedMeta:
    @pytest.mark.parametrize(
        "text",
        ["plain", 'says "visibility":"public" inside', '"author":{"id":"1"} too', '\\"\n\t'],
    )
    def test_author_and_visibility_read_from_a_cached_body(self, text: str) -> None:
        from datetime import UTC, datetime

        from minifb.models.post import Visibility
        from minifb.posts import rendering
        from minifb.posts.repository import PostRow

        post = PostRow(
            id=42,
            author_id=987654321,
            username="u",
            display_name='Dis"play',
            avatar_url=None,
            text=text,
            visibility=Visibility.only_me,
            created_at=datetime.now(UTC),
        )
        assert rendering.meta_of(rendering._body(post)) == (987654321, "only_me")
