"""An app whose worker id lease cannot be renewed: writes answer 503, never a duplicate id.

The lease is kept in a Redis of the test's own (`MINIFB_WORKER_ID_LEASE=redis`),
which the test freezes: the app stops minting before the lease could lapse,
so creating a post answers 503 problem+json with `Retry-After` and readiness
names the worker id; once Redis answers again the lease is renewed and posts
are created again. Reads go on throughout. Each test is bounded in time.
"""

from __future__ import annotations

import asyncio

from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from minifb.config import Settings
from minifb.kit.worker_ids import WorkerIdLease
from minifb.main import create_app
from tests.factories import create_post, register
from tests.fixtures.app import AppFactory
from tests.fixtures.deadline import bounded, until, until_async
from tests.fixtures.http import API, assert_problem
from tests.fixtures.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture, imported for the tests below

TTL = 1.8  # renewed every 0.3 s; minting stops 0.3 s before it could lapse


def lease_of(app: FastAPI) -> WorkerIdLease:
    lease: WorkerIdLease = app.state.container.worker_ids
    return lease


class TestLostLease:
    @bounded(60)
    async def test_writes_answer_503_until_the_lease_is_renewed(
        self, make_client: AppFactory, redis_server: RedisServer
    ) -> None:
        app, client = await make_client(
            cache_url=redis_server.url,
            cache_timeout=0.2,
            worker_id_lease="redis",
            worker_id_lease_ttl=TTL,
        )
        alice = await register(client)
        await create_post(client, alice, "before")

        async def ready_now() -> bool:
            ready = await client.get("/ready")
            return ready.status_code == 200 and ready.json()["checks"]["worker_id"] == "ok"

        # Ready before the freeze. With 0.2 s budgets a loaded machine can miss a
        # renewal or a ping for a moment (and is then rightly not ready): wait it out.
        await until_async(ready_now)

        redis_server.freeze()
        try:
            await until(lambda: lease_of(app).worker_id is None)
            response = await client.post(
                f"{API}/posts", json={"text": "during"}, headers=alice.headers
            )
            body = assert_problem(response, 503)
            assert "worker id" in body["detail"]
            assert int(response.headers["Retry-After"]) >= 1
            ready = await client.get("/ready")
            assert_problem(ready, 503)
            assert ready.json()["checks"]["worker_id"] == "down"
            # Reads need no id.
            mine = await client.get(f"{API}/users/{alice.id}/posts", headers=alice.headers)
            assert mine.status_code == 200
            assert [p["text"] for p in mine.json()["items"]] == ["before"]
        finally:
            redis_server.thaw()

        await until(lambda: lease_of(app).worker_id is not None)
        await create_post(client, alice, "after")


class TestShutdown:
    @bounded(30)
    async def test_a_closed_app_gives_its_id_back(self, settings: Settings) -> None:
        quick = settings.model_copy(update={"worker_id_lease_ttl": 1.2})
        app = create_app(quick)
        async with LifespanManager(app):
            lease = lease_of(app)
            held = lease.worker_id
            assert held is not None
            other = create_app(quick)
            async with LifespanManager(other):
                assert lease_of(other).worker_id not in (None, held)
        assert lease.worker_id is None
        # Free again once the margin has passed, long before the lease would have lapsed.
        await asyncio.sleep(lease.margin + 0.1)
        again = create_app(quick)
        async with LifespanManager(again):
            # Its first try at start has only `renew_every` (0.2 s here) to answer, which a
            # loaded machine can miss; the lease it then takes must still be the one released.
            await until(lambda: lease_of(again).worker_id is not None)
            assert lease_of(again).worker_id == held
