"""Presence: friends see who is online now and when the others were last active, on the
stream as it changes and through `GET /presence`, unless the person turned it off.

Everything here goes through one served app (its own cache): people are made
through its client, their sockets opened on it. The claims of "another
process" are written to that cache as another process would write them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from minifb.notifications.presence import KEY
from tests.factories import Person, befriend, block, register_many
from tests.fixtures.app import AppFactory
from tests.fixtures.deadline import bounded, until
from tests.fixtures.events import settle
from tests.fixtures.http import API
from tests.fixtures.stream import next_frame, open_stream
from tests.notifications.test_stream import Stream, served


@pytest.fixture
async def stream(make_client: AppFactory) -> AsyncIterator[Stream]:
    # No grace: a closed socket is offline as soon as the change is reconciled.
    async with served(make_client, presence_grace=0) as serving:
        yield serving


async def friends(stream: Stream, n: int) -> list[Person]:
    """`n` people, each a friend of the first."""
    people = await register_many(stream.client, n)
    for other in people[1:]:
        await befriend(stream.client, people[0], other)
    return people


async def presence(stream: Stream, viewer: Person, **query: Any) -> Any:
    response = await stream.client.get(f"{API}/presence", params=query, headers=viewer.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def set_active_status(stream: Stream, who: Person, on: bool) -> None:
    """Turn someone's active status on or off, and let the change's event be handled."""
    response = await stream.client.patch(
        f"{API}/users/me", json={"settings": {"active_status": on}}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["active_status"] is on
    await settle(stream.app)


# Befriending notifies: those frames may come at any time here.
NOT_PRESENCE = ("ping", "notification.created")


async def presence_frame(ws: ClientConnection) -> dict[str, Any]:
    frame = await next_frame(ws, skip=NOT_PRESENCE)
    assert frame["type"] == "presence", frame
    data: dict[str, Any] = frame["data"]
    return data


async def no_presence_frame(ws: ClientConnection, within: float) -> None:
    """Nothing about presence arrives in `within` seconds (pings aside)."""
    try:
        async with asyncio.timeout(within):
            frame = await next_frame(ws, skip=NOT_PRESENCE)
    except TimeoutError:
        return
    pytest.fail(f"unexpected frame {frame}")


@asynccontextmanager
async def told_she_came(
    stream: Stream, watcher: Person, friend: Person
) -> AsyncIterator[ClientConnection]:
    """The watcher's socket, once told that their friend came online; the friend's socket
    stays open inside the block."""
    async with (
        open_stream(stream.base, watcher.access_token) as ws,
        open_stream(stream.base, friend.access_token),
    ):
        came = await presence_frame(ws)
        assert came == {"user_id": friend.id, "online": True, "last_active_at": None}
        yield ws


def online(stream: Stream, person: Person) -> bool:
    return bool(stream.container.hub.sockets_of(int(person.id)))


class TestFramesToFriends:
    @bounded(30)
    async def test_a_friend_coming_online_and_going_away_is_told(self, stream: Stream) -> None:
        ana, bea = await friends(stream, 2)
        async with open_stream(stream.base, ana.access_token) as watcher:
            await until(lambda: online(stream, ana))
            before = datetime.now(UTC)
            async with open_stream(stream.base, bea.access_token):
                came = await presence_frame(watcher)
                assert came == {"user_id": bea.id, "online": True, "last_active_at": None}
            went = await presence_frame(watcher)
            assert went["user_id"] == bea.id
            assert went["online"] is False
            assert before <= datetime.fromisoformat(went["last_active_at"]) <= datetime.now(UTC)

    @bounded(30)
    async def test_a_second_socket_and_its_closing_change_nothing(self, stream: Stream) -> None:
        ana, bea = await friends(stream, 2)
        async with told_she_came(stream, ana, bea) as watcher:
            async with open_stream(stream.base, bea.access_token):
                await until(lambda: len(stream.container.hub.sockets_of(int(bea.id))) == 2)
            await no_presence_frame(watcher, 1.0)
            assert (await presence(stream, ana))["items"][0]["online"] is True

    @bounded(30)
    async def test_strangers_are_not_told(self, stream: Stream) -> None:
        ana, bea = await register_many(stream.client, 2)
        async with open_stream(stream.base, ana.access_token) as stranger:
            await until(lambda: online(stream, ana))
            async with open_stream(stream.base, bea.access_token):
                await until(lambda: online(stream, bea))
                await no_presence_frame(stranger, 1.0)

    @bounded(30)
    async def test_a_reconnect_within_the_grace_is_no_going_away(
        self, make_client: AppFactory
    ) -> None:
        async with served(make_client, presence_grace=3) as stream:
            ana, bea = await friends(stream, 2)
            async with open_stream(stream.base, ana.access_token) as watcher:
                async with open_stream(stream.base, bea.access_token):
                    assert (await presence_frame(watcher))["online"] is True
                async with open_stream(stream.base, bea.access_token):
                    await no_presence_frame(watcher, 4.0)
                # Gone for longer than the grace: gone.
                closed = time.monotonic()
                went = await presence_frame(watcher)
                assert went["online"] is False
                assert time.monotonic() - closed >= 2.5


class TestActiveStatus:
    @bounded(30)
    async def test_someone_who_turned_it_off_is_neither_told_of_nor_listed(
        self, stream: Stream
    ) -> None:
        ana, bea, cid = await friends(stream, 3)
        await set_active_status(stream, bea, False)
        async with (
            open_stream(stream.base, ana.access_token) as watcher,
            open_stream(stream.base, bea.access_token),
        ):
            await until(lambda: online(stream, bea))
            async with open_stream(stream.base, cid.access_token):
                # The first presence frame is Cid's: nothing came of Bea.
                assert (await presence_frame(watcher))["user_id"] == cid.id
                listed = await presence(stream, ana)
                assert [item["user_id"] for item in listed["items"]] == [cid.id]

    @bounded(30)
    async def test_turned_off_you_see_nobody_either(self, stream: Stream) -> None:
        ana, bea = await friends(stream, 2)
        await set_active_status(stream, ana, False)
        response = await stream.client.get(f"{API}/presence", headers=ana.headers)
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"].endswith("/presence-hidden")
        async with open_stream(stream.base, ana.access_token) as hidden:
            await until(lambda: online(stream, ana))
            async with open_stream(stream.base, bea.access_token):
                await until(lambda: online(stream, bea))
                await no_presence_frame(hidden, 1.0)

    @bounded(30)
    async def test_turning_it_off_while_online_tells_friends_at_once(self, stream: Stream) -> None:
        ana, bea = await friends(stream, 2)
        async with told_she_came(stream, ana, bea) as watcher:
            await set_active_status(stream, bea, False)
            off = await presence_frame(watcher)
            assert off == {"user_id": bea.id, "online": False, "last_active_at": None}
            await set_active_status(stream, bea, True)
            assert (await presence_frame(watcher))["online"] is True


class TestTheList:
    @bounded(30)
    async def test_lists_friends_online_and_last_active(self, stream: Stream) -> None:
        ana, bea, cid, dan = await friends(stream, 4)
        async with open_stream(stream.base, ana.access_token) as watcher:
            async with open_stream(stream.base, cid.access_token):
                await presence_frame(watcher)
            await presence_frame(watcher)  # Cid went away
            async with open_stream(stream.base, bea.access_token):
                await presence_frame(watcher)
                items = (await presence(stream, ana))["items"]
                by_id = {item["user_id"]: item for item in items}
                assert [item["user_id"] for item in items] == sorted(by_id, key=int, reverse=True)
                assert by_id[bea.id] == {"user_id": bea.id, "online": True, "last_active_at": None}
                assert by_id[cid.id]["online"] is False
                assert by_id[cid.id]["last_active_at"] is not None
                assert by_id[dan.id] == {"user_id": dan.id, "online": False, "last_active_at": None}
                only = await presence(stream, ana, online_only="true")
                assert [item["user_id"] for item in only["items"]] == [bea.id]

    @bounded(60)
    async def test_pages_through_friends(self, stream: Stream) -> None:
        people = await friends(stream, 6)
        ana, others = people[0], people[1:]
        async with (
            open_stream(stream.base, others[0].access_token),
            open_stream(stream.base, others[2].access_token),
            open_stream(stream.base, others[4].access_token),
        ):
            await until(lambda: all(online(stream, others[i]) for i in (0, 2, 4)))
            await until(lambda: len(stream.container.presence.claimed) == 3)
            for query, expected in (
                ({}, [p.id for p in others]),
                ({"online_only": "true"}, [others[i].id for i in (0, 2, 4)]),
            ):
                seen: list[str] = []
                cursor = None
                while True:
                    page = await presence(
                        stream, ana, limit=2, **query, **({"cursor": cursor} if cursor else {})
                    )
                    assert len(page["items"]) <= 2
                    seen += [item["user_id"] for item in page["items"]]
                    cursor = page["next_cursor"]
                    if cursor is None:
                        break
                assert seen == sorted(expected, key=int, reverse=True)

    @bounded(30)
    async def test_strangers_are_not_listed(self, stream: Stream) -> None:
        ana, bea = await register_many(stream.client, 2)
        async with open_stream(stream.base, bea.access_token):
            await until(lambda: online(stream, bea))
            assert (await presence(stream, ana))["items"] == []

    @bounded(30)
    async def test_a_block_ends_it_both_ways(self, stream: Stream) -> None:
        ana, bea = await friends(stream, 2)
        assert [item["user_id"] for item in (await presence(stream, ana))["items"]] == [bea.id]
        await block(stream.client, bea, ana)
        assert (await presence(stream, ana))["items"] == []
        assert (await presence(stream, bea))["items"] == []


class TestAcrossProcesses:
    @bounded(30)
    async def test_a_socket_on_another_process_keeps_someone_online(self, stream: Stream) -> None:
        ana, bea = await friends(stream, 2)
        key = KEY.format(bea.id)
        async with open_stream(stream.base, ana.access_token) as watcher:
            async with open_stream(stream.base, bea.access_token):
                assert (await presence_frame(watcher))["online"] is True
                await stream.container.cache.zadd(key, {"other-process": time.time() + 60})
            await no_presence_frame(watcher, 1.0)
            assert (await presence(stream, ana))["items"][0]["online"] is True
            # That process gives its claim up (as it would, closing the socket): not
            # this one's to announce; its own reconciling would.
            await stream.container.cache.zrem(key, "other-process")
            assert (await presence(stream, ana))["items"][0]["online"] is False

    @bounded(30)
    async def test_the_claim_of_a_process_that_died_lapses(self, stream: Stream) -> None:
        ana, bea = await friends(stream, 2)
        ttl = stream.container.presence.policy.ttl
        renewed = time.time() - ttl - 30  # lapsed half a minute ago
        await stream.container.cache.zadd(KEY.format(bea.id), {"dead-process": renewed + ttl})
        [item] = (await presence(stream, ana))["items"]
        assert item["online"] is False
        last = datetime.fromisoformat(item["last_active_at"]).timestamp()
        assert abs(last - renewed) < 0.01
        # Bea comes back: the lapsed claim is cleared, and she is online.
        async with told_she_came(stream, ana, bea):
            claims = await stream.container.cache.zrange_by_score(KEY.format(bea.id))
            assert [member for member, _ in claims] == [stream.container.hub.origin]

    @bounded(30)
    async def test_claims_are_renewed(self, make_client: AppFactory) -> None:
        async with served(make_client, presence_grace=0, presence_ttl=3) as stream:
            ana, bea = await friends(stream, 2)
            async with open_stream(stream.base, bea.access_token):
                await until(lambda: stream.container.presence.claimed == {int(bea.id)})
                await asyncio.sleep(4)  # longer than the ttl: only renewals keep the claim
                assert (await presence(stream, ana))["items"][0]["online"] is True
