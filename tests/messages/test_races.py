"""Requests racing each other: one direct conversation per pair, one message per client id,
at most fifty members, and the last one out taking the group.

Driven by concurrent requests over one ASGI client; on PostgreSQL they meet at
the unique constraints (`pair_key`, the client message id), never in a 500.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from minifb.models import Conversation, Message
from tests.factories import People, accept_messages_from_everyone, befriend, start_conversation
from tests.fixtures.events import Events
from tests.fixtures.http import API, get_json

RACERS = 8


class TestRaces:
    async def test_both_starting_the_pair_s_conversation_make_one(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        responses = await asyncio.gather(
            *[
                client.post(
                    f"{API}/conversations",
                    json={"participant_ids": [other.id]},
                    headers=who.headers,
                )
                for who, other in [(ana, bo), (bo, ana)] * (RACERS // 2)
            ]
        )
        assert Counter(r.status_code for r in responses) == {201: 1, 200: RACERS - 1}
        assert len({r.json()["id"] for r in responses}) == 1
        for who in (ana, bo):
            assert len((await get_json(client, "/conversations", who))["items"]) == 1

    async def test_resends_at_once_make_one_message(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        responses = await asyncio.gather(
            *[
                client.post(
                    f"{API}/conversations/{made['id']}/messages",
                    json={"text": "once", "client_message_id": "same"},
                    headers=ana.headers,
                )
                for _ in range(RACERS)
            ]
        )
        assert Counter(r.status_code for r in responses) == {201: 1, 200: RACERS - 1}
        assert len({r.json()["id"] for r in responses}) == 1
        page = await get_json(client, f"/conversations/{made['id']}/messages", bo)
        assert len(page["items"]) == 1
        assert len(await events("message.created")) == 1

    async def test_adds_at_once_stop_at_fifty(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        creator, *crowd = await people(48)
        for other in crowd:
            await befriend(client, creator, other)
        group = await start_conversation(client, creator, *crowd)
        newcomers = await people(4)
        for p in newcomers:
            await accept_messages_from_everyone(client, p)
        responses = await asyncio.gather(
            *[
                client.post(
                    f"{API}/conversations/{group['id']}/members",
                    json={"user_ids": [p.id]},
                    headers=creator.headers,
                )
                for p in newcomers
            ]
        )
        assert Counter(r.status_code for r in responses) == {200: 2, 409: 2}
        seen = await get_json(client, f"/conversations/{group['id']}", creator)
        assert len(seen["members"]) == 50

    async def test_everyone_leaving_at_once_takes_the_group(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        crowd = await people(RACERS)
        for other in crowd[1:]:
            await befriend(client, crowd[0], other)
        group = await start_conversation(client, *crowd)
        responses = await asyncio.gather(
            *[
                client.delete(f"{API}/conversations/{group['id']}/members/me", headers=who.headers)
                for who in crowd
            ]
        )
        assert [r.status_code for r in responses] == [204] * RACERS
        async with app.state.container.db.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Conversation)) == 0

    async def test_a_member_who_left_writes_nothing(
        self, app: FastAPI, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        # On PostgreSQL the one statement of the send path refuses it by itself.
        ana, bo, cy = await people(3)
        for other in (bo, cy):
            await befriend(client, ana, other)
        group = await start_conversation(client, ana, bo, cy)
        left = await client.delete(
            f"{API}/conversations/{group['id']}/members/me", headers=bo.headers
        )
        assert left.status_code == 204
        sent = await client.post(
            f"{API}/conversations/{group['id']}/messages", json={"text": "late"}, headers=bo.headers
        )
        assert sent.status_code == 404, sent.text
        async with app.state.container.db.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Message)) == 0
        assert await events("message.created") == []
