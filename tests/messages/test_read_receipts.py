"""Read receipts: POST /conversations/{id}/read, and the unread counts they move."""

from __future__ import annotations

import httpx

from tests.factories import People, Person, befriend, send_message, start_conversation
from tests.fixtures.events import Events
from tests.fixtures.http import API, assert_problem, get_json
from tests.messages.helpers import refused


async def read_up_to(
    client: httpx.AsyncClient, who: Person, conversation_id: str, message_id: str
) -> httpx.Response:
    return await client.post(
        f"{API}/conversations/{conversation_id}/read",
        json={"message_id": message_id},
        headers=who.headers,
    )


class TestRead:
    async def test_moves_the_receipt_and_the_unread_count(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        sent = [await send_message(client, ana, made["id"], f"m{i}") for i in range(3)]
        response = await read_up_to(client, bo, made["id"], sent[1]["id"])
        assert response.status_code == 204, response.text
        seen = await get_json(client, f"/conversations/{made['id']}", bo)
        assert seen["unread_count"] == 1
        receipts = {m["user"]["id"]: m["last_read_message_id"] for m in seen["members"]}
        assert receipts == {ana.id: sent[2]["id"], bo.id: sent[1]["id"]}
        (event,) = await events("message.read")
        assert event == {
            "conversation_id": made["id"],
            "member_ids": event["member_ids"],
            "user_id": bo.id,
            "message_id": sent[1]["id"],
        }
        assert sorted(event["member_ids"]) == sorted([ana.id, bo.id])
        listed = await get_json(client, "/conversations", bo)
        assert listed["items"][0]["unread_count"] == 1

    async def test_never_moves_back_and_a_no_op_emits_nothing(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        ana, bo = await people(2)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        first = await send_message(client, ana, made["id"], "one")
        last = await send_message(client, ana, made["id"], "two")
        assert (await read_up_to(client, bo, made["id"], last["id"])).status_code == 204
        assert (await read_up_to(client, bo, made["id"], first["id"])).status_code == 204
        assert (await read_up_to(client, bo, made["id"], last["id"])).status_code == 204
        seen = await get_json(client, f"/conversations/{made['id']}", bo)
        assert seen["unread_count"] == 0
        assert [e["message_id"] for e in await events("message.read")] == [last["id"]]

    async def test_a_message_of_another_conversation_is_refused(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo, cy = await people(3)
        await befriend(client, ana, bo)
        await befriend(client, ana, cy)
        with_bo = await start_conversation(client, ana, bo)
        with_cy = await start_conversation(client, ana, cy)
        elsewhere = await send_message(client, ana, with_cy["id"])
        for message_id in (elsewhere["id"], "123456789"):
            body = assert_problem(await read_up_to(client, bo, with_bo["id"], message_id), 422)
            assert [e["loc"] for e in body["errors"]] == [["body", "message_id"]]

    async def test_an_outsider_gets_404(self, client: httpx.AsyncClient, people: People) -> None:
        ana, bo, eve = await people(3)
        await befriend(client, ana, bo)
        made = await start_conversation(client, ana, bo)
        said = await send_message(client, ana, made["id"])
        response = await read_up_to(client, eve, made["id"], said["id"])
        refused(response, 404, "conversation-not-found")
