"""Fixtures shared by every suite: an app per test over a real database and cache.

Helpers and the types of these fixtures live in `tests/fixtures/` and
`tests/factories.py`; test modules import from there, never from here.

By default the database is SQLite (a copy of a migrated template per test) and
the cache is in-process. With `MINIFB_TEST_DATABASE_URL` (a PostgreSQL server
URL) and `MINIFB_TEST_REDIS_URL` the same tests run against those servers: the
run creates its own database and drops it at the end, and touches only Redis
keys under its own prefix. With `MINIFB_TEST_REDIS_CLUSTER=1` the cache is a
3-node Redis Cluster the run starts for itself (`redis_cluster`) instead.
With `MINIFB_TEST_WORKERS=process` the apps' events go through RabbitMQ and
their workers run in another process (`tests/fixtures/workers.py`).
With `MINIFB_FULL_PASS=1` an unreachable service fails the run.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from minifb.config import Settings
from minifb.gateway import ops
from minifb.kit.outages import NotKnownYet
from minifb.main import create_app
from minifb.migrations import upgrade
from tests.factories import People, Person, register_many
from tests.fixtures.app import AppFactory
from tests.fixtures.tiers import AMQP_URL, ON_CLUSTER, PG_SERVER_URL, REDIS_URL

# Fixtures of tests/fixtures/ modules that every suite may ask for.
pytest_plugins = [
    "tests.fixtures.workers",  # before `events`, which imports it
    "tests.fixtures.database",
    "tests.fixtures.events",
    "tests.fixtures.ids",
    "tests.fixtures.queries",
    "tests.fixtures.redis_cluster",
]

if TYPE_CHECKING:
    # Not imported at run time: pytest must load the plugin first to rewrite its asserts.
    from tests.fixtures.redis_cluster import RedisCluster
    from tests.fixtures.workers import SeparateWorkers


def _run_sync(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine to completion in a thread of its own (outside the test loops)."""
    result: list[Any] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro_fn()))  # type: ignore[arg-type]
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0] if result else None


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database: a SQLite file to copy, or a PostgreSQL database of this run."""
    if not PG_SERVER_URL:
        path = tmp_path_factory.mktemp("template") / "minifb.db"
        upgrade(f"sqlite+aiosqlite:///{path}")
        yield str(path)
        return
    import asyncpg

    name = f"minifb_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(PG_SERVER_URL))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _run_sync(lambda: admin(f'CREATE DATABASE "{name}"'))
    url = _with_database(PG_SERVER_URL, name)
    try:
        upgrade(url)
        yield url
    finally:
        _run_sync(lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


TABLES_TO_KEEP = {"alembic_version"}


@pytest.fixture
async def database_url(database_template: str, tmp_path: Path) -> str:
    """A clean database for one test."""
    if not PG_SERVER_URL:
        path = tmp_path / "minifb.db"
        shutil.copyfile(database_template, path)
        return f"sqlite+aiosqlite:///{path}"
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(database_template))
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            if r["tablename"] not in TABLES_TO_KEEP
        ]
        if tables:
            await conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    finally:
        await conn.close()
    return database_template


@pytest.fixture
def cache_url(request: pytest.FixtureRequest) -> str:
    """The cache the tests' apps use: the run's Redis Cluster, Redis, or in-process."""
    if ON_CLUSTER:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        return cluster.url
    return REDIS_URL or "memory://"


@pytest.fixture
async def cache_prefix(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A key prefix of this test's own; its Redis keys are removed afterwards."""
    prefix = f"minifb-test:{uuid.uuid4().hex}:"
    yield prefix
    if ON_CLUSTER:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        await cluster.delete_prefixed(prefix)
    elif REDIS_URL:
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        try:
            keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=500)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@pytest.fixture(autouse=True)
def _patient_readiness(monkeypatch: pytest.MonkeyPatch) -> None:
    """Readiness checks get 10 s instead of 0.8: tests read what each adapter answered,
    and a stall of the machine (seen in CI) turned answers into timeouts. The test
    of the timeout sets its own."""
    monkeypatch.setattr(ops, "READY_TIMEOUT", 10.0)


@pytest.fixture
def settings(
    database_url: str,
    cache_url: str,
    cache_prefix: str,
    tmp_path: Path,
    separate_workers: SeparateWorkers | None,
) -> Settings:
    """Test settings: throttles off (tests sign up many people from one address);
    with the workers apart, events through RabbitMQ under the test's own prefix.

    The database's connect and pool-wait timeouts are long: these tests read
    behaviour, not time, and on a shared machine a stall of a second or two
    (seen in CI) fired the 2 s defaults under a burst of requests, opened the
    breaker, and turned correct requests into 503s. The tests of those
    timeouts set their own (tests/kit/test_db.py, tests/faults).
    """
    events: dict[str, Any] = {}
    if separate_workers is not None:
        events = {"events_url": AMQP_URL, "events_prefix": separate_workers.prefix}
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        **events,
        environment="test",
        database_url=database_url,
        database_connect_timeout=10.0,
        database_pool_timeout=10.0,
        cache_url=cache_url,
        cache_prefix=cache_prefix,
        var_dir=tmp_path / "var",
        auth_throttle=False,
        log_level="WARNING",
    )


@pytest.fixture
async def make_client(
    settings: Settings, separate_workers: SeparateWorkers | None
) -> AsyncIterator[AppFactory]:
    """Build an app (settings overridden by keyword) and a client speaking HTTP to it;
    with the workers apart, its workers too, in the worker host process."""
    stack: list[tuple[FastAPI, LifespanManager, httpx.AsyncClient | None]] = []

    async def factory(
        *,
        services: list[str] | None = None,
        client_ip: str = "127.0.0.1",
        bare_routes: bool = True,
        ready: bool = True,
        **overrides: Any,
    ) -> tuple[FastAPI, httpx.AsyncClient]:
        app_settings = settings.model_copy(update=overrides)
        remote = None
        if separate_workers is not None:
            app_settings, remote = await separate_workers.before_app(app_settings)
        app = create_app(app_settings, services=services, bare_routes=bare_routes)
        # Start-up is not what these tests time: on a loaded machine one start (a pool
        # to open, the worker id lease committed, the ended logins read) once took
        # longer than the library's 5 s default in a full PostgreSQL pass.
        manager = LifespanManager(app, startup_timeout=30)
        await manager.__aenter__()
        stack.append((app, manager, None))
        if ready:
            await _ready(app)
        transport = httpx.ASGITransport(app=manager.app, client=(client_ip, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://test")
        stack[-1] = (app, manager, client)
        if separate_workers is not None:
            separate_workers.attach(app, remote)
        return app, client

    yield factory
    for app, manager, client in reversed(stack):
        if client is not None:
            await client.aclose()
        await manager.__aexit__(None, None, None)
        if separate_workers is not None:
            await separate_workers.after_app(app)


async def _ready(app: FastAPI, *, within: float = 30.0) -> None:
    """Wait, as a load balancer would, until the app may take requests: its ended
    logins read (a start on a starved machine can miss the first read, and the
    next comes seconds later). `make_client(ready=False)` for an app that must not be."""
    revocations = app.state.container.revocations
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            await revocations.check()
        except NotKnownYet:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the app was not ready within {within:.0f} s") from None
            await asyncio.sleep(0.05)
        else:
            return


@pytest.fixture
async def app_client(make_client: AppFactory) -> tuple[FastAPI, httpx.AsyncClient]:
    return await make_client()


@pytest.fixture
def app(app_client: tuple[FastAPI, httpx.AsyncClient]) -> FastAPI:
    return app_client[0]


@pytest.fixture
def client(app_client: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return app_client[1]


@pytest.fixture
def people(client: httpx.AsyncClient) -> People:
    """Sign up `n` people."""

    async def make(n: int) -> list[Person]:
        return await register_many(client, n)

    return make
