"""The API suite's pass with the workers apart (`MINIFB_TEST_WORKERS=process`,
tests/fixtures/workers.py): the app runs only what a server on a broker runs,
the worker host process the rest, and `settle` waits for both."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from minifb.adapters.events.rabbitmq import RabbitMQEventBus
from tests.factories import create_post, register_many
from tests.fixtures.events import settle
from tests.fixtures.http import API
from tests.fixtures.tiers import WORKERS_APART
from tests.fixtures.workers import remote_workers

pytestmark = pytest.mark.skipif(
    not WORKERS_APART, reason="the pass with the workers apart (MINIFB_TEST_WORKERS=process)"
)

POSTS = 100  # the most one page of search holds


async def test_the_app_runs_only_the_stream(app: FastAPI) -> None:
    bus = app.state.container.bus
    assert isinstance(bus, RabbitMQEventBus)
    # What a server on a broker runs by default; the host runs `minifb worker all`.
    assert sorted(bus.queue_names()) == sorted(
        name
        for c in ("presence", "stream")
        for name in (bus.queue_name(c), bus.dead_letter_queue_name(c))
    )
    assert remote_workers(app) is not None


async def test_settle_waits_for_what_the_worker_host_handles(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    (ana,) = await register_many(client, 1)
    # At once: a backlog in the search indexer's queue, which only the host consumes,
    # and whose handler writes no event (nothing in the outbox says it is still busy).
    posts = await asyncio.gather(*(create_post(client, ana, f"zebra {n}") for n in range(POSTS)))
    await settle(app)
    response = await client.get(
        f"{API}/search", params={"q": "zebra", "type": "posts", "limit": 100}, headers=ana.headers
    )
    assert response.status_code == 200, response.text
    found = [post["id"] for post in response.json()["posts"]["items"]]
    assert sorted(found) == sorted(post["id"] for post in posts)
