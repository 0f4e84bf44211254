"""`Idempotency-Key` on POST /posts: replay, refusal of another body, per person, expiry."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from minifb.kit.db import utcnow
from minifb.models import IdempotencyKey
from tests.factories import People, Person
from tests.fixtures.events import Events
from tests.fixtures.http import API, assert_problem, get_json


async def post_with_key(
    client: httpx.AsyncClient, who: Person, key: str, text: str = "once"
) -> httpx.Response:
    return await client.post(
        f"{API}/posts",
        json={"text": text},
        headers={**who.headers, "Idempotency-Key": key},
    )


async def post_ids(client: httpx.AsyncClient, who: Person) -> list[str]:
    body = await get_json(client, f"/users/{who.id}/posts", who)
    return [p["id"] for p in body["items"]]


class TestReplay:
    async def test_same_key_returns_the_first_answer(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        (alice,) = await people(1)
        first = await post_with_key(client, alice, "key-1")
        assert first.status_code == 201, first.text
        again = await post_with_key(client, alice, "key-1")
        assert again.status_code == 201
        assert again.content == first.content
        assert again.headers["Idempotent-Replayed"] == "true"
        assert await post_ids(client, alice) == [first.json()["id"]]
        assert len(await events("post.created")) == 1

    async def test_without_a_key_each_request_posts(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (alice,) = await people(1)
        for _ in range(2):
            response = await client.post(f"{API}/posts", json={"text": "x"}, headers=alice.headers)
            assert response.status_code == 201
        assert len(await post_ids(client, alice)) == 2

    async def test_concurrent_requests_create_one_post(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (alice,) = await people(1)
        responses = await asyncio.gather(*(post_with_key(client, alice, "race") for _ in range(8)))
        assert [r.status_code for r in responses] == [201] * 8
        assert len({r.content for r in responses}) == 1
        assert len(await post_ids(client, alice)) == 1


class TestRefusals:
    async def test_different_body_is_422(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert (await post_with_key(client, alice, "k", "one")).status_code == 201
        assert_problem(await post_with_key(client, alice, "k", "two"), 422)
        assert len(await post_ids(client, alice)) == 1

    @pytest.mark.parametrize(
        "key", ["", "x" * 256, "é", "tab\there"], ids=["empty", "long", "non-ascii", "control"]
    )
    async def test_bad_keys_are_422(
        self, client: httpx.AsyncClient, people: People, key: str
    ) -> None:
        (alice,) = await people(1)
        response = await client.post(
            f"{API}/posts",
            json={"text": "x"},
            headers={**alice.headers, "Idempotency-Key": key.encode("utf-8")},  # type: ignore[dict-item]
        )
        assert_problem(response, 422)
        assert await post_ids(client, alice) == []

    async def test_longest_key(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        assert (await post_with_key(client, alice, "~" * 255)).status_code == 201


class TestScope:
    async def test_keys_are_per_person(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        mine = await post_with_key(client, alice, "shared", "alice's")
        theirs = await post_with_key(client, bob, "shared", "bob's")
        assert theirs.status_code == 201
        assert theirs.json()["id"] != mine.json()["id"]
        assert theirs.json()["author"]["id"] == bob.id

    async def test_expires_after_24_hours(
        self, client: httpx.AsyncClient, app: FastAPI, people: People
    ) -> None:
        (alice,) = await people(1)
        first = await post_with_key(client, alice, "old", "one")
        async with app.state.container.db.transaction() as session:
            await session.execute(
                update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=24, seconds=1))
            )
        again = await post_with_key(client, alice, "old", "two")
        assert again.status_code == 201
        assert again.json()["id"] != first.json()["id"]
        assert "Idempotent-Replayed" not in again.headers
        assert len(await post_ids(client, alice)) == 2

    async def test_still_replayed_within_24_hours(
        self, client: httpx.AsyncClient, app: FastAPI, people: People
    ) -> None:
        (alice,) = await people(1)
        first = await post_with_key(client, alice, "recent")
        async with app.state.container.db.transaction() as session:
            await session.execute(
                update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=23, minutes=59))
            )
        assert (await post_with_key(client, alice, "recent")).content == first.content
