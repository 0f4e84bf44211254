"""Group members: POST /conversations/{id}/members, DELETE /conversations/{id}/members/me."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from minifb.models import Conversation, ConversationMember, Message
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

TABLES = (Conversation, ConversationMember, Message)


async def add(
    client: httpx.AsyncClient, who: Person, conversation_id: str, *people: Person
) -> httpx.Response:
    return await client.post(
        f"{API}/conversations/{conversation_id}/members",
        json={"user_ids": [p.id for p in people]},
        headers=who.headers,
    )


async def leave(client: httpx.AsyncClient, who: Person, conversation_id: str) -> httpx.Response:
    return await client.delete(
        f"{API}/conversations/{conversation_id}/members/me", headers=who.headers
    )


async def group_of(client: httpx.AsyncClient, people: People, n: int) -> tuple[list[Person], str]:
    """`n` people, the first friends with the others, in a group the first started."""
    crowd = await people(n)
    for other in crowd[1:]:
        await befriend(client, crowd[0], other)
    return crowd, (await start_conversation(client, *crowd))["id"]


class TestAdd:
    async def test_a_member_adds_a_friend_who_sees_the_history_as_read(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (ana, bo, cy), group = await group_of(client, people, 3)
        await send_message(client, cy, group, "before dee")
        (dee,) = await people(1)
        await befriend(client, bo, dee)
        response = await add(client, bo, group, dee, cy)  # cy is a member: skipped
        assert response.status_code == 200, response.text
        assert len(response.json()["members"]) == 4
        listed = (await get_json(client, "/conversations", dee))["items"]
        assert [c["id"] for c in listed] == [group]
        assert listed[0]["unread_count"] == 0
        page = await get_json(client, f"/conversations/{group}/messages", dee)
        assert [m["text"] for m in page["items"]] == ["before dee"]
        await send_message(client, dee, group, "hello all")
        assert (await get_json(client, f"/conversations/{group}", ana))["unread_count"] == 2

    async def test_a_stranger_who_accepts_friends_only_cannot_be_added(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (ana, _bo, _cy), group = await group_of(client, people, 3)
        stranger, open_ = await people(2)
        refused(await add(client, ana, group, stranger), 403, "messages-not-accepted")
        await accept_messages_from_everyone(client, open_)
        assert (await add(client, ana, group, open_)).status_code == 200
        refused(
            await client.get(f"{API}/conversations/{group}", headers=stranger.headers),
            404,
            "conversation-not-found",
        )

    async def test_someone_blocked_either_way_cannot_be_added(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (ana, _bo, _cy), group = await group_of(client, people, 3)
        (dee,) = await people(1)
        await befriend(client, ana, dee)
        await block(client, dee, ana)
        refused(await add(client, ana, group, dee), 404, "user-not-found")

    async def test_a_direct_conversation_takes_no_one(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        ana, bo, cy = await people(3)
        await befriend(client, ana, bo)
        await befriend(client, ana, cy)
        direct = await start_conversation(client, ana, bo)
        refused(await add(client, ana, direct["id"], cy), 409, "not-a-group")
        refused(await leave(client, ana, direct["id"]), 409, "not-a-group")

    async def test_at_most_fifty(self, client: httpx.AsyncClient, people: People) -> None:
        crowd, group = await group_of(client, people, 49)
        one, two = await people(2)
        for p in (one, two):
            await accept_messages_from_everyone(client, p)
        assert (await add(client, crowd[0], group, one)).status_code == 200
        refused(await add(client, crowd[0], group, two), 409, "group-full")

    async def test_yourself_is_refused(self, client: httpx.AsyncClient, people: People) -> None:
        (ana, _bo, _cy), group = await group_of(client, people, 3)
        body = assert_problem(await add(client, ana, group, ana), 422)
        assert [e["loc"] for e in body["errors"]] == [["body", "user_ids"]]


class TestLeave:
    async def test_a_former_member_sees_and_receives_nothing_more(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        (ana, bo, cy), group = await group_of(client, people, 3)
        said = await send_message(client, ana, group, "before")
        assert (await leave(client, cy, group)).status_code == 204
        await send_message(client, ana, group, "after")
        last = (await events("message.created"))[-1]
        assert sorted(last["member_ids"]) == sorted([ana.id, bo.id])
        assert (await get_json(client, "/conversations", cy))["items"] == []
        base = f"{API}/conversations/{group}"
        attempts = [
            await client.get(base, headers=cy.headers),
            await client.get(f"{base}/messages", headers=cy.headers),
            await client.post(f"{base}/messages", json={"text": "x"}, headers=cy.headers),
            await client.post(f"{base}/read", json={"message_id": said["id"]}, headers=cy.headers),
            await add(client, cy, group, ana),
            await leave(client, cy, group),
        ]
        for response in attempts:
            refused(response, 404, "conversation-not-found")
        members = (await get_json(client, f"/conversations/{group}", ana))["members"]
        assert sorted(m["user"]["id"] for m in members) == sorted([ana.id, bo.id])

    async def test_added_again_they_see_it_again(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        (ana, _bo, cy), group = await group_of(client, people, 3)
        assert (await leave(client, cy, group)).status_code == 204
        assert (await add(client, ana, group, cy)).status_code == 200
        await send_message(client, cy, group, "back")

    async def test_the_last_one_out_takes_the_group(
        self, app: FastAPI, client: httpx.AsyncClient, people: People
    ) -> None:
        crowd, group = await group_of(client, people, 3)
        await send_message(client, crowd[0], group)
        for who in crowd:
            assert (await leave(client, who, group)).status_code == 204
        for who in crowd:
            refused(
                await client.get(f"{API}/conversations/{group}", headers=who.headers),
                404,
                "conversation-not-found",
            )
        async with app.state.container.db.transaction() as session:
            left = [await session.scalar(select(func.count()).select_from(t)) for t in TABLES]
        assert left == [0, 0, 0]
