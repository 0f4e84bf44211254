"""Conversations: POST /conversations, GET /conversations, GET /conversations/{id}."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from minifb.messages.schemas import ConversationRead
from tests.factories import (
    People,
    accept_messages_from_everyone,
    befriend,
    block,
    send_message,
    start_conversation,
)
from tests.fixtures.events import settle
from tests.fixtures.http import API, assert_problem, get_json
from tests.fixtures.queries import QueryLog
from tests.messages.helpers import create, refused


class TestDirect:
    async def test_friends_start_one_and_both_see_it(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        response = await create(client, ana, {"participant_ids": [bo.id]})
        assert response.status_code == 201, response.text
        body = response.json()
        ConversationRead.model_validate(body)
        assert body["kind"] == "direct"
        assert body["title"] is None
        assert body["last_message"] is None
        assert body["unread_count"] == 0
        assert sorted(m["user"]["id"] for m in body["members"]) == sorted([ana.id, bo.id])
        assert all(m["last_read_message_id"] is None for m in body["members"])
        seen = await get_json(client, f"/conversations/{body['id']}", bo)
        assert seen == body

    async def test_the_same_pair_reuses_it_either_way(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        first = await create(client, ana, {"participant_ids": [bo.id]})
        again = await create(client, ana, {"participant_ids": [bo.id]})
        back = await create(client, bo, {"participant_ids": [ana.id]})
        assert first.status_code == 201
        assert (again.status_code, back.status_code) == (200, 200)
        assert again.json()["id"] == back.json()["id"] == first.json()["id"]
        listed = await get_json(client, "/conversations", ana)
        assert [c["id"] for c in listed["items"]] == [first.json()["id"]]

    async def test_a_stranger_who_accepts_friends_only_is_refused(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo = await people(2)
        refused(
            await create(client, ana, {"participant_ids": [bo.id]}), 403, "messages-not-accepted"
        )
        assert (await get_json(client, "/conversations", ana))["items"] == []

    async def test_a_stranger_who_accepts_everyone_may_be_written_to(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo = await people(2)
        await accept_messages_from_everyone(client, bo)
        response = await create(client, ana, {"participant_ids": [bo.id]})
        assert response.status_code == 201, response.text

    async def test_a_block_either_way_hides_the_person(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo, cy = await people(3)
        for other in (bo, cy):
            await befriend(client, ana, other)
            await accept_messages_from_everyone(client, other)
        await block(client, ana, bo)
        await block(client, cy, ana)
        for other in (bo, cy):
            refused(
                await create(client, ana, {"participant_ids": [other.id]}), 404, "user-not-found"
            )

    async def test_nobody_and_yourself_are_refused(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (ana,) = await people(1)
        missing = await create(client, ana, {"participant_ids": ["123456789"]})
        refused(missing, 404, "user-not-found")
        myself = assert_problem(await create(client, ana, {"participant_ids": [ana.id]}), 422)
        assert myself["errors"][0]["loc"] == ["body", "participant_ids"]
        empty = assert_problem(await create(client, ana, {"participant_ids": []}), 422)
        assert empty["errors"][0]["loc"] == ["body", "participant_ids"]

    async def test_a_direct_conversation_has_no_title(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        body = assert_problem(
            await create(client, ana, {"participant_ids": [bo.id], "title": "Us"}), 422
        )
        assert body["errors"][0]["loc"] == ["body", "title"]


class TestGroup:
    async def test_a_group_of_three_with_a_title(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo, cy = await people(3)
        await befriend(client, ana, bo)
        await accept_messages_from_everyone(client, cy)
        response = await create(
            client, ana, {"participant_ids": [bo.id, cy.id], "title": "  Engine club "}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["kind"], body["title"]) == ("group", "Engine club")
        assert len(body["members"]) == 3
        again = await create(client, ana, {"participant_ids": [bo.id, cy.id]})
        assert again.status_code == 201
        assert again.json()["id"] != body["id"]

    async def test_everyone_named_must_accept_the_creator(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo, stranger = await people(3)
        await befriend(client, ana, bo)
        response = await create(client, ana, {"participant_ids": [bo.id, stranger.id]})
        refused(response, 403, "messages-not-accepted")
        assert (await get_json(client, "/conversations", bo))["items"] == []

    async def test_at_most_fifty_people_and_each_once(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo, cy = await people(3)
        too_many = [str(10**12 + i) for i in range(50)]
        body = assert_problem(await create(client, ana, {"participant_ids": too_many}), 422)
        assert body["errors"][0]["loc"] == ["body", "participant_ids"]
        twice = assert_problem(
            await create(client, ana, {"participant_ids": [bo.id, bo.id, cy.id]}), 422
        )
        assert twice["errors"][0]["loc"] == ["body", "participant_ids"]


class TestList:
    async def test_newest_activity_first_with_last_message_and_unread(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo, cy = await people(3)
        for other in (bo, cy):
            await befriend(client, ana, other)
        with_bo = await start_conversation(client, ana, bo)
        with_cy = await start_conversation(client, ana, cy)
        await send_message(client, bo, with_bo["id"], "one")
        said = await send_message(client, bo, with_bo["id"], "two")
        mine = await send_message(client, ana, with_cy["id"], "mine")
        listed = (await get_json(client, "/conversations", ana))["items"]
        assert [c["id"] for c in listed] == [with_cy["id"], with_bo["id"]]
        assert listed[0]["last_message"] == mine
        assert listed[0]["unread_count"] == 0  # one's own messages are never unread
        assert listed[1]["last_message"] == said
        assert listed[1]["unread_count"] == 2
        await send_message(client, bo, with_bo["id"], "three")
        listed = (await get_json(client, "/conversations", ana))["items"]
        assert [(c["id"], c["unread_count"]) for c in listed] == [
            (with_bo["id"], 3),
            (with_cy["id"], 0),
        ]

    async def test_pages_follow_the_cursor(self, client: httpx.AsyncClient, people: People) -> None:
        me, *others = await people(4)
        made = []
        for other in others:
            await befriend(client, me, other)
            made.append((await start_conversation(client, me, other))["id"])
        first = await get_json(client, "/conversations", me, limit=2)
        assert [c["id"] for c in first["items"]] == made[::-1][:2]
        rest = await get_json(client, "/conversations", me, limit=2, cursor=first["next_cursor"])
        assert [c["id"] for c in rest["items"]] == made[::-1][2:]
        assert rest["next_cursor"] is None

    async def test_a_fixed_number_of_queries(
        self, app: FastAPI, client: httpx.AsyncClient, people: People, queries: QueryLog
    ) -> None:
        me, *others = await people(6)
        for i, other in enumerate(others):
            await befriend(client, me, other)
            made = await start_conversation(client, me, other)
            for n in range(i):
                await send_message(client, other, made["id"], f"message {n}")
        await settle(app)
        queries.recording = True
        listed = await get_json(client, "/conversations", me)
        queries.recording = False
        assert len(listed["items"]) == 5
        assert len(queries.selects()) == 2  # the page, and the members of its conversations


class TestGet:
    async def test_a_stranger_gets_404_whether_it_exists_or_not(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo, eve = await people(3)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        for path in (f"/conversations/{made['id']}", "/conversations/123456789"):
            response = await client.get(f"{API}{path}", headers=eve.headers)
            refused(response, 404, "conversation-not-found")
