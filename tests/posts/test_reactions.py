"""Reactions: PUT|DELETE .../reaction and GET .../reactions on posts and comments."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from minifb.models import Comment, Post, ReactionType
from minifb.posts.schemas import ReactionCountsRead
from tests.factories import People, block, comment, create_post, react
from tests.fixtures.events import Events
from tests.fixtures.http import API, assert_problem, get_json
from tests.posts.helpers import counts

KINDS = ["posts", "comments"]


async def target(client: httpx.AsyncClient, kind: str, author: Any) -> str:
    """A fresh public post, or a comment on one, as `posts/{id}` / `comments/{id}`."""
    post = await create_post(client, author)
    if kind == "posts":
        return f"posts/{post['id']}"
    return f"comments/{(await comment(client, author, post['id']))['id']}"


async def reactions(client: httpx.AsyncClient, where: str, who: Any, **params: Any) -> Any:
    return await get_json(client, f"/{where}/reactions", who, **params)


@pytest.mark.parametrize("kind", KINDS)
class TestPut:
    async def test_counts_follow_the_real_change(
        self, client: httpx.AsyncClient, people: People, events: Events, kind: str
    ) -> None:
        alice, bob = await people(2)
        where = await target(client, kind, alice)
        await react(client, bob, where, "like")
        assert (await reactions(client, where, alice))["counts"] == counts(like=1)
        await react(client, bob, where, "like")  # the same again changes nothing
        assert (await reactions(client, where, alice))["counts"] == counts(like=1)
        await react(client, bob, where, "angry")  # replaces
        body = await reactions(client, where, alice)
        assert body["counts"] == counts(angry=1)
        assert [(i["user"]["id"], i["type"]) for i in body["items"]] == [(bob.id, "angry")]
        added = await events("reaction.added")
        assert [(e["type"], e["previous_type"]) for e in added] == [
            ("like", None),
            ("angry", "like"),
        ]
        assert added[0]["target_kind"] == kind[:-1]
        assert added[0]["user_id"] == bob.id

    async def test_bad_bodies_and_ids(
        self, client: httpx.AsyncClient, people: People, kind: str
    ) -> None:
        (alice,) = await people(1)
        where = await target(client, kind, alice)
        for body in ({}, {"type": "dislike"}, {"type": "like", "user_id": "1"}):
            response = await client.put(f"{API}/{where}/reaction", json=body, headers=alice.headers)
            assert_problem(response, 422)
        response = await client.put(
            f"{API}/{kind}/abc/reaction", json={"type": "like"}, headers=alice.headers
        )
        assert_problem(response, 422)
        response = await client.put(
            f"{API}/{kind}/1/reaction", json={"type": "like"}, headers=alice.headers
        )
        assert_problem(response, 404)
        assert_problem(await client.put(f"{API}/{where}/reaction", json={"type": "like"}), 401)
        assert (await reactions(client, where, alice))["counts"] == counts()

    async def test_fifty_at_once_leave_one(
        self, client: httpx.AsyncClient, people: People, kind: str
    ) -> None:
        alice, bob = await people(2)
        where = await target(client, kind, alice)
        responses = await asyncio.gather(
            *(
                client.put(f"{API}/{where}/reaction", json={"type": "like"}, headers=bob.headers)
                for _ in range(50)
            )
        )
        assert [r.status_code for r in responses] == [200] * 50
        body = await reactions(client, where, alice)
        assert body["counts"] == counts(like=1)
        assert len(body["items"]) == 1

    async def test_many_people_at_once(
        self, client: httpx.AsyncClient, people: People, kind: str
    ) -> None:
        crowd = await people(8)
        where = await target(client, kind, crowd[0])
        types = ["like", "love"] * 4
        await asyncio.gather(
            *(react(client, p, where, t) for p, t in zip(crowd, types, strict=True))
        )
        await asyncio.gather(*(react(client, p, where, "wow") for p in crowd[:3]))
        assert (await reactions(client, where, crowd[0]))["counts"] == counts(like=2, love=3, wow=3)


@pytest.mark.parametrize("kind", KINDS)
class TestDelete:
    async def test_removes_and_is_idempotent(
        self, client: httpx.AsyncClient, people: People, kind: str
    ) -> None:
        alice, bob = await people(2)
        where = await target(client, kind, alice)
        await react(client, bob, where, "sad")
        await react(client, alice, where, "sad")
        for _ in range(2):
            response = await client.delete(f"{API}/{where}/reaction", headers=bob.headers)
            assert response.status_code == 204, response.text
        body = await reactions(client, where, alice)
        assert body["counts"] == counts(sad=1)
        assert [i["user"]["id"] for i in body["items"]] == [alice.id]

    async def test_refusals(self, client: httpx.AsyncClient, people: People, kind: str) -> None:
        (alice,) = await people(1)
        assert_problem(await client.delete(f"{API}/{kind}/1/reaction", headers=alice.headers), 404)
        assert_problem(await client.delete(f"{API}/{kind}/1/reaction"), 401)
        assert_problem(await client.delete(f"{API}/{kind}/0/reaction", headers=alice.headers), 422)


@pytest.mark.parametrize("kind", KINDS)
class TestList:
    async def test_newest_first_with_type_filter_and_pages(
        self, client: httpx.AsyncClient, people: People, kind: str
    ) -> None:
        crowd = await people(5)
        where = await target(client, kind, crowd[0])
        for person, type_ in zip(crowd, ["like", "love", "like", "wow", "like"], strict=True):
            await react(client, person, where, type_)
        body = await reactions(client, where, crowd[0])
        assert [i["user"]["id"] for i in body["items"]] == [p.id for p in crowd[::-1]]
        assert body["items"][0]["user"]["username"] == crowd[4].username
        assert body["items"][0]["created_at"].endswith("Z")
        likes = await reactions(client, where, crowd[0], type="like")
        assert [i["user"]["id"] for i in likes["items"]] == [crowd[4].id, crowd[2].id, crowd[0].id]
        assert likes["counts"] == counts(like=3, love=1, wow=1)
        first = await reactions(client, where, crowd[0], limit=2)
        second = await reactions(client, where, crowd[0], limit=2, cursor=first["next_cursor"])
        assert [i["user"]["id"] for i in first["items"] + second["items"]] == [
            p.id for p in crowd[:0:-1]
        ]

    async def test_hides_blocked_people(
        self, client: httpx.AsyncClient, people: People, kind: str
    ) -> None:
        alice, bob, carol = await people(3)
        where = await target(client, kind, alice)
        await react(client, bob, where)
        await react(client, carol, where)
        await block(client, carol, bob)
        body = await reactions(client, where, carol)
        assert [i["user"]["id"] for i in body["items"]] == [carol.id]

    async def test_refusals(self, client: httpx.AsyncClient, people: People, kind: str) -> None:
        (alice,) = await people(1)
        where = await target(client, kind, alice)
        assert_problem(await client.get(f"{API}/{kind}/1/reactions", headers=alice.headers), 404)
        assert_problem(await client.get(f"{API}/{where}/reactions"), 401)
        response = await client.get(
            f"{API}/{where}/reactions", params={"type": "meh"}, headers=alice.headers
        )
        assert_problem(response, 422)


class TestPostCountsOnThePost:
    async def test_post_shows_reaction_counts(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob, carol = await people(3)
        post = await create_post(client, alice)
        where = f"posts/{post['id']}"
        await react(client, bob, where, "love")
        await react(client, carol, where, "love")
        await react(client, carol, where, "wow")
        await client.delete(f"{API}/{where}/reaction", headers=bob.headers)
        seen = await get_json(client, f"/posts/{post['id']}", carol)
        assert seen["counts"]["reactions"] == counts(wow=1)
        assert seen["viewer_reaction"] == "wow"


class TestTheTypes:
    def test_the_written_out_lists_are_the_enum(self) -> None:
        # Everything else derives the types from `ReactionType`; the two places
        # that must name them (a counter column each, a field each in the API's
        # schema) name exactly those, in its order.
        types = [t.value for t in ReactionType]
        assert list(ReactionCountsRead.model_fields) == types
        for table, other in ((Post, "comment_count"), (Comment, "reply_count")):
            columns = [c.name for c in table.__table__.columns if c.name.endswith("_count")]
            assert [c for c in columns if c != other] == [f"{t}_count" for t in types]
