"""Friend requests: send, list, accept, decline, cancel."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.factories import People, Person, befriend, block
from tests.fixtures.events import Events
from tests.fixtures.http import API, assert_problem
from tests.users.helpers import ids, request_id, send_request, set_policy

PUBLIC_FIELDS = {"id", "username", "display_name", "bio", "avatar_url", "created_at"}


async def incoming(client: httpx.AsyncClient, who: Person) -> list[str]:
    return await ids(client, "/friend-requests", who, direction="incoming")


async def outgoing(client: httpx.AsyncClient, who: Person) -> list[str]:
    return await ids(client, "/friend-requests", who, direction="outgoing")


async def friend_ids(client: httpx.AsyncClient, of: Person) -> list[str]:
    return await ids(client, f"/users/{of.id}/friends", of)


async def following_ids(client: httpx.AsyncClient, of: Person) -> list[str]:
    return await ids(client, f"/users/{of.id}/following", of)


class TestSend:
    async def test_creates_pending_request(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        response = await send_request(client, alice, bob)
        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == {"id", "from_user", "to_user", "created_at", "status"}
        assert isinstance(body["id"], str)
        assert body["status"] == "pending"
        assert body["from_user"]["id"] == alice.id
        assert body["to_user"]["id"] == bob.id
        assert set(body["from_user"]) == PUBLIC_FIELDS
        assert set(body["to_user"]) == PUBLIC_FIELDS
        assert await incoming(client, bob) == [body["id"]]
        assert await outgoing(client, alice) == [body["id"]]
        assert await incoming(client, alice) == []

    async def test_emits_friend_requested(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        assert await events("friend.requested") == [
            {"request_id": rid, "from_user_id": alice.id, "to_user_id": bob.id}
        ]

    async def test_does_not_make_friends(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await request_id(client, alice, bob)
        assert await friend_ids(client, alice) == []
        assert await following_ids(client, alice) == []


class TestSendRefusals:
    async def test_to_oneself(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        body = assert_problem(await send_request(client, alice, alice), 422)
        assert body["errors"][0]["loc"] == ["body", "user_id"]
        assert await outgoing(client, alice) == []

    async def test_to_missing_person(self, client: httpx.AsyncClient, people: People) -> None:
        (alice,) = await people(1)
        response = await client.post(
            f"{API}/friend-requests", json={"user_id": "1"}, headers=alice.headers
        )
        assert_problem(response, 404)

    @pytest.mark.parametrize("user_id", ["abc", "", None, -1, "0", "99999999999999999999"])
    async def test_bad_id(self, client: httpx.AsyncClient, people: People, user_id: object) -> None:
        (alice,) = await people(1)
        response = await client.post(
            f"{API}/friend-requests", json={"user_id": user_id}, headers=alice.headers
        )
        assert_problem(response, 422)

    async def test_extra_fields(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob, carol = await people(3)
        response = await client.post(
            f"{API}/friend-requests",
            json={"user_id": bob.id, "from_user_id": carol.id},
            headers=alice.headers,
        )
        assert_problem(response, 422)
        assert await incoming(client, bob) == []

    async def test_duplicate(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        first = await request_id(client, alice, bob)
        assert_problem(await send_request(client, alice, bob), 409)
        assert await incoming(client, bob) == [first]

    async def test_already_friends(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await befriend(client, alice, bob)
        assert_problem(await send_request(client, alice, bob), 409)
        assert_problem(await send_request(client, bob, alice), 409)
        assert await incoming(client, bob) == []

    @pytest.mark.parametrize("blocker", ["sender", "target"])
    async def test_blocked_reads_as_missing(
        self, client: httpx.AsyncClient, people: People, blocker: str
    ) -> None:
        alice, bob = await people(2)
        await block(client, *((alice, bob) if blocker == "sender" else (bob, alice)))
        hidden = await send_request(client, alice, bob)
        missing = await client.post(
            f"{API}/friend-requests", json={"user_id": "1"}, headers=alice.headers
        )
        assert_problem(hidden, 404)
        assert hidden.json() == missing.json()
        assert await incoming(client, bob) == []


class TestTargetPolicy:
    async def test_nobody(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob, carol = await people(3)
        await befriend(client, alice, carol)
        await befriend(client, carol, bob)
        await set_policy(client, bob, "nobody")
        assert_problem(await send_request(client, alice, bob), 403)
        assert await incoming(client, bob) == []

    async def test_friends_of_friends_without_mutual(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob = await people(2)
        await set_policy(client, bob, "friends_of_friends")
        assert_problem(await send_request(client, alice, bob), 403)
        assert await incoming(client, bob) == []

    async def test_friends_of_friends_with_mutual(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob, carol = await people(3)
        await befriend(client, alice, carol)
        await befriend(client, carol, bob)
        await set_policy(client, bob, "friends_of_friends")
        rid = await request_id(client, alice, bob)
        assert await incoming(client, bob) == [rid]

    async def test_everyone(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        await set_policy(client, bob, "nobody")
        await set_policy(client, bob, "everyone")
        await request_id(client, alice, bob)

    async def test_policy_does_not_stop_the_answer_to_a_request(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        # Bob asked Alice; Alice accepting by sending back is not a cold request.
        alice, bob = await people(2)
        await request_id(client, bob, alice)
        await set_policy(client, bob, "nobody")
        response = await send_request(client, alice, bob)
        assert response.status_code == 201
        assert response.json()["status"] == "accepted"


class TestCrossingRequest:
    async def test_becomes_a_friendship(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        bobs = await request_id(client, bob, alice)
        response = await send_request(client, alice, bob)
        assert response.status_code == 201
        body = response.json()
        assert body["status"] == "accepted"
        assert body["id"] == bobs
        assert body["from_user"]["id"] == bob.id
        assert body["to_user"]["id"] == alice.id
        assert await friend_ids(client, alice) == [bob.id]
        assert await friend_ids(client, bob) == [alice.id]
        assert await following_ids(client, alice) == [bob.id]
        assert await following_ids(client, bob) == [alice.id]
        assert await incoming(client, alice) == []
        assert await outgoing(client, alice) == []
        assert await outgoing(client, bob) == []
        assert await events("friend.accepted") == [
            {"request_id": bobs, "from_user_id": bob.id, "to_user_id": alice.id}
        ]
        assert len(await events("friend.requested")) == 1

    async def test_at_the_same_time(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        responses = await asyncio.gather(
            send_request(client, alice, bob), send_request(client, bob, alice)
        )
        # The pair is locked: one request waits, the other one accepts it.
        assert sorted(r.json()["status"] for r in responses) == ["accepted", "pending"]
        assert await friend_ids(client, alice) == [bob.id]
        assert await friend_ids(client, bob) == [alice.id]
        assert await incoming(client, alice) == []
        assert await incoming(client, bob) == []


class TestList:
    async def test_newest_first_and_paged(self, client: httpx.AsyncClient, people: People) -> None:
        bob, *senders = await people(4)
        sent = [await request_id(client, s, bob) for s in senders]
        newest_first = list(reversed(sent))
        assert await incoming(client, bob) == newest_first
        first = (
            await client.get(f"{API}/friend-requests", params={"limit": 2}, headers=bob.headers)
        ).json()
        assert [r["id"] for r in first["items"]] == newest_first[:2]
        assert first["next_cursor"]
        second = (
            await client.get(
                f"{API}/friend-requests",
                params={"limit": 2, "cursor": first["next_cursor"]},
                headers=bob.headers,
            )
        ).json()
        assert [r["id"] for r in second["items"]] == newest_first[2:]
        assert second["next_cursor"] is None

    async def test_incoming_is_the_default(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        assert await ids(client, "/friend-requests", bob) == [rid]
        assert await ids(client, "/friend-requests", alice) == []

    async def test_outgoing_items_carry_both_people(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob = await people(2)
        await request_id(client, alice, bob)
        body = (
            await client.get(
                f"{API}/friend-requests", params={"direction": "outgoing"}, headers=alice.headers
            )
        ).json()
        (item,) = body["items"]
        assert item["from_user"]["username"] == alice.username
        assert item["to_user"]["username"] == bob.username
        assert "email" not in item["to_user"]

    @pytest.mark.parametrize(
        "params",
        [{"direction": "sideways"}, {"limit": 0}, {"limit": 101}, {"cursor": "not-a-cursor"}],
    )
    async def test_bad_parameters(
        self, client: httpx.AsyncClient, people: People, params: dict[str, str | int]
    ) -> None:
        (alice,) = await people(1)
        response = await client.get(f"{API}/friend-requests", params=params, headers=alice.headers)
        assert_problem(response, 422)


class TestAccept:
    async def test_makes_friends_who_follow_each_other(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        response = await client.post(f"{API}/friend-requests/{rid}/accept", headers=bob.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == rid
        assert body["status"] == "accepted"
        assert body["from_user"]["id"] == alice.id
        assert body["to_user"]["id"] == bob.id
        assert await friend_ids(client, alice) == [bob.id]
        assert await friend_ids(client, bob) == [alice.id]
        assert await following_ids(client, alice) == [bob.id]
        assert await following_ids(client, bob) == [alice.id]
        assert await incoming(client, bob) == []
        assert await outgoing(client, alice) == []
        assert await events("friend.accepted") == [
            {"request_id": rid, "from_user_id": alice.id, "to_user_id": bob.id}
        ]

    async def test_keeps_an_existing_follow(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob = await people(2)
        await client.put(f"{API}/users/{bob.id}/follow", headers=alice.headers)
        await befriend(client, alice, bob)
        assert await following_ids(client, alice) == [bob.id]

    async def test_sender_is_refused(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        response = await client.post(f"{API}/friend-requests/{rid}/accept", headers=alice.headers)
        assert_problem(response, 403)
        assert await incoming(client, bob) == [rid]
        assert await friend_ids(client, alice) == []

    async def test_stranger_sees_nothing(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob, mallory = await people(3)
        rid = await request_id(client, alice, bob)
        response = await client.post(f"{API}/friend-requests/{rid}/accept", headers=mallory.headers)
        missing = await client.post(f"{API}/friend-requests/1/accept", headers=mallory.headers)
        assert_problem(response, 404)
        assert response.json() == missing.json()
        assert await incoming(client, bob) == [rid]
        assert await friend_ids(client, bob) == []

    async def test_twice(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        await client.post(f"{API}/friend-requests/{rid}/accept", headers=bob.headers)
        again = await client.post(f"{API}/friend-requests/{rid}/accept", headers=bob.headers)
        assert_problem(again, 404)

    async def test_twice_at_once(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        url = f"{API}/friend-requests/{rid}/accept"
        responses = await asyncio.gather(
            client.post(url, headers=bob.headers), client.post(url, headers=bob.headers)
        )
        assert sorted(r.status_code for r in responses) == [200, 404]
        assert await friend_ids(client, alice) == [bob.id]
        assert len(await events("friend.accepted")) == 1

    @pytest.mark.parametrize("bad", ["abc", "0", "99999999999999999999"])
    async def test_bad_id(self, client: httpx.AsyncClient, people: People, bad: str) -> None:
        (alice,) = await people(1)
        response = await client.post(f"{API}/friend-requests/{bad}/accept", headers=alice.headers)
        assert_problem(response, 422)


class TestDecline:
    async def test_removes_the_request(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        response = await client.post(f"{API}/friend-requests/{rid}/decline", headers=bob.headers)
        assert response.status_code == 204
        assert response.content == b""
        assert await incoming(client, bob) == []
        assert await outgoing(client, alice) == []
        assert await friend_ids(client, bob) == []
        assert await events("friend.accepted") == []

    async def test_sender_is_refused(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        response = await client.post(f"{API}/friend-requests/{rid}/decline", headers=alice.headers)
        assert_problem(response, 403)
        assert await incoming(client, bob) == [rid]

    async def test_stranger_sees_nothing(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob, mallory = await people(3)
        rid = await request_id(client, alice, bob)
        response = await client.post(
            f"{API}/friend-requests/{rid}/decline", headers=mallory.headers
        )
        assert_problem(response, 404)
        assert await incoming(client, bob) == [rid]

    async def test_missing(self, client: httpx.AsyncClient, people: People) -> None:
        (bob,) = await people(1)
        response = await client.post(f"{API}/friend-requests/1/decline", headers=bob.headers)
        assert_problem(response, 404)

    async def test_sender_may_ask_again(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        await client.post(f"{API}/friend-requests/{rid}/decline", headers=bob.headers)
        assert await request_id(client, alice, bob) != rid


class TestCancel:
    async def test_sender_withdraws(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        response = await client.delete(f"{API}/friend-requests/{rid}", headers=alice.headers)
        assert response.status_code == 204
        assert await incoming(client, bob) == []
        assert await outgoing(client, alice) == []

    async def test_addressee_is_refused(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        response = await client.delete(f"{API}/friend-requests/{rid}", headers=bob.headers)
        assert_problem(response, 403)
        assert await outgoing(client, alice) == [rid]

    async def test_stranger_sees_nothing(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob, mallory = await people(3)
        rid = await request_id(client, alice, bob)
        response = await client.delete(f"{API}/friend-requests/{rid}", headers=mallory.headers)
        assert_problem(response, 404)
        assert await outgoing(client, alice) == [rid]

    async def test_twice(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        await client.delete(f"{API}/friend-requests/{rid}", headers=alice.headers)
        again = await client.delete(f"{API}/friend-requests/{rid}", headers=alice.headers)
        assert_problem(again, 404)

    async def test_after_acceptance(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        await client.post(f"{API}/friend-requests/{rid}/accept", headers=bob.headers)
        response = await client.delete(f"{API}/friend-requests/{rid}", headers=alice.headers)
        assert_problem(response, 404)
        assert await friend_ids(client, alice) == [bob.id]
