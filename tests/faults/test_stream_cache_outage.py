"""The stream with its Redis stopped and started again (a throwaway one, DESIGN §8).

While the cache is down a process still pushes to the sockets it holds;
once it is back, the process subscribes again by itself and hears the other
processes' pushes.
"""

from __future__ import annotations

import asyncio

from minifb.adapters.cache import create_cache
from minifb.adapters.telemetry.metrics import Metrics
from minifb.bootstrap import Container
from minifb.notifications.hub import Hub, StreamPolicy
from tests.factories import register
from tests.fixtures.app import AppFactory
from tests.fixtures.deadline import bounded
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
