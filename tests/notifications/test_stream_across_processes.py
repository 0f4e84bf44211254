"""Two server processes sharing a database and Redis: a push made in one process reaches
the sockets held by the other.

Real `minifb serve` processes (granian, then uvicorn) on free ports; one person holds a
socket on each, and another sends them a message through the first process.
Whichever process's relay publishes the message's event, its consumer pushes to
its own socket and, through the cache's pub/sub, to the other process's. And
someone is online while a socket of theirs is open on either process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from minifb.adapters.cache import create_cache
from minifb.auth.tokens import SigningKey
from minifb.notifications.presence import KEY
from tests.factories import (
    accept_messages_from_everyone,
    befriend,
    register,
    send_message,
    start_conversation,
)
from tests.fixtures.deadline import bounded, until_async
from tests.fixtures.http import API
from tests.fixtures.redis_server import redis_server
from tests.fixtures.servers import Server, base_env, shared_cache_url
from tests.fixtures.stream import STREAM, next_frame

__all__ = ["redis_server", "shared_cache_url"]  # the fixtures, imported for the tests below


@pytest.fixture(params=["granian", "uvicorn"])
async def two_servers(
    request: pytest.FixtureRequest,
    database_url: str,
    shared_cache_url: str,
    cache_prefix: str,
    tmp_path: Path,
) -> AsyncIterator[list[Server]]:
    # One signing key for both, as a deployment configures it: a token of one is good at the other.
    key = SigningKey.generate().to_pem().decode()
    env = base_env(
        database_url,
        shared_cache_url,
        cache_prefix,
        MINIFB_JWT_SIGNING_KEY=key,
        MINIFB_PRESENCE_GRACE="0",
    )
    started: list[Server] = []
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            # One after the other: two processes starting on one SQLite file at the same
            # moment may find it locked (its start-up check then fails).
            for n in range(2):
                started.append(Server(env, tmp_path / f"server-{n}", "--server", request.param))
                await started[-1].until_ready(client)
        yield started
    finally:
        for server in started:
            server.stop()


def stream_urls(servers: list[Server]) -> list[str]:
    return [f"ws://127.0.0.1:{server.port}{STREAM}" for server in servers]


@bounded(90)
async def test_a_message_sent_through_one_process_reaches_a_socket_of_the_other(
    two_servers: list[Server],
) -> None:
    async with httpx.AsyncClient(base_url=two_servers[0].url, timeout=10) as first:
        ana = await register(first)
        bea = await register(first)
        await accept_messages_from_everyone(first, ana)
        conversation = await start_conversation(first, bea, ana)
        headers = {"Authorization": f"Bearer {ana.access_token}"}
        urls = stream_urls(two_servers)
        async with (
            connect(urls[0], additional_headers=headers) as on_first,
            connect(urls[1], additional_headers=headers) as on_second,
        ):
            # Neither server compresses: frames are small, and compression costs memory
            # per socket (docs/decisions/0121); the client offered it.
            for ws in (on_first, on_second):
                assert ws.response is not None
                assert "Sec-WebSocket-Extensions" not in ws.response.headers
            message = await send_message(first, bea, conversation["id"], "across")
            expected = {
                "type": "message.created",
                "data": {"conversation_id": conversation["id"], "message": message},
            }
            # The conversation's own frame may come first, as the sockets opened after it.
            quiet = ("ping", "conversation.created")
            for ws in (on_first, on_second):
                assert await next_frame(ws, skip=quiet) == expected
            # Each frame went out once: nothing else arrives behind it.
            for ws in (on_first, on_second):
                await ws.send(orjson.dumps({"type": "ping"}).decode())
                assert await next_frame(ws) == {"type": "pong", "data": {}}


@bounded(90)
async def test_someone_is_online_while_a_socket_is_open_on_either_process(
    two_servers: list[Server], shared_cache_url: str, cache_prefix: str
) -> None:
    cache = create_cache(shared_cache_url, prefix=cache_prefix)
    async with httpx.AsyncClient(base_url=two_servers[0].url, timeout=10) as first:
        ana = await register(first)
        bea = await register(first)
        await befriend(first, ana, bea)
        urls = stream_urls(two_servers)
        skip = ("ping", "notification.created")

        async def listed_online() -> bool:
            response = await first.get(f"{API}/presence", headers=ana.headers)
            assert response.status_code == 200, response.text
            [item] = response.json()["items"]
            return bool(item["online"])

        async def claimed_by(n: int) -> bool:
            return await cache.zcard(KEY.format(bea.id)) == n

        try:
            async with connect(urls[0], additional_headers=ana.headers) as watcher:
                async with connect(urls[1], additional_headers=bea.headers):
                    came = await next_frame(watcher, skip=skip)
                    assert came["data"] == {
                        "user_id": bea.id,
                        "online": True,
                        "last_active_at": None,
                    }
                    async with connect(urls[0], additional_headers=bea.headers):
                        await until_async(lambda: claimed_by(2))  # each process claims her
                    await until_async(lambda: claimed_by(1))  # the first gave its claim up
                    # The second process still holds her socket: still online.
                    assert await listed_online()
                went = await next_frame(watcher, skip=skip)
                assert went["data"]["user_id"] == bea.id
                assert went["data"]["online"] is False
                assert not await listed_online()
        finally:
            await cache.close()
