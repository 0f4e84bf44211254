"""Messages on the stream, end to end: a message sent over HTTP reaches the members' open
sockets, a read receipt follows, the members hear who joined and who left, and `typing`
is relayed by who the messages service says is in the conversation (the container's
wiring, not a stand-in)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from tests.factories import People, befriend, register_many, send_message, start_conversation
from tests.fixtures.app import AppFactory
from tests.fixtures.deadline import bounded
from tests.fixtures.events import settle
from tests.fixtures.http import API
from tests.fixtures.stream import next_frame, open_stream, serve_ws


@pytest.fixture
async def served(make_client: AppFactory) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, str]]:
    app, client = await make_client()
    async with serve_ws(app) as base:
        yield app, client, base


# Friends opening sockets are told of each other's presence: not what these tests read.
QUIET = ("ping", "presence")


def typing(conversation_id: str) -> str:
    return orjson.dumps({"type": "typing", "conversation_id": conversation_id}).decode()


class TestMessagesOnTheStream:
    @bounded(30)
    async def test_a_sent_message_and_its_read_receipt_reach_the_members(
        self, served: tuple[FastAPI, httpx.AsyncClient, str], people: People
    ) -> None:
        app, client, base = served
        ana, bea, cid = await people(3)
        await befriend(client, ana, bea)
        conversation = await start_conversation(client, ana, bea)
        await settle(app)  # the notifications of the friendship are pushed before the sockets open
        async with (
            open_stream(base, ana.access_token) as ana_ws,
            open_stream(base, bea.access_token) as bea_ws,
            open_stream(base, cid.access_token) as outsider,
        ):
            sent = await send_message(client, ana, conversation["id"], "hello Bea")
            pushed = {
                "type": "message.created",
                "data": {"conversation_id": conversation["id"], "message": sent},
            }
            assert await next_frame(bea_ws, skip=QUIET) == pushed
            assert await next_frame(ana_ws, skip=QUIET) == pushed  # the sender's other devices too
            read = await client.post(
                f"{API}/conversations/{conversation['id']}/read",
                json={"message_id": sent["id"]},
                headers=bea.headers,
            )
            assert read.status_code == 204, read.text
            receipt = {
                "type": "message.read",
                "data": {
                    "conversation_id": conversation["id"],
                    "user_id": bea.id,
                    "message_id": sent["id"],
                },
            }
            assert await next_frame(ana_ws, skip=QUIET) == receipt
            # The outsider heard none of it: their next frame answers their own ping.
            await outsider.send('{"type": "ping"}')
            assert await next_frame(outsider, skip=QUIET) == {"type": "pong", "data": {}}

    @bounded(30)
    async def test_typing_reaches_the_current_members_only(
        self, served: tuple[FastAPI, httpx.AsyncClient, str], people: People
    ) -> None:
        app, client, base = served
        ana, bea, cid, dee = await people(4)
        for other in (bea, cid):
            await befriend(client, ana, other)
        group = await start_conversation(client, ana, bea, cid, title="three")
        left = await client.delete(
            f"{API}/conversations/{group['id']}/members/me", headers=cid.headers
        )
        assert left.status_code == 204, left.text
        await settle(app)  # the notifications of the friendships are pushed before the sockets open
        async with (
            open_stream(base, ana.access_token) as ana_ws,
            open_stream(base, bea.access_token) as bea_ws,
            open_stream(base, cid.access_token) as former,
            open_stream(base, dee.access_token) as stranger,
        ):
            await ana_ws.send(typing(group["id"]))
            assert await next_frame(bea_ws, skip=QUIET) == {
                "type": "typing",
                "data": {"conversation_id": group["id"], "user_id": ana.id},
            }
            # Who left, and who never was in it, learn nothing of it, nor are heard.
            for ws in (former, stranger):
                await ws.send(typing(group["id"]))
                assert (await next_frame(ws, skip=QUIET))["data"]["code"] == "not_found"
            for ws in (ana_ws, bea_ws):
                await ws.send('{"type": "ping"}')
                assert await next_frame(ws, skip=QUIET) == {"type": "pong", "data": {}}

    @bounded(30)
    async def test_members_hear_who_joined_and_who_left(
        self, served: tuple[FastAPI, httpx.AsyncClient, str]
    ) -> None:
        app, client, base = served
        ana, bea, cid, dee = await register_many(client, 4)
        for other in (bea, cid, dee):
            await befriend(client, ana, other)
        await settle(app)  # the notifications of the friendships are pushed before the sockets open
        async with (
            open_stream(base, ana.access_token) as ana_ws,
            open_stream(base, bea.access_token) as bea_ws,
            open_stream(base, cid.access_token) as cid_ws,
            open_stream(base, dee.access_token) as dee_ws,
        ):
            group = await start_conversation(client, ana, bea, cid, title="three")

            def frame(type_: str, user_ids: list[str], by: str) -> dict[str, Any]:
                data = {"conversation_id": group["id"], "user_ids": user_ids, "by_user_id": by}
                return {"type": type_, "data": data}

            created = frame("conversation.created", [bea.id, cid.id], ana.id)
            for ws in (ana_ws, bea_ws, cid_ws):
                assert await next_frame(ws, skip=QUIET) == created
            added = await client.post(
                f"{API}/conversations/{group['id']}/members",
                json={"user_ids": [dee.id]},
                headers=ana.headers,
            )
            assert added.status_code == 200, added.text
            # Dee's first frame is this one: she heard nothing of the group before.
            joined = frame("conversation.members_added", [dee.id], ana.id)
            for ws in (dee_ws, ana_ws, bea_ws, cid_ws):
                assert await next_frame(ws, skip=QUIET) == joined
            left = await client.delete(
                f"{API}/conversations/{group['id']}/members/me", headers=cid.headers
            )
            assert left.status_code == 204, left.text
            gone = frame("conversation.member_left", [cid.id], cid.id)
            for ws in (ana_ws, bea_ws, cid_ws, dee_ws):
                assert await next_frame(ws, skip=QUIET) == gone
