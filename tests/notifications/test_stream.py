"""`/api/v1/stream` over a real WebSocket: who may connect, what is pushed, what a client
may send, and when the server closes a socket.

Pushes start where they start in production, as outbox events (the relay,
the bus, the stream's consumer); the limits of one socket are exercised
through the hub directly.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from minifb.adapters.telemetry.metrics import Metrics
from minifb.auth.tokens import AccessTokenCodec
from minifb.bootstrap import Container
from minifb.kit.security import Principal
from minifb.notifications import hub as hub_module
from minifb.notifications.hub import StreamPolicy
from tests.factories import People, Person
from tests.fixtures.app import AppFactory
from tests.fixtures.deadline import bounded, until
from tests.fixtures.http import API
from tests.fixtures.stream import event, next_frame, open_stream, serve_ws


class Stream:
    """The served app: its container, an HTTP client and the WebSocket base URL."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient, base: str) -> None:
        self.app = app
        self.client = client
        self.base = base
        self.container: Container = app.state.container

    def session_of(self, person: Person) -> int:
        return self.container.tokens.verify(person.access_token).session_id


@asynccontextmanager
async def served(make_client: AppFactory, **settings: Any) -> AsyncIterator[Stream]:
    """An app with these settings, served over TCP."""
    app, client = await make_client(**settings)
    async with serve_ws(app) as base:
        yield Stream(app, client, base)


@pytest.fixture
async def stream(make_client: AppFactory) -> AsyncIterator[Stream]:
    async with served(make_client) as serving:
        yield serving


async def closed_with(ws: ClientConnection) -> int | None:
    """Read until the server closes; the close code it sent."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as closed:
        return None if closed.rcvd is None else closed.rcvd.code


def message_created(conversation: str, members: list[Person], text: str) -> dict[str, Any]:
    message = {"id": "7", "conversation_id": conversation, "text": text}
    return {
        "conversation_id": conversation,
        "member_ids": [m.id for m in members],
        "message": message,
    }


class TestWhoMayConnect:
    @pytest.mark.parametrize("token", [None, "", "not-a-token"])
    @bounded(20)
    async def test_no_valid_token_is_refused_at_the_handshake(
        self, stream: Stream, token: str | None
    ) -> None:
        for via in ("header", "query"):
            with pytest.raises(InvalidStatus) as refused:
                async with open_stream(stream.base, token, via=via):
                    pass
            assert refused.value.response.status_code == 403

    @bounded(20)
    async def test_an_expired_token_is_refused(self, stream: Stream, people: People) -> None:
        [ana] = await people(1)
        old, _ = stream.container.tokens.issue(
            user_id=int(ana.id),
            session_id=stream.session_of(ana),
            now=datetime.now(UTC) - timedelta(hours=1),
        )
        with pytest.raises(InvalidStatus) as refused:
            async with open_stream(stream.base, old):
                pass
        assert refused.value.response.status_code == 403

    @bounded(20)
    async def test_the_token_goes_in_the_header_or_the_query(
        self, stream: Stream, people: People
    ) -> None:
        [ana] = await people(1)
        async with (
            open_stream(stream.base, ana.access_token) as by_header,
            open_stream(stream.base, ana.access_token, via="query") as by_query,
        ):
            await until(lambda: len(stream.container.hub.sockets_of(int(ana.id))) == 2)
            await stream.container.hub.push([int(ana.id)], "hello", {"n": 1})
            for ws in (by_header, by_query):
                assert await next_frame(ws) == {"type": "hello", "data": {"n": 1}}

    @bounded(20)
    async def test_a_socket_is_closed_when_its_token_expires(
        self, stream: Stream, people: People
    ) -> None:
        [ana] = await people(1)
        settings = stream.container.settings
        # Issued at a whole second, a token of 4 s lives 3 to 4 s: long enough for the
        # handshake on a loaded machine (2 s left as little as 1 s, which one CI run missed).
        short = AccessTokenCodec(
            stream.container.keyset,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=4,
        )
        token, _ = short.issue(user_id=int(ana.id), session_id=stream.session_of(ana))
        async with open_stream(stream.base, token) as ws:
            started = time.monotonic()
            assert await closed_with(ws) == hub_module.POLICY_VIOLATION
            assert time.monotonic() - started < 4 + 3  # its expiry, then a sweep and margin

    @bounded(20)
    async def test_a_socket_is_closed_when_its_login_ends(
        self, stream: Stream, people: People
    ) -> None:
        ana, bea = await people(2)
        async with (
            open_stream(stream.base, ana.access_token) as ended,
            open_stream(stream.base, bea.access_token) as other,
        ):
            response = await stream.client.post(
                f"{API}/auth/logout", json={"refresh_token": ana.refresh_token}
            )
            assert response.status_code == 204, response.text
            assert await closed_with(ended) == hub_module.POLICY_VIOLATION
            # Another person's login goes on.
            await stream.container.hub.push([int(bea.id)], "hello", {})
            assert (await next_frame(other))["type"] == "hello"


class TestPushes:
    @bounded(20)
    async def test_a_message_reaches_every_open_socket_of_every_member(
        self, stream: Stream, people: People
    ) -> None:
        ana, bea, cid = await people(3)
        async with (
            open_stream(stream.base, ana.access_token) as ana_1,
            open_stream(stream.base, ana.access_token) as ana_2,
            open_stream(stream.base, bea.access_token) as bea_1,
            open_stream(stream.base, cid.access_token) as outsider,
        ):
            data = message_created("11", [ana, bea], "hi")
            await event(stream.container, "message.created", data)
            expected = {
                "type": "message.created",
                "data": {"conversation_id": "11", "message": data["message"]},
            }
            for ws in (ana_1, ana_2, bea_1):
                assert await next_frame(ws) == expected
            # The outsider's next frame is their own notification, not the message.
            note = {"id": "5", "type": "friend_request"}
            await event(
                stream.container, "notification.created", {"user_id": cid.id, "notification": note}
            )
            assert await next_frame(outsider) == {"type": "notification.created", "data": note}

    @bounded(20)
    async def test_read_receipts_reach_the_members(self, stream: Stream, people: People) -> None:
        ana, bea = await people(2)
        async with open_stream(stream.base, ana.access_token) as ws:
            data = {
                "conversation_id": "11",
                "member_ids": [ana.id, bea.id],
                "user_id": bea.id,
                "message_id": "99",
            }
            await event(stream.container, "message.read", data)
            assert await next_frame(ws) == {
                "type": "message.read",
                "data": {"conversation_id": "11", "user_id": bea.id, "message_id": "99"},
            }

    @bounded(20)
    async def test_an_event_with_bad_data_is_dropped_and_the_next_ones_flow(
        self, stream: Stream, people: People
    ) -> None:
        [ana] = await people(1)
        async with open_stream(stream.base, ana.access_token) as ws:
            await event(stream.container, "message.created", {"member_ids": "not a list"})
            await event(stream.container, "notification.created", {"user_id": ana.id})
            await event(stream.container, "message.created", message_created("3", [ana], "ok"))
            frame = await next_frame(ws)
            assert frame["type"] == "message.created"
            assert frame["data"]["message"]["text"] == "ok"

    @bounded(20)
    async def test_pushed_frames_and_their_delivery_latency_are_measured(
        self, stream: Stream, people: People
    ) -> None:
        ana, bea = await people(2)
        async with open_stream(stream.base, bea.access_token) as ws:
            await event(stream.container, "message.created", message_created("4", [ana, bea], "x"))
            await next_frame(ws)
            metrics = stream.container.metrics.registry
            labels = {"type": "message.created"}
            await until(
                lambda: metrics.get_sample_value("minifb_stream_frames_total", labels) == 1.0
            )
            count = metrics.get_sample_value("minifb_stream_delivery_seconds_count", labels)
            total = metrics.get_sample_value("minifb_stream_delivery_seconds_sum", labels)
            assert count == 1.0
            assert total is not None
            assert 0 <= total < 5


class TestAcrossProcesses:
    """What one process publishes for the others, without a second server: two hubs on
    one cache (the cross-process tests run real servers)."""

    async def test_frames_pushed_together_go_out_in_one_publication(self, stream: Stream) -> None:
        cache = stream.container.cache
        sent: list[bytes] = []
        publish = cache.publish

        async def counted(channel: str, message: bytes) -> None:
            sent.append(message)
            await publish(channel, message)

        here = hub_module.Hub(cache, stream.container.verifier, Metrics(), StreamPolicy())
        there = hub_module.Hub(cache, stream.container.verifier, Metrics(), StreamPolicy())
        cache.publish = counted  # type: ignore[method-assign]
        socket = there.add(Principal(user_id=7, session_id=1), time.time() + 60)
        try:
            for n in range(3):  # as a consumer pushes a relayed batch: no wait between
                await here.push([7], "hello", {"n": n})
            assert here._publisher is not None
            async with asyncio.timeout(5):
                await here._publisher
            assert len(sent) == 1
            there._received(sent[0])
            frames = [await socket.next() for _ in range(3)]
            assert [orjson.loads(f.text)["data"] for f in frames] == [{"n": n} for n in range(3)]
            there._received(b'{"o": "x", "e": [[[7], "hello"]]}')  # malformed: ignored
            assert socket.queued == 0
        finally:
            cache.publish = publish  # type: ignore[method-assign]
            await here.stop()
            await there.stop()


class Conversations:
    """The membership port as the messages service answers it, over a fixed table."""

    def __init__(self, members: dict[int, list[int]]) -> None:
        self.members = members

    async def members_if_member(self, conversation_id: int, user_id: int) -> list[int] | None:
        members = self.members.get(conversation_id)
        return list(members) if members is not None and user_id in members else None


class TestClientFrames:
    @bounded(20)
    async def test_typing_is_relayed_to_the_other_members_only(
        self, stream: Stream, people: People
    ) -> None:
        ana, bea, cid = await people(3)
        stream.container.hub.membership = Conversations({42: [int(ana.id), int(bea.id)]})
        async with (
            open_stream(stream.base, ana.access_token) as typist,
            open_stream(stream.base, bea.access_token) as member,
            open_stream(stream.base, cid.access_token) as outsider,
        ):
            await typist.send(orjson.dumps({"type": "typing", "conversation_id": "42"}).decode())
            assert await next_frame(member) == {
                "type": "typing",
                "data": {"conversation_id": "42", "user_id": ana.id},
            }
            # An outsider typing into it learns nothing of it, and nobody hears them.
            await outsider.send(orjson.dumps({"type": "typing", "conversation_id": 42}).decode())
            assert (await next_frame(outsider))["data"]["code"] == "not_found"
            # The typist got no echo: their next frame answers their ping.
            await typist.send('{"type": "ping"}')
            assert await next_frame(typist) == {"type": "pong", "data": {}}
            await member.send('{"type": "ping"}')
            assert (await next_frame(member))["type"] == "pong"

    @bounded(20)
    async def test_typing_is_relayed_at_most_once_a_second_per_socket(
        self, stream: Stream, people: People
    ) -> None:
        ana, bea = await people(2)
        stream.container.hub.membership = Conversations({42: [int(ana.id), int(bea.id)]})
        typing = '{"type": "typing", "conversation_id": "42"}'
        async with (
            open_stream(stream.base, ana.access_token) as typist,
            open_stream(stream.base, bea.access_token) as member,
        ):
            for _ in range(5):
                await typist.send(typing)
            assert (await next_frame(member))["type"] == "typing"
            # The typist's pong comes after the five frames were read: the others were dropped.
            await typist.send('{"type": "ping"}')
            assert (await next_frame(typist))["type"] == "pong"
            await member.send('{"type": "ping"}')
            assert (await next_frame(member))["type"] == "pong"
            await asyncio.sleep(1.0)
            await typist.send(typing)
            assert (await next_frame(member))["type"] == "typing"

    @pytest.mark.parametrize(
        ("frame", "code"),
        [
            ("not json", "invalid_json"),
            ("[1, 2]", "unknown_type"),
            ('{"type": "dance"}', "unknown_type"),
            ('{"type": "typing"}', "invalid_conversation_id"),
            ('{"type": "typing", "conversation_id": "x1"}', "invalid_conversation_id"),
            ('{"type": "typing", "conversation_id": true}', "invalid_conversation_id"),
            ('{"type": "typing", "conversation_id": -3}', "invalid_conversation_id"),
            ('{"type": "typing", "conversation_id": "%s"}' % ("9" * 20), "invalid_conversation_id"),
        ],
    )
    @bounded(20)
    async def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays(
        self, stream: Stream, people: People, frame: str, code: str
    ) -> None:
        [ana] = await people(1)
        stream.container.hub.membership = Conversations({})
        async with open_stream(stream.base, ana.access_token) as ws:
            await ws.send(frame)
            error = await next_frame(ws)
            assert error["type"] == "error"
            assert error["data"]["code"] == code
            await ws.send(b'{"type": "ping"}')  # a binary frame is read alike
            assert await next_frame(ws) == {"type": "pong", "data": {}}

    @bounded(20)
    async def test_typing_without_the_messages_service_is_refused(
        self, stream: Stream, people: People
    ) -> None:
        [ana] = await people(1)
        stream.container.hub.membership = None
        async with open_stream(stream.base, ana.access_token) as ws:
            await ws.send('{"type": "typing", "conversation_id": "1"}')
            assert (await next_frame(ws))["data"]["code"] == "unavailable"

    @bounded(20)
    async def test_a_frame_over_the_limit_closes_the_socket(
        self, stream: Stream, people: People
    ) -> None:
        [ana] = await people(1)
        limit = stream.container.settings.stream_max_frame
        async with open_stream(stream.base, ana.access_token) as ws:
            await ws.send('{"type": "ping"}' + " " * (limit - 16))  # exactly the limit
            assert (await next_frame(ws))["type"] == "pong"
            await ws.send('{"type": "ping"}' + " " * (limit - 15))
            assert await closed_with(ws) == hub_module.TOO_BIG


class TestKeepAlive:
    @bounded(30)
    async def test_a_quiet_socket_is_pinged_and_closed_when_it_does_not_answer(
        self, make_client: AppFactory, people: People
    ) -> None:
        async with served(make_client, stream_ping_interval=0.5, stream_ping_timeout=1) as stream:
            ana, bea = await people(2)
            async with (
                open_stream(stream.base, ana.access_token) as answers,
                open_stream(stream.base, bea.access_token) as silent,
            ):
                assert await next_frame(silent, skip=()) == {"type": "ping", "data": {}}
                silent_closed = asyncio.create_task(closed_with(silent))
                deadline = time.monotonic() + 4
                pings = 0
                while time.monotonic() < deadline:
                    async with asyncio.timeout(deadline - time.monotonic() + 0.5):
                        frame = await next_frame(answers, skip=())
                    assert frame["type"] == "ping"
                    pings += 1
                    await answers.send('{"type": "pong"}')
                    if silent_closed.done():
                        break
                assert await silent_closed == hub_module.NO_PONG
                assert pings >= 1
                # The one that answered is open still.
                await answers.send('{"type": "ping"}')
                assert (await next_frame(answers))["type"] == "pong"


class TestSlowReaders:
    @bounded(60)
    async def test_a_reader_that_never_reads_delays_nobody_and_is_closed(
        self, make_client: AppFactory, people: People
    ) -> None:
        async with served(make_client, stream_queue_size=8) as stream:
            hub = stream.container.hub
            slow, fast = await people(2)
            async with (
                open_stream(stream.base, slow.access_token, max_queue=1) as _never_read,
                open_stream(stream.base, fast.access_token) as reader,
            ):
                await until(lambda: len(hub.sockets_of(int(slow.id))) == 1)
                [stuck] = hub.sockets_of(int(slow.id))
                pushed: dict[int, float] = {}
                lags: list[float] = []
                frames = 600

                async def read_all() -> None:
                    for _ in range(frames):
                        frame = await next_frame(reader)
                        lags.append(time.monotonic() - pushed[frame["data"]["n"]])

                reading = asyncio.create_task(read_all())
                # Loopback buffers hold megabytes: fill them, with what does not compress.
                padding = base64.b64encode(os.urandom(24_000)).decode()
                for n in range(frames):
                    pushed[n] = time.monotonic()
                    await hub.push([int(slow.id), int(fast.id)], "bulk", {"n": n, "p": padding})
                    assert stuck.queued <= 8  # its memory is bounded
                    await asyncio.sleep(0.002)
                await reading
                assert stuck.closing == hub_module.Closing(hub_module.FELL_BEHIND, "too far behind")
                [fast_socket] = hub.sockets_of(int(fast.id))
                assert fast_socket.closing is None
                assert max(lags) < 1.0, max(lags)
                await until(lambda: not hub.sockets_of(int(slow.id)))


class TestDraining:
    """What SIGTERM does to the stream before the server's own shutdown (the real servers'
    stop is in tests/test_serve_shutdown.py): every socket closes with 1001, and a new one
    is refused."""

    @bounded(20)
    async def test_every_socket_closes_with_1001_and_new_ones_are_refused(
        self, stream: Stream, people: People
    ) -> None:
        ana, bea = await people(2)
        hub = stream.container.hub
        async with (
            open_stream(stream.base, ana.access_token) as first,
            open_stream(stream.base, bea.access_token) as second,
        ):
            await until(lambda: hub.count() == 2)
            assert await hub.drain(5.0) == 0  # both sent their close frame, in time
            for ws in (first, second):
                assert await closed_with(ws) == hub_module.GOING_AWAY
                assert ws.close_reason == "server shutting down"
        with pytest.raises(InvalidStatus) as refused:
            async with open_stream(stream.base, ana.access_token):
                pass
        response = refused.value.response
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.headers["Content-Type"] == "application/problem+json"
        assert orjson.loads(response.body)["status"] == 503

    async def test_a_socket_accepted_as_the_drain_began_closes_too(self, stream: Stream) -> None:
        hub = stream.container.hub
        assert await hub.drain(1.0) == 0
        socket = hub.add(Principal(user_id=7, session_id=1), time.time() + 60)
        assert socket.closing == hub_module.Closing(hub_module.GOING_AWAY, "server shutting down")
        hub.remove(socket)

    @bounded(20)
    async def test_the_drain_gives_up_on_a_socket_that_does_not_end_in_time(
        self, stream: Stream
    ) -> None:
        hub = stream.container.hub
        # A socket no handler serves: nothing sends its close frame or removes it.
        socket = hub.add(Principal(user_id=7, session_id=1), time.time() + 60)
        started = time.monotonic()
        assert await hub.drain(0.3) == 1
        assert 0.3 <= time.monotonic() - started < 2
        assert socket.closing == hub_module.Closing(hub_module.GOING_AWAY, "server shutting down")
        hub.remove(socket)
