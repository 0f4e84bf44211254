"""RabbitMQ stopped while people post (issue 13): every post answers 2xx, and once the
broker is back every event reaches its consumer, none twice in effect.

The app runs every consumer over a throwaway RabbitMQ node of the test's own
(`tests.fixtures.rabbitmq_server`, never the shared broker), which is stopped
for `OUTAGE` seconds while `POSTS` posts are made at a steady pace, then
started again on the same data. The outbox keeps what could not be
published; the relay sends it once the broker answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from minifb.adapters.events import Event
from minifb.adapters.events.rabbitmq import RabbitMQEventBus
from minifb.adapters.resilience import Unavailable
from minifb.models import OutboxEvent, ProcessedEvent
from tests.factories import follow, register_many
from tests.fixtures.app import AppFactory
from tests.fixtures.deadline import bounded
from tests.fixtures.http import API, get_json
from tests.fixtures.rabbitmq import needs_rabbitmq
from tests.fixtures.rabbitmq_server import RabbitMQServer, RabbitMQUnavailable, rabbitmq_server
from tests.fixtures.tiers import AMQP_REQUIRED

POSTS = 1000
OUTAGE = 30.0  # seconds the broker is down while the posts are made
BACK_WITHIN = 60.0  # seconds after the broker's return by which every event is handled

# In the run against the services (with MINIFB_TEST_AMQP_URL), as the database's faults.
pytestmark = needs_rabbitmq


@pytest.fixture(scope="module")
def broker() -> Iterator[RabbitMQServer]:
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(rabbitmq_server())
        except RabbitMQUnavailable as exc:
            if AMQP_REQUIRED:
                pytest.fail(f"{exc}; the full pass runs the broker's faults")
            pytest.skip(f"{exc}; install RabbitMQ's server to run these")
        yield server


@bounded(OUTAGE + BACK_WITHIN + 60)
async def test_posts_made_while_the_broker_is_down_reach_the_feed_once_it_is_back(
    broker: RabbitMQServer, make_client: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    if not broker.is_running():
        await asyncio.to_thread(broker.start)
    app, client = await make_client(
        events_url=broker.url,
        events_prefix=f"outage-{uuid.uuid4().hex[:8]}-",
        server_consumers=["all"],
        feed_size=POSTS + 10,
    )
    container = app.state.container
    assert isinstance(container.bus, RabbitMQEventBus)
    ana, bo = await register_many(client, 2)
    await follow(client, bo, ana)

    async def unpublished() -> int:
        async with container.db.transaction() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.published_at.is_(None))
            )
        return int(count or 0)

    await asyncio.to_thread(broker.stop)
    loop = asyncio.get_running_loop()
    began = loop.time()
    statuses: list[int] = []
    post_ids: list[str] = []
    for i in range(POSTS):
        response = await client.post(
            f"{API}/posts", json={"text": f"while the broker is down {i}"}, headers=ana.headers
        )
        statuses.append(response.status_code)
        if response.status_code == 201:
            post_ids.append(response.json()["id"])
        await asyncio.sleep(max(0.0, began + (i + 1) * OUTAGE / POSTS - loop.time()))
    assert statuses == [201] * POSTS
    # The outbox holds what the broker could not take (the outage was real).
    assert await unpublished() >= POSTS - 50

    await asyncio.to_thread(broker.start)
    back = time.monotonic()

    async def handled_by_the_feed() -> int:
        async with container.db.transaction() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(ProcessedEvent)
                .join(OutboxEvent, OutboxEvent.id == ProcessedEvent.event_id)
                .where(ProcessedEvent.consumer == "feed", OutboxEvent.type == "post.created")
            )
        return int(count or 0)

    while await handled_by_the_feed() < POSTS:
        assert time.monotonic() - back < BACK_WITHIN, f"{await handled_by_the_feed()} handled"
        await asyncio.sleep(0.25)

    feed = await get_json(client, "/feed", bo, limit=100)
    seen: list[str] = [item["id"] for item in feed["items"]]
    while feed.get("next_cursor"):
        feed = await get_json(client, "/feed", bo, limit=100, cursor=feed["next_cursor"])
        seen += [item["id"] for item in feed["items"]]
    # Every post once, newest first: none lost, none twice.
    assert seen == list(reversed(post_ids))
    assert await unpublished() == 0
    # The outage is told in a few lines, not one per post.
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) < 50


@bounded(90)
async def test_a_bus_started_while_the_broker_is_down_consumes_once_it_is_up(
    broker: RabbitMQServer,
) -> None:
    """A process may start before its broker (a deploy, a restart of both): it starts,
    says the broker is down, and its consumers start once the broker answers."""
    if broker.is_running():
        await asyncio.to_thread(broker.stop)
    bus = RabbitMQEventBus(broker.url, prefix=f"late-{uuid.uuid4().hex[:8]}-", timeout=2)
    received: list[Event] = []
    arrived = asyncio.Event()

    async def handler(event: Event) -> None:
        received.append(event)
        arrived.set()

    bus.subscribe("feed", ["post.created"], handler)
    try:
        await bus.start()  # does not raise
        with pytest.raises(Unavailable):
            await bus.ping()
        await asyncio.to_thread(broker.start)
        sent = Event(id=1, type="post.created", occurred_at=datetime.now(UTC), actor_id=None)
        while True:  # until the bus has reached the broker (it retries with a back-off)
            try:
                await bus.ping()
                break
            except Unavailable:
                await asyncio.sleep(0.25)
        await bus.publish(sent)
        await arrived.wait()
        assert received == [sent]
    finally:
        await bus.close()
