"""Messages: GET|POST /conversations/{id}/messages, and who may write."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from minifb.messages.schemas import MessageRead
from tests.factories import (
    People,
    Person,
    accept_messages_from_everyone,
    befriend,
    block,
    send_message,
    start_conversation,
)
from tests.fixtures.events import Events
from tests.fixtures.http import API, assert_problem, get_json
from tests.messages.helpers import refused


async def post_message(
    client: httpx.AsyncClient, who: Person, conversation_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"{API}/conversations/{conversation_id}/messages", json=body, headers=who.headers
    )


class TestSend:
    async def test_answers_the_message_and_records_the_event(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        message = await send_message(client, ana, made["id"], "  Hello\n there \x01 ")
        MessageRead.model_validate(message)
        assert message["text"] == "Hello\n there \x01"
        assert message["sender_id"] == ana.id
        assert message["conversation_id"] == made["id"]
        assert (message["media"], message["client_message_id"]) == ([], None)
        (event,) = await events("message.created")
        assert event == {
            "conversation_id": made["id"],
            "member_ids": event["member_ids"],
            "message": message,
        }
        assert sorted(event["member_ids"]) == sorted([ana.id, bo.id])
        seen = await get_json(client, f"/conversations/{made['id']}", bo)
        assert seen["last_message"] == message
        assert seen["unread_count"] == 1
        receipts = {m["user"]["id"]: m["last_read_message_id"] for m in seen["members"]}
        assert receipts == {ana.id: message["id"], bo.id: None}

    async def test_a_resend_with_the_same_client_id_answers_the_first(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        body = {"text": "once", "client_message_id": "c0ffee-1"}
        first = await post_message(client, ana, made["id"], body)
        again = await post_message(client, ana, made["id"], {**body, "text": "twice?"})
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        # The id is the sender's own: the other member may use the same one.
        theirs = await post_message(client, bo, made["id"], body)
        assert theirs.status_code == 201
        assert theirs.json()["id"] != first.json()["id"]
        page = await get_json(client, f"/conversations/{made['id']}/messages", ana)
        assert len(page["items"]) == 2
        assert len(await events("message.created")) == 2
        # Counted as sent once each, the resend not at all.
        assert "minifb_messages_sent_total 2.0" in (await client.get("/metrics")).text

    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            ({"text": "   "}, ["body", "text"]),
            ({"text": "x" * 5001}, ["body", "text"]),
            ({"text": "a\u0000b"}, ["body", "text"]),
            ({"text": "hi", "media_ids": ["12345"]}, ["body", "media_ids"]),
            ({"text": "hi", "client_message_id": "has space"}, ["body", "client_message_id"]),
            ({"text": "hi", "client_message_id": "x" * 65}, ["body", "client_message_id"]),
            ({"text": "hi", "sender_id": "1"}, ["body", "sender_id"]),
        ],
    )
    async def test_bad_bodies_are_refused(
        self, client: httpx.AsyncClient, people: People, body: dict[str, Any], loc: list[str]
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        problem = assert_problem(await post_message(client, ana, made["id"], body), 422)
        assert [e["loc"][: len(loc)] for e in problem["errors"]] == [loc]

    async def test_five_thousand_characters_are_taken(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        message = await send_message(client, ana, made["id"], "é" * 5000)
        assert len(message["text"]) == 5000


class TestWhoMayWrite:
    async def test_after_unfriending_a_friends_only_person_refuses(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        response = await client.delete(f"{API}/friends/{bo.id}", headers=ana.headers)
        assert response.status_code == 204
        refused(
            await post_message(client, ana, made["id"], {"text": "still there?"}),
            403,
            "messages-not-accepted",
        )

    async def test_the_one_who_started_it_accepts_the_answers(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        # Bo accepts everyone, Ana friends only: Ana writes first, so Bo may answer.
        ana, bo = await people(2)
        await accept_messages_from_everyone(client, bo)
        made = await start_conversation(client, ana, bo)
        await send_message(client, ana, made["id"], "hello stranger")
        await send_message(client, bo, made["id"], "hello back")

    @pytest.mark.parametrize("blocker", ["starter", "other"])
    async def test_a_block_refuses_every_message_of_a_direct_conversation(
        self, client: httpx.AsyncClient, people: People, blocker: str
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        await send_message(client, ana, made["id"], "before")
        await block(client, *((ana, bo) if blocker == "starter" else (bo, ana)))
        for who in (ana, bo):
            refused(await post_message(client, who, made["id"], {"text": "x"}), 403, "blocked")
        # What was said stays readable by both.
        for who in (ana, bo):
            page = await get_json(client, f"/conversations/{made['id']}/messages", who)
            assert [m["text"] for m in page["items"]] == ["before"]

    async def test_a_group_stays_usable_across_a_block(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo, cy = await people(3)
        await befriend(client, ana, bo)
        await befriend(client, ana, cy)
        group = await start_conversation(client, ana, bo, cy)
        await block(client, bo, cy)
        await send_message(client, cy, group["id"], "cy still writes")
        await send_message(client, bo, group["id"], "bo too")
        # Members who are strangers to each other write freely in a group.
        page = await get_json(client, f"/conversations/{group['id']}/messages", ana)
        assert [m["text"] for m in page["items"]] == ["bo too", "cy still writes"]

    async def test_an_outsider_gets_404(self, client: httpx.AsyncClient, people: People) -> None:
        ana, bo, eve = await people(3)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        await send_message(client, ana, made["id"])
        for conversation_id in (made["id"], "123456789"):
            path = f"{API}/conversations/{conversation_id}/messages"
            sent = await client.post(path, json={"text": "hi"}, headers=eve.headers)
            refused(sent, 404, "conversation-not-found")
            read = await client.get(path, headers=eve.headers)
            refused(read, 404, "conversation-not-found")


class TestList:
    async def test_pages_newest_first(self, client: httpx.AsyncClient, people: People) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        sent = [(await send_message(client, ana, made["id"], f"m{i}"))["id"] for i in range(5)]
        path = f"/conversations/{made['id']}/messages"
        first = await get_json(client, path, bo, limit=3)
        assert [m["id"] for m in first["items"]] == sent[::-1][:3]
        rest = await get_json(client, path, bo, limit=3, cursor=first["next_cursor"])
        assert [m["id"] for m in rest["items"]] == sent[::-1][3:]
        assert rest["next_cursor"] is None
