"""The app with RabbitMQ as its event bus (`MINIFB_EVENTS_URL=amqp://`): what the
consumers do reaches people as it does on the in-process bus.

Runs with `MINIFB_TEST_AMQP_URL` (the full pass requires it); each test names
the exchange and queues with a prefix of its own and deletes them after.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aio_pika
import httpx
import pytest
from fastapi import FastAPI

from minifb.adapters.events.rabbitmq import RabbitMQEventBus
from tests.factories import befriend, create_post, follow, register_many
from tests.fixtures.app import AppFactory
from tests.fixtures.events import settle
from tests.fixtures.http import get_json
from tests.fixtures.tiers import AMQP_REQUIRED, AMQP_URL
from tests.notifications.helpers import inbox, kinds

pytestmark = pytest.mark.skipif(
    not (AMQP_URL or AMQP_REQUIRED), reason="RabbitMQ (MINIFB_TEST_AMQP_URL)"
)


@pytest.fixture
async def declared() -> AsyncIterator[list[RabbitMQEventBus]]:
    """The buses whose exchange and queues are deleted once the test is over: set up
    before the app, so torn down after it has stopped (and published its last)."""
    if not AMQP_URL:
        pytest.fail("the full pass (MINIFB_FULL_PASS) runs the app on RabbitMQ: set its URL")
    buses: list[RabbitMQEventBus] = []
    yield buses
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        for bus in buses:
            for name in bus.queue_names():
                await channel.queue_delete(name)
            await channel.exchange_delete(bus.exchange_name)


@pytest.fixture
async def app_client(
    declared: list[RabbitMQEventBus], make_client: AppFactory
) -> tuple[FastAPI, httpx.AsyncClient]:
    prefix = f"minifb-test-{uuid.uuid4().hex[:12]}-"
    app, client = await make_client(events_url=AMQP_URL, events_prefix=prefix)
    bus = app.state.container.bus
    assert isinstance(bus, RabbitMQEventBus)
    declared.append(bus)
    return app, client


async def test_a_friend_request_and_its_acceptance_notify(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    ana, bo = await register_many(client, 2)
    await befriend(client, ana, bo)
    assert kinds(await inbox(app, client, bo)) == ["friend_request"]
    assert kinds(await inbox(app, client, ana)) == ["friend_accepted"]
    assert (await app.state.container.bus.dead_letters()) == []


async def test_a_post_reaches_its_followers_feeds(
    app_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_client
    ana, bo, cy = await register_many(client, 3)
    await follow(client, bo, ana)
    await follow(client, cy, ana)
    post = await create_post(client, ana, "over the broker")
    await settle(app)
    for reader in (bo, cy):
        feed = await get_json(client, "/feed", reader)
        assert [item["id"] for item in feed["items"]] == [post["id"]]
