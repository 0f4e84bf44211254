"""`minifb worker`: consumers in a process of their own, on RabbitMQ.

A server on a broker runs only the stream's consumers; a real `minifb worker
notifications` process (on the test's database) makes the notifications, and
SIGTERM stops it cleanly within its 10 s.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
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
from tests.fixtures.servers import START_TIMEOUT, base_env
from tests.fixtures.tiers import AMQP_URL
from tests.notifications.helpers import kinds

__all__ = ["amqp_prefix"]  # the fixture, imported for the tests below

pytestmark = [
    needs_rabbitmq,
    pytest.mark.own_consumers("runs a `minifb worker` of its own beside the app"),
]

WAIT = 20.0  # seconds a worker's effect may take to show before the test fails


class Worker:
    """A `minifb worker NAME...` process over the test's database and the broker."""

    def __init__(self, settings: Settings, prefix: str, directory: Path, *names: str) -> None:
        assert AMQP_URL
        env = base_env(
            settings.database_url,
            settings.cache_url,
            settings.cache_prefix,
            MINIFB_EVENTS_URL=AMQP_URL,
            MINIFB_EVENTS_PREFIX=prefix,
            MINIFB_VAR_DIR=str(settings.var_dir),
            MINIFB_LOG_LEVEL="INFO",
        )
        self.log = directory / "worker.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-c", "from minifb.cli import main; main()", "worker", *names],
                cwd=directory,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def until_running(self) -> None:
        """Until it has declared its queues (before that, events for it go nowhere)."""
        deadline = time.monotonic() + START_TIMEOUT
        while "worker running" not in self.log.read_text():
            if self.process.poll() is not None:
                pytest.fail(f"worker exited {self.process.returncode}: {self.log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"worker not running in {START_TIMEOUT} s: {self.log.read_text()}")
            await asyncio.sleep(0.1)

    def stop(self) -> float:
        """SIGTERM, and the seconds it took to exit (its exit code checked)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=STOP_WITHIN + 5)
        assert code == 0, self.log.read_text()
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


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
    worker = Worker(settings, amqp_prefix, tmp_path, "notifications")
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
        seconds = worker.stop()
        assert seconds < STOP_WITHIN
        log = worker.log.read_text()
        assert "worker running notifications" in log
        assert "worker stopped" in log
        assert "Traceback" not in log
    finally:
        worker.kill()
