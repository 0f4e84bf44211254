"""Comments: POST|GET /posts/{id}/comments, PATCH|DELETE /comments/{id}."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from minifb.posts.schemas import CommentRead
from tests.factories import People, block, comment, create_post, react
from tests.fixtures.events import Events
from tests.fixtures.http import API, assert_problem, get_json
from tests.posts.helpers import counts


async def comment_ids(
    client: httpx.AsyncClient, post_id: str, who: Any, **params: Any
) -> list[str]:
    body = await get_json(client, f"/posts/{post_id}/comments", who, **params)
    return [c["id"] for c in body["items"]]


async def comment_count(client: httpx.AsyncClient, post_id: str, who: Any) -> int:
    post = await get_json(client, f"/posts/{post_id}", who)
    count: int = post["counts"]["comments"]
    return count


class TestCreate:
    async def test_answers_the_comment(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice)
        made = await comment(client, bob, post["id"], "  great\npost  ")
        CommentRead.model_validate(made)
        assert made["text"] == "great\npost"
        assert made["post_id"] == post["id"]
        assert made["parent_id"] is None
        assert made["author"]["id"] == bob.id
        assert made["counts"] == {"replies": 0, "reactions": counts()}
        assert made["viewer_reaction"] is None
        assert made["edited_at"] is None
        assert await comment_count(client, post["id"], alice) == 1
        (data,) = await events("comment.created")
        assert data["comment_id"] == made["id"]
        assert data["post_author_id"] == alice.id
        assert data["author_id"] == bob.id

    async def test_reply_to_a_reply_joins_the_top_comment(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice)
        top = await comment(client, bob, post["id"])
        reply = await comment(client, alice, post["id"], parent_id=top["id"])
        nested = await comment(client, bob, post["id"], parent_id=reply["id"])
        assert reply["parent_id"] == top["id"]
        assert nested["parent_id"] == top["id"]
        listed = await get_json(client, f"/posts/{post['id']}/comments", alice)
        assert [c["id"] for c in listed["items"]] == [top["id"]]
        assert listed["items"][0]["counts"]["replies"] == 2
        replies = await comment_ids(client, post["id"], alice, parent_id=top["id"])
        assert replies == [reply["id"], nested["id"]]
        assert await comment_count(client, post["id"], alice) == 3

    async def test_parent_on_another_post_is_422(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (alice,) = await people(1)
        one, two = await create_post(client, alice), await create_post(client, alice)
        elsewhere = await comment(client, alice, one["id"])
        for parent in (elsewhere["id"], "1"):
            response = await client.post(
                f"{API}/posts/{two['id']}/comments",
                json={"text": "hi", "parent_id": parent},
                headers=alice.headers,
            )
            assert_problem(response, 422)
        assert await comment_ids(client, two["id"], alice) == []

    @pytest.mark.parametrize(
        "body",
        [{}, {"text": " "}, {"text": "x" * 2001}, {"text": "a\x08"}, {"text": "a", "post_id": "1"}],
        ids=["no-text", "blank", "too-long", "control", "extra-field"],
    )
    async def test_bad_bodies(
        self, client: httpx.AsyncClient, people: People, body: dict[str, Any]
    ) -> None:
        (alice,) = await people(1)
        post = await create_post(client, alice)
        response = await client.post(
            f"{API}/posts/{post['id']}/comments", json=body, headers=alice.headers
        )
        assert_problem(response, 422)
        assert await comment_count(client, post["id"], alice) == 0

    async def test_longest_text(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        post = await create_post(client, alice)
        assert len((await comment(client, alice, post["id"], "y" * 2000))["text"]) == 2000

    async def test_missing_post_and_no_token(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (alice,) = await people(1)
        url = f"{API}/posts/1/comments"
        assert_problem(await client.post(url, json={"text": "x"}, headers=alice.headers), 404)
        assert_problem(await client.post(url, json={"text": "x"}), 401)
        bad = await client.post(
            f"{API}/posts/x/comments", json={"text": "x"}, headers=alice.headers
        )
        assert_problem(bad, 422)


class TestList:
    async def test_oldest_first_in_pages(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice)
        made = [(await comment(client, bob, post["id"], f"c{n}"))["id"] for n in range(5)]
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            body = await get_json(client, f"/posts/{post['id']}/comments", alice, **params)
            seen += [c["id"] for c in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == made

    async def test_shows_own_reaction(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice)
        made = await comment(client, bob, post["id"])
        await react(client, alice, f"comments/{made['id']}", "haha")
        (item,) = (await get_json(client, f"/posts/{post['id']}/comments", alice))["items"]
        assert item["viewer_reaction"] == "haha"
        assert item["counts"]["reactions"] == counts(haha=1)
        (item,) = (await get_json(client, f"/posts/{post['id']}/comments", bob))["items"]
        assert item["viewer_reaction"] is None

    async def test_hides_comments_of_blocked_people(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob, carol = await people(3)
        post = await create_post(client, alice)
        by_bob = await comment(client, bob, post["id"])
        by_carol = await comment(client, carol, post["id"])
        await block(client, carol, bob)
        assert await comment_ids(client, post["id"], carol) == [by_carol["id"]]
        assert await comment_ids(client, post["id"], bob) == [by_bob["id"]]
        assert await comment_ids(client, post["id"], alice) == [by_bob["id"], by_carol["id"]]
        # Nor can they act on each other's comments.
        for path in (f"/comments/{by_bob['id']}/reactions",):
            assert_problem(await client.get(API + path, headers=carol.headers), 404)
        reply = await client.post(
            f"{API}/posts/{post['id']}/comments",
            json={"text": "hey", "parent_id": by_bob["id"]},
            headers=carol.headers,
        )
        assert_problem(reply, 422)

    async def test_replies_of_a_foreign_comment_are_404(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (alice,) = await people(1)
        one, two = await create_post(client, alice), await create_post(client, alice)
        elsewhere = await comment(client, alice, one["id"])
        response = await client.get(
            f"{API}/posts/{two['id']}/comments",
            params={"parent_id": elsewhere["id"]},
            headers=alice.headers,
        )
        assert_problem(response, 404)

    async def test_refusals(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert_problem(await client.get(f"{API}/posts/1/comments", headers=alice.headers), 404)
        assert_problem(await client.get(f"{API}/posts/1/comments"), 401)
        post = await create_post(client, alice)
        for params in ({"limit": 0}, {"parent_id": "x"}, {"cursor": "nope"}):
            response = await client.get(
                f"{API}/posts/{post['id']}/comments", params=params, headers=alice.headers
            )
            assert_problem(response, 422)


class TestUpdate:
    async def test_author_edits(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice)
        made = await comment(client, bob, post["id"], "before")
        response = await client.patch(
            f"{API}/comments/{made['id']}", json={"text": " after "}, headers=bob.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["text"] == "after"
        assert response.json()["edited_at"] is not None
        (item,) = (await get_json(client, f"/posts/{post['id']}/comments", alice))["items"]
        assert item["text"] == "after"

    async def test_others_are_refused(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob, carol = await people(3)
        post = await create_post(client, alice)
        made = await comment(client, bob, post["id"], "bob's")
        url = f"{API}/comments/{made['id']}"
        # Even the post's author cannot edit someone's comment.
        assert_problem(await client.patch(url, json={"text": "x"}, headers=alice.headers), 403)
        assert_problem(await client.patch(url, json={"text": "x"}, headers=carol.headers), 403)
        await block(client, bob, carol)
        assert_problem(await client.patch(url, json={"text": "x"}, headers=carol.headers), 404)
        (item,) = (await get_json(client, f"/posts/{post['id']}/comments", alice))["items"]
        assert item["text"] == "bob's"

    @pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": "a", "parent_id": "1"}])
    async def test_bad_bodies(
        self, client: httpx.AsyncClient, people: People, body: dict[str, Any]
    ) -> None:
        (alice,) = await people(1)
        post = await create_post(client, alice)
        made = await comment(client, alice, post["id"])
        response = await client.patch(
            f"{API}/comments/{made['id']}", json=body, headers=alice.headers
        )
        assert_problem(response, 422)

    async def test_missing_and_no_token(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        url = f"{API}/comments/1"
        assert_problem(await client.patch(url, json={"text": "x"}, headers=alice.headers), 404)
        assert_problem(await client.patch(url, json={"text": "x"}), 401)


class TestDelete:
    async def test_top_comment_takes_its_replies(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice)
        top = await comment(client, bob, post["id"])
        reply = await comment(client, alice, post["id"], parent_id=top["id"])
        other = await comment(client, alice, post["id"])
        await react(client, alice, f"comments/{reply['id']}")
        assert await comment_count(client, post["id"], alice) == 3
        response = await client.delete(f"{API}/comments/{top['id']}", headers=bob.headers)
        assert response.status_code == 204, response.text
        assert await comment_ids(client, post["id"], alice) == [other["id"]]
        assert await comment_count(client, post["id"], alice) == 1
        for gone in (top, reply):
            response = await client.get(
                f"{API}/comments/{gone['id']}/reactions", headers=alice.headers
            )
            assert_problem(response, 404)

    async def test_reply_updates_counts(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice)
        top = await comment(client, bob, post["id"])
        reply = await comment(client, bob, post["id"], parent_id=top["id"])
        response = await client.delete(f"{API}/comments/{reply['id']}", headers=bob.headers)
        assert response.status_code == 204, response.text
        (item,) = (await get_json(client, f"/posts/{post['id']}/comments", alice))["items"]
        assert item["counts"]["replies"] == 0
        assert await comment_count(client, post["id"], alice) == 1

    async def test_post_author_may_delete(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        post = await create_post(client, alice)
        made = await comment(client, bob, post["id"])
        response = await client.delete(f"{API}/comments/{made['id']}", headers=alice.headers)
        assert response.status_code == 204, response.text
        assert await comment_ids(client, post["id"], bob) == []

    async def test_others_are_refused(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob, carol = await people(3)
        post = await create_post(client, alice)
        made = await comment(client, bob, post["id"])
        url = f"{API}/comments/{made['id']}"
        assert_problem(await client.delete(url, headers=carol.headers), 403)
        await block(client, carol, bob)
        assert_problem(await client.delete(url, headers=carol.headers), 404)
        assert await comment_ids(client, post["id"], alice) == [made["id"]]

    async def test_missing_and_no_token(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert_problem(await client.delete(f"{API}/comments/1", headers=alice.headers), 404)
        assert_problem(await client.delete(f"{API}/comments/1"), 401)
        assert_problem(await client.delete(f"{API}/comments/abc", headers=alice.headers), 422)
