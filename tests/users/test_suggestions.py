"""Friend suggestions: friends of friends ranked by mutual friends."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.factories import People, Person, befriend, block
from tests.fixtures.events import settle
from tests.fixtures.http import API, assert_problem, get_json
from tests.fixtures.queries import QueryLog
from tests.users.helpers import request_id


async def suggested(client: httpx.AsyncClient, who: Person, **params: Any) -> list[tuple[str, int]]:
    body = await get_json(client, "/friends/suggestions", who, **params)
    assert body["next_cursor"] is None
    return [(item["id"], item["mutual_friends"]) for item in body["items"]]


class TestRanking:
    async def test_by_mutual_friends_then_id(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        me, f1, f2, f3, two_a, two_b, three, one = await people(8)
        for friend in (f1, f2, f3):
            await befriend(client, me, friend)
        for friend in (f1, f2, f3):
            await befriend(client, three, friend)
        for friend in (f1, f2):
            await befriend(client, two_b, friend)
            await befriend(client, two_a, friend)
        await befriend(client, one, f3)
        twos = sorted([two_a.id, two_b.id], key=int)
        assert await suggested(client, me) == [
            (three.id, 3),
            (twos[0], 2),
            (twos[1], 2),
            (one.id, 1),
        ]

    async def test_items_are_public_profiles(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        me, friend, fof = await people(3)
        await befriend(client, me, friend)
        await befriend(client, friend, fof)
        body = await get_json(client, "/friends/suggestions", me)
        (item,) = body["items"]
        assert set(item) == {
            "id",
            "username",
            "display_name",
            "bio",
            "avatar_url",
            "created_at",
            "mutual_friends",
        }

    async def test_nobody_to_suggest(self, client: httpx.AsyncClient, people: People) -> None:
        (me,) = await people(1)
        assert await suggested(client, me) == []

    async def test_limit(self, client: httpx.AsyncClient, people: People) -> None:
        me, friend, *others = await people(5)
        await befriend(client, me, friend)
        for other in others:
            await befriend(client, friend, other)
        assert len(await suggested(client, me)) == 3
        assert len(await suggested(client, me, limit=2)) == 2
        for bad in (0, 101, "x"):
            response = await client.get(
                f"{API}/friends/suggestions", params={"limit": bad}, headers=me.headers
            )
            assert_problem(response, 422)


class TestExclusions:
    async def test_leaves_out_self_friends_requests_and_blocks(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        me, hub, friend, asked, asking, blocked, blocker, shown = await people(8)
        await befriend(client, me, hub)
        for person in (friend, asked, asking, blocked, blocker, shown):
            await befriend(client, hub, person)
        await befriend(client, me, friend)
        await request_id(client, me, asked)
        await request_id(client, asking, me)
        await block(client, me, blocked)
        await block(client, blocker, me)
        assert await suggested(client, me) == [(shown.id, 1)]

    async def test_blocked_person_cannot_be_a_path(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        # A friend who is then blocked is no longer a friend, so their friends drop out.
        me, gone, fof = await people(3)
        await befriend(client, me, gone)
        await befriend(client, gone, fof)
        await block(client, me, gone)
        assert await suggested(client, me) == []


class TestCost:
    async def test_one_query(
        self, app: FastAPI, client: httpx.AsyncClient, people: People, queries: QueryLog
    ) -> None:
        me, friend, *others = await people(6)
        await befriend(client, me, friend)
        for other in others:
            await befriend(client, friend, other)
        await settle(app)  # the background consumer's queries are not the request's
        queries.recording = True
        assert len(await suggested(client, me)) == 4
        queries.recording = False
        assert len(queries.selects()) == 1
