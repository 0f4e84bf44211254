"""The stream with its Redis stopped and started again (a throwaway one, DESIGN §8).

While the cache is down a process still pushes to the sockets it holds;
once it is back, the process subscribes again by itself and hears the other
processes' pushes. Presence, which lives in the cache alone, answers 503
meanwhile.
"""

from __future__ import annotations

import asyncio

from minifb.adapters.cache import create_cache
from minifb.adapters.telemetry.metrics import Metrics
from minifb.bootstrap import Container
from minifb.notifications.hub import Hub, StreamPolicy
from tests.factories import befriend, register
from tests.fixtures.app import AppFactory
from tests.fixtures.deadline import bounded
from tests.fixtures.http import API
from tests.fixtures.redis_server import RedisServer, redis_server
from tests.fixtures.stream import next_frame, open_stream, serve_ws

__all__ = ["redis_server"]  # the fixture, imported for the tests below


@bounded(60)
async def test_local_pushes_go_on_and_the_other_processes_are_heard_again(
    make_client: AppFactory, redis_server: RedisServer
) -> None:
    app, client = await make_client(cache_url=redis_server.url, cache_timeout=0.3)
    container: Container = app.state.container
    ana = await register(client)
    ana_id = int(ana.id)
    # Another process's hub: its own connection to the same Redis, under the same prefix.
    other_cache = create_cache(redis_server.url, prefix=container.settings.cache_prefix)
    other = Hub(other_cache, container.verifier, Metrics(), StreamPolicy())
    try:
        async with serve_ws(app) as base, open_stream(base, ana.access_token) as ws:
            redis_server.stop()
            await container.hub.push([ana_id], "hello", {"n": 1})
            assert await next_frame(ws) == {"type": "hello", "data": {"n": 1}}

            redis_server.start()
            while True:  # until this process has subscribed again
                await other.push([ana_id], "hello", {"n": 2})
                try:
                    async with asyncio.timeout(0.5):
                        frame = await next_frame(ws)
                except TimeoutError:
                    continue
                assert frame == {"type": "hello", "data": {"n": 2}}
                break
    finally:
        await other_cache.close()


@bounded(60)
async def test_presence_answers_503_while_the_cache_is_down_and_comes_back(
    make_client: AppFactory, redis_server: RedisServer
) -> None:
    _, client = await make_client(cache_url=redis_server.url, cache_timeout=0.3)
    ana, bea = await register(client), await register(client)
    await befriend(client, ana, bea)
    redis_server.stop()
    # Who is online lives in the cache alone: nobody is shown offline for want of it.
    response = await client.get(f"{API}/presence", headers=ana.headers)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "retry-after" in response.headers
    redis_server.start()
    while True:  # until the cache's breaker lets a call through again
        response = await client.get(f"{API}/presence", headers=ana.headers)
        if response.status_code == 200:
            break
        assert response.status_code == 503, response.text
        await asyncio.sleep(0.2)
    assert response.json()["items"] == [
        {"user_id": bea.id, "online": False, "last_active_at": None}
    ]
