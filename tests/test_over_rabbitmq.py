"""The app with RabbitMQ as its event bus (`MINIFB_EVENTS_URL=amqp://`): what the
consumers do reaches people as it does on the in-process bus.

Runs with `MINIFB_TEST_AMQP_URL` (the full pass requires it); each test names
the exchange and queues with a prefix of its own and deletes them after.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from minifb.adapters.events.rabbitmq import RabbitMQEventBus
from tests.factories import befriend, create_post, follow, register_many
from tests.fixtures.app import AppFactory
from tests.fixtures.events import settle
from tests.fixtures.http import get_json
from tests.fixtures.rabbitmq import CONSUMER_NAMES, amqp_prefix, needs_rabbitmq
from tests.fixtures.tiers import AMQP_URL
from tests.notifications.helpers import inbox, kinds

__all__ = ["amqp_prefix"]  # the fixture, imported for the tests below

pytestmark = needs_rabbitmq


@pytest.fixture
async def app_client(
    amqp_prefix: str, make_client: AppFactory
) -> tuple[FastAPI, httpx.AsyncClient]:
    # Every consumer in this process, as a server would run them with MINIFB_SERVER_CONSUMERS=all.
    app, client = await make_client(
        events_url=AMQP_URL, events_prefix=amqp_prefix, server_consumers=["all"]
    )
    bus = app.state.container.bus
    assert isinstance(bus, RabbitMQEventBus)
    # What the test deletes after it covers every queue the app declared.
    assert set(bus.queue_names()) <= {
        name for c in CONSUMER_NAMES for name in (bus.queue_name(c), bus.dead_letter_queue_name(c))
    }
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
