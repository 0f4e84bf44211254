"""Friend requests racing each other: crossings, answers at once, blocks and follows in between.

Each race is driven by concurrent requests over one ASGI client and judged by
what the two people see afterwards: one consistent state, never a 500.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from tests.factories import People, Person
from tests.fixtures.events import Events
from tests.fixtures.http import API
from tests.users.helpers import ids, request_id, send_request

EACH_WAY = 25
CROSSINGS = 12


async def _state(client: httpx.AsyncClient, a: Person, b: Person) -> dict[str, object]:
    """What the two people see of each other: friends, follows and pending requests."""
    return {
        "a_friends": await ids(client, f"/users/{a.id}/friends", a),
        "b_friends": await ids(client, f"/users/{b.id}/friends", b),
        "a_following": await ids(client, f"/users/{a.id}/following", a),
        "b_following": await ids(client, f"/users/{b.id}/following", b),
        "pending": [
            *await ids(client, "/friend-requests", a, direction="incoming"),
            *await ids(client, "/friend-requests", a, direction="outgoing"),
            *await ids(client, "/friend-requests", b, direction="incoming"),
            *await ids(client, "/friend-requests", b, direction="outgoing"),
        ],
    }


def _friends(a: Person, b: Person) -> dict[str, object]:
    return {
        "a_friends": [b.id],
        "b_friends": [a.id],
        "a_following": [b.id],
        "b_following": [a.id],
        "pending": [],
    }


STRANGERS: dict[str, object] = {
    "a_friends": [],
    "b_friends": [],
    "a_following": [],
    "b_following": [],
    "pending": [],
}


def _outcome(response: httpx.Response) -> str:
    """A response as `status` or `status:request status`, for counting."""
    if response.status_code == 201:
        return f"201:{response.json()['status']}"
    return str(response.status_code)


class TestCrossingRequests:
    async def test_many_each_way_at_once_end_in_one_friendship(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        sends = []
        for _ in range(EACH_WAY):
            sends += [send_request(client, alice, bob), send_request(client, bob, alice)]
        responses = await asyncio.gather(*sends)
        outcomes = Counter(_outcome(r) for r in responses)
        # The first request waits; the first one back accepts it; every other
        # is told the request exists or that they are friends already.
        assert outcomes["201:pending"] == 1, outcomes
        assert outcomes["201:accepted"] == 1, outcomes
        assert outcomes["409"] == 2 * EACH_WAY - 2, outcomes
        assert await _state(client, alice, bob) == _friends(alice, bob)
        assert len(await events("friend.accepted")) == 1
        assert len(await events("friend.requested")) == 1

    async def test_single_crossings_each_end_in_one_friendship(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        everyone = await people(2 * CROSSINGS)
        for alice, bob in zip(everyone[::2], everyone[1::2], strict=True):
            responses = await asyncio.gather(
                send_request(client, alice, bob), send_request(client, bob, alice)
            )
            assert sorted(_outcome(r) for r in responses) == ["201:accepted", "201:pending"]
            assert await _state(client, alice, bob) == _friends(alice, bob)


class TestAnswersAtOnce:
    async def test_accept_while_the_sender_cancels(
        self, client: httpx.AsyncClient, people: People
    ) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        accepted, cancelled = await asyncio.gather(
            client.post(f"{API}/friend-requests/{rid}/accept", headers=bob.headers),
            client.delete(f"{API}/friend-requests/{rid}", headers=alice.headers),
        )
        # Exactly one of them took the request.
        assert sorted([accepted.status_code, cancelled.status_code]) in ([200, 404], [204, 404])
        expected = _friends(alice, bob) if accepted.status_code == 200 else STRANGERS
        assert await _state(client, alice, bob) == expected

    async def test_accept_while_declining(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        accepted, declined = await asyncio.gather(
            client.post(f"{API}/friend-requests/{rid}/accept", headers=bob.headers),
            client.post(f"{API}/friend-requests/{rid}/decline", headers=bob.headers),
        )
        assert sorted([accepted.status_code, declined.status_code]) in ([200, 404], [204, 404])
        expected = _friends(alice, bob) if accepted.status_code == 200 else STRANGERS
        assert await _state(client, alice, bob) == expected

    async def test_accept_while_sending_back(
        self, client: httpx.AsyncClient, people: People, events: Events
    ) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        accepted, sent = await asyncio.gather(
            client.post(f"{API}/friend-requests/{rid}/accept", headers=bob.headers),
            send_request(client, bob, alice),
        )
        # Whichever came first made them friends; the other found that done.
        assert sorted([_outcome(accepted), _outcome(sent)]) in (
            ["200", "409"],
            ["201:accepted", "404"],
        )
        assert await _state(client, alice, bob) == _friends(alice, bob)
        assert len(await events("friend.accepted")) == 1

    async def test_many_answers_at_once(self, client: httpx.AsyncClient, people: People) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        answers = []
        for _ in range(5):
            answers += [
                client.post(f"{API}/friend-requests/{rid}/accept", headers=bob.headers),
                client.post(f"{API}/friend-requests/{rid}/decline", headers=bob.headers),
                client.delete(f"{API}/friend-requests/{rid}", headers=alice.headers),
            ]
        statuses = Counter(r.status_code for r in await asyncio.gather(*answers))
        assert statuses[404] == len(answers) - 1, statuses
        assert statuses[200] + statuses[204] == 1, statuses


class TestBlockInTheMiddle:
    @pytest.mark.parametrize("round_", range(3))
    async def test_block_while_accepting(
        self, client: httpx.AsyncClient, people: People, round_: int
    ) -> None:
        alice, bob = await people(2)
        rid = await request_id(client, alice, bob)
        accepted, blocked = await asyncio.gather(
            client.post(f"{API}/friend-requests/{rid}/accept", headers=bob.headers),
            client.put(f"{API}/users/{bob.id}/block", headers=alice.headers),
        )
        assert accepted.status_code in (200, 404), accepted.text
        assert blocked.status_code == 204, blocked.text
        # The block came last or first: either way nothing ties them any more.
        assert await ids(client, f"/users/{alice.id}/friends", alice) == []
        assert await ids(client, f"/users/{alice.id}/following", alice) == []
        assert await ids(client, f"/users/{alice.id}/followers", alice) == []
        assert await ids(client, "/friend-requests", alice, direction="outgoing") == []

    @pytest.mark.parametrize("round_", range(3))
    async def test_block_while_the_other_sends(
        self, client: httpx.AsyncClient, people: People, round_: int
    ) -> None:
        alice, bob = await people(2)
        sent, blocked = await asyncio.gather(
            send_request(client, bob, alice),
            client.put(f"{API}/users/{bob.id}/block", headers=alice.headers),
        )
        assert sent.status_code in (201, 404), sent.text
        assert blocked.status_code == 204, blocked.text
        assert await ids(client, "/friend-requests", alice, direction="incoming") == []
        assert await ids(client, "/friend-requests", bob, direction="outgoing") == []

    @pytest.mark.parametrize("round_", range(3))
    async def test_block_while_the_other_follows(
        self, client: httpx.AsyncClient, people: People, round_: int
    ) -> None:
        alice, bob = await people(2)
        followed, blocked = await asyncio.gather(
            client.put(f"{API}/users/{alice.id}/follow", headers=bob.headers),
            client.put(f"{API}/users/{bob.id}/block", headers=alice.headers),
        )
        assert followed.status_code in (204, 404), followed.text
        assert blocked.status_code == 204, blocked.text
        assert await ids(client, f"/users/{alice.id}/followers", alice) == []
