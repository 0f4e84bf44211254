"""Four server processes on one database and one cache create posts at once: no id twice.

Real `minifb serve` processes on free ports, sharing the test's database
(SQLite, or PostgreSQL with `MINIFB_TEST_DATABASE_URL`) and a Redis cache
(`MINIFB_TEST_REDIS_URL`, the run's cluster, or a throwaway `redis-server`:
the in-process cache refuses several processes). Each leases its worker id
where the tier says (lock files beside a SQLite file, the PostgreSQL
database) or in Redis on request; each process's ids carry its own worker id.
Bounded in time; every process is killed at the end whatever happened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from minifb.bootstrap import lease_store
from minifb.config import Settings
from minifb.kit.db import Database
from minifb.kit.ids import worker_of
from tests.fixtures.deadline import bounded
from tests.fixtures.http import API
from tests.fixtures.redis_server import redis_server
from tests.fixtures.servers import Server, base_env, shared_cache_url

__all__ = ["redis_server", "shared_cache_url"]  # the fixtures, imported for the tests below

SERVERS = 4
POSTS_EACH = 40
TTL = 6.0  # a released id is held back for a sixth of it


@pytest.fixture
async def servers(
    request: pytest.FixtureRequest,
    database_url: str,
    shared_cache_url: str,
    cache_prefix: str,
    tmp_path: Path,
) -> AsyncIterator[tuple[list[Server], Settings]]:
    lease: str = request.param
    env = base_env(
        database_url,
        shared_cache_url,
        cache_prefix,
        MINIFB_WORKER_ID_LEASE=lease,
        MINIFB_WORKER_ID_LEASE_TTL=str(TTL),
    )
    started = [Server(env, tmp_path / f"server-{n}") for n in range(SERVERS)]
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        cache_url=shared_cache_url,
        cache_prefix=cache_prefix,
        worker_id_lease=lease,
        worker_id_lease_ttl=TTL,
        var_dir=tmp_path / "var",
    )
    try:
        yield started, settings
    finally:
        for server in started:
            server.stop()


async def sign_up(client: httpx.AsyncClient, server: Server, n: int) -> dict[str, str]:
    response = await client.post(
        f"{server.url}{API}/auth/register",
        json={
            "username": f"writer_{n}",
            "email": f"writer_{n}@example.com",
            "password": "correct horse battery staple",
            "display_name": f"Writer {n}",
        },
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def post(client: httpx.AsyncClient, server: Server, headers: dict[str, str], n: int) -> int:
    # A loaded machine may keep the database from answering in time: the server says
    # 503 and when to try again, as any client is told. The same post again is fine:
    # a 503 wrote nothing.
    for _ in range(5):
        response = await client.post(
            f"{server.url}{API}/posts", json={"text": f"post {n}"}, headers=headers
        )
        if response.status_code != 503:
            break
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.mark.parametrize(
    "servers",
    [
        pytest.param("auto", id="tier-default-lease"),
        pytest.param("redis", id="redis-lease", marks=pytest.mark.redis),
    ],
    indirect=True,
)
@bounded(150)
async def test_four_servers_creating_posts_at_once_mint_no_id_twice(
    servers: tuple[list[Server], Settings],
) -> None:
    started, settings = servers
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for server in started:
            checks = await server.until_ready(client)
            assert checks["worker_id"] == "ok"
        writers = [await sign_up(client, server, n) for n, server in enumerate(started)]
        # A task group: a failing request cancels the others before the client closes.
        async with asyncio.TaskGroup() as group:
            tasks = [
                [group.create_task(post(client, server, headers, n)) for n in range(POSTS_EACH)]
                for server, headers in zip(started, writers, strict=True)
            ]
        minted = [[task.result() for task in server_tasks] for server_tasks in tasks]
    every = [id_ for ids in minted for id_ in ids]
    assert len(every) == SERVERS * POSTS_EACH
    assert len(set(every)) == len(every)  # 0 duplicate ids
    workers = [{worker_of(id_) for id_ in ids} for ids in minted]
    assert all(len(w) == 1 for w in workers), workers  # each process mints under one id
    assert len(set.union(*workers)) == SERVERS  # and no two under the same

    # A clean shutdown gives the ids back: free again once the margin has passed,
    # where a lapse would take the whole ttl.
    assert [server.stop() for server in started] == [0] * SERVERS
    stopped = time.monotonic()
    await asyncio.sleep(TTL / 6 + 0.5)
    db = Database(settings.database_url)
    store = lease_store(settings, db)
    try:
        freed = [await store.acquire(TTL) for _ in range(SERVERS)]
        assert time.monotonic() - stopped < TTL
        assert sorted(lease.number for lease in freed if lease) == sorted(set.union(*workers))
    finally:
        await store.close()
        await db.dispose()
