"""Requests racing each other: one direct conversation per pair, one message per client id.

Driven by concurrent requests over one ASGI client; on PostgreSQL they meet at
the unique constraints (`pair_key`, the client message id), never in a 500.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests.factories import People, befriend, start_conversation
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
