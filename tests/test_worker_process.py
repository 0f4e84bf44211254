"""`minifb worker`: consumers in a process of their own, on RabbitMQ.

A server on a broker runs only the stream's consumers; a real `minifb worker
notifications` process (on the test's database) makes the notifications, and
SIGTERM stops it cleanly within its 10 s.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from minifb.adapters.events.rabbitmq import RabbitMQEventBus
from minifb.config import Settings
from minifb.worker import STOP_WITHIN
from tests.factories import befriend, register_many
from tests.fixtures.app import AppFactory
from tests.fixtures.events import settle
from tests.fixtures.http import get_json
from tests.fixtures.rabbitmq import amqp_prefix, needs_rabbitmq
from tests.fixtures.servers import Worker, base_env
from tests.fixtures.tiers import AMQP_URL
from tests.notifications.helpers import kinds

__all__ = ["amqp_prefix"]  # the fixture, imported for the tests below

pytestmark = [
    needs_rabbitmq,
    pytest.mark.own_consumers("runs a `minifb worker` of its own beside the app"),
]

WAIT = 20.0  # seconds a worker's effect may take to show before the test fails


def worker_env(settings: Settings, prefix: str) -> dict[str, str]:
    """A worker's environment: the test's database and cache, the broker under `prefix`."""
    assert AMQP_URL
    return base_env(
        settings.database_url,
        settings.cache_url,
        settings.cache_prefix,
        MINIFB_EVENTS_URL=AMQP_URL,
        MINIFB_EVENTS_PREFIX=prefix,
        MINIFB_VAR_DIR=str(settings.var_dir),
        MINIFB_LOG_LEVEL="INFO",
    )


async def test_a_worker_makes_the_notifications_a_server_on_a_broker_does_not(
    amqp_prefix: str, make_client: AppFactory, settings: Settings, tmp_path: Path
) -> None:
    app, client = await make_client(events_url=AMQP_URL, events_prefix=amqp_prefix)
    bus = app.state.container.bus
    assert isinstance(bus, RabbitMQEventBus)
    # A server on a broker runs only the stream (and its presence) by default.
    assert sorted(bus.queue_names()) == sorted(
        [bus.queue_name(c) for c in ("presence", "stream")]
        + [bus.dead_letter_queue_name(c) for c in ("presence", "stream")]
    )
    worker = Worker(worker_env(settings, amqp_prefix), tmp_path, "notifications")
    try:
        await worker.until_running()
        ana, bo = await register_many(client, 2)
        await befriend(client, ana, bo)
        await settle(app)  # published to the broker; the worker's queue has them
        async with asyncio.timeout(WAIT):
            while True:
                items = (await get_json(client, "/notifications", bo))["items"]
                if items:
                    break
                await asyncio.sleep(0.1)
        assert kinds(items) == ["friend_request"]
        stopping = time.monotonic()
        assert worker.stop(timeout=STOP_WITHIN + 5) == 0, worker.log.read_text()
        assert time.monotonic() - stopping < STOP_WITHIN
        log = worker.log.read_text()
        assert "worker running notifications" in log
        assert "worker stopped" in log
        assert "Traceback" not in log
    finally:
        worker.kill()
