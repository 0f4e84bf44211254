"""PostgreSQL restarted or stopped under a steady stream of requests (DESIGN §8).

Issue 8 found 42 (`pg_ctl restart -m fast`) to ~135 (`-m immediate`)
answers of 500 around a restart, and the outbox relay logging a traceback
every second while the database was down. Here the app runs against a
throwaway cluster of its own (`tests.fixtures.postgres_server`, never the
shared server) while readers and writers keep asking; every answer must be a
2xx or a quick 503 with `Retry-After` as problem+json, service must come back
by itself within a few seconds of the database, and every post that got a 201
must still be there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from minifb.config import Settings
from minifb.main import create_app
from minifb.migrations import upgrade
from tests.factories import Person, register
from tests.fixtures.http import PROBLEM
from tests.fixtures.postgres_server import PostgresServer, PostgresUnavailable, postgres_server
from tests.fixtures.tiers import FULL_PASS, PG_SERVER_URL, REDIS_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not PG_SERVER_URL,
        reason="database faults run in the PostgreSQL pass (MINIFB_TEST_DATABASE_URL)",
    ),
]

WORKERS = 6
WARM_UP = 0.8  # seconds of traffic before the fault
RECOVERY = 3.0  # by then after the database is back, every answer must be a success
AFTER = RECOVERY + 1.5  # seconds of traffic after the database is back
FAST = 0.5  # a refusal while the breaker is open takes less than this
HELD = 10.0  # an answer slower than this counts as a held request


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresServer]:
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server())
        except PostgresUnavailable as exc:
            if FULL_PASS:
                pytest.fail(f"{exc}; the full pass (MINIFB_FULL_PASS) runs the database faults")
            pytest.skip(f"{exc}; install PostgreSQL's server programs to run these")
        server.psql("CREATE DATABASE minifb")
        upgrade(server.url_for("minifb"))
        yield server


@pytest.fixture
def pg(cluster: PostgresServer) -> PostgresServer:
    """The cluster, running (a failed test may have left it stopped)."""
    if not cluster.is_running():
        cluster.start()
    return cluster


@contextlib.asynccontextmanager
async def serving(
    pg: PostgresServer, prefix: str, var_dir: Path
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        database_url=pg.url_for("minifb"),
        cache_url=REDIS_URL or "memory://",
        cache_prefix=prefix,
        var_dir=var_dir,
        auth_throttle=False,
        rate_limit="off",
        log_level="WARNING",
    )
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        # 500s must come back as answers to count, not as exceptions in the test.
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


@dataclass(frozen=True)
class Answer:
    kind: str
    started: float
    took: float
    status: int  # 0: no answer within HELD seconds
    breaker: str  # the database breaker's state when the request went out
    retry_after: str | None
    content_type: str
    post_id: str | None


KINDS = ("me", "post", "feed", "write")


def _breaker_state(app: FastAPI) -> str:
    breaker = getattr(app.state.container.db, "breaker", None)
    return "none" if breaker is None else str(breaker.state)


async def _ask(client: httpx.AsyncClient, kind: str, who: Person, post_id: str) -> httpx.Response:
    if kind == "me":
        return await client.get("/api/v1/users/me", headers=who.headers)
    if kind == "post":
        return await client.get(f"/api/v1/posts/{post_id}", headers=who.headers)
    if kind == "feed":
        return await client.get("/api/v1/feed", headers=who.headers)
    return await client.post("/api/v1/posts", json={"text": "still here?"}, headers=who.headers)


async def _stream(
    app: FastAPI,
    client: httpx.AsyncClient,
    people: list[Person],
    post_id: str,
    worker: int,
    stop: asyncio.Event,
    answers: list[Answer],
) -> None:
    loop = asyncio.get_running_loop()
    n = worker
    while not stop.is_set():
        kind, who = KINDS[n % len(KINDS)], people[n % len(people)]
        n += 1
        breaker, started = _breaker_state(app), loop.time()
        try:
            async with asyncio.timeout(HELD):
                response = await _ask(client, kind, who, post_id)
        except TimeoutError:
            answers.append(Answer(kind, started, HELD, 0, breaker, None, "", None))
            continue
        created = response.json().get("id") if response.status_code == 201 else None
        answers.append(
            Answer(
                kind,
                started,
                loop.time() - started,
                response.status_code,
                breaker,
                response.headers.get("retry-after"),
                response.headers.get("content-type", ""),
                created,
            )
        )
        await asyncio.sleep(0.01)


@dataclass
class Run:
    answers: list[Answer]
    back_at: float  # when the database accepted connections again

    def summary(self) -> str:
        return str(sorted(Counter((a.kind, a.status) for a in self.answers).items()))


async def _under_load(
    app: FastAPI,
    client: httpx.AsyncClient,
    fault: Callable[[], Awaitable[None]],
) -> Run:
    """Readers and writers keep asking while `fault` runs (it returns once the database is
    back), then for AFTER seconds more."""
    people = [await register(client) for _ in range(3)]
    first = await client.post("/api/v1/posts", json={"text": "hello"}, headers=people[0].headers)
    assert first.status_code == 201, first.text
    stop, answers = asyncio.Event(), []
    workers = [
        asyncio.create_task(_stream(app, client, people, first.json()["id"], w, stop, answers))
        for w in range(WORKERS)
    ]
    try:
        await asyncio.sleep(WARM_UP)
        await fault()
        back_at = asyncio.get_running_loop().time()
        await asyncio.sleep(AFTER)
    finally:
        stop.set()
        await asyncio.gather(*workers)
    run = Run(answers, back_at)
    await _assert_no_post_lost(client, people[0], run)
    return run


async def _assert_no_post_lost(client: httpx.AsyncClient, reader: Person, run: Run) -> None:
    created = [a.post_id for a in run.answers if a.post_id is not None]
    assert created, run.summary()
    missing = []
    for post_id in created:
        response = await client.get(f"/api/v1/posts/{post_id}", headers=reader.headers)
        if response.status_code != 200:
            missing.append((post_id, response.status_code))
    assert not missing, f"posts answered 201 but gone: {missing}"


def _assert_held_up(run: Run) -> None:
    answers = run.answers
    bad = [a for a in answers if not (200 <= a.status < 300 or a.status == 503)]
    assert not bad, f"{len(bad)} answers neither 2xx nor 503: {run.summary()}"
    refused = [a for a in answers if a.status == 503]
    for a in refused:
        assert a.content_type == PROBLEM, a
        assert a.retry_after is not None, a
        assert int(a.retry_after) >= 1, a
    slow = [a for a in refused if a.breaker == "open" and a.took >= FAST]
    assert not slow, f"refusals with the breaker open took {[round(a.took, 2) for a in slow]}"
    late = [a for a in answers if a.started >= run.back_at + RECOVERY]
    assert {a.kind for a in late} == set(KINDS), run.summary()
    failing = [a for a in late if not 200 <= a.status < 300]
    assert not failing, f"{len(failing)} failures {RECOVERY} s after the database was back"


async def _restart(pg: PostgresServer, mode: str) -> None:
    await asyncio.to_thread(pg.restart, mode)  # type: ignore[arg-type]


class TestRestart:
    @pytest.mark.parametrize("mode", ["fast", "immediate"])
    async def test_a_restart_gives_no_500_and_loses_no_post(
        self, pg: PostgresServer, cache_prefix: str, tmp_path: Path, mode: str
    ) -> None:
        async with asyncio.timeout(60), serving(pg, cache_prefix, tmp_path) as (app, client):
            run = await _under_load(app, client, lambda: _restart(pg, mode))
            _assert_held_up(run)


class TestStopped:
    async def test_a_stopped_database_gets_quick_503s_and_service_returns_by_itself(
        self, pg: PostgresServer, cache_prefix: str, tmp_path: Path
    ) -> None:
        async def stop_for_a_while() -> None:
            await asyncio.to_thread(pg.stop, "fast")
            await asyncio.sleep(3.0)
            await asyncio.to_thread(pg.start)

        async with asyncio.timeout(60), serving(pg, cache_prefix, tmp_path) as (app, client):
            run = await _under_load(app, client, stop_for_a_while)
            _assert_held_up(run)
            refused = [a for a in run.answers if a.status == 503]
            assert any(a.breaker == "open" for a in refused), run.summary()

    async def test_ready_names_the_database_quickly_while_it_is_down(
        self, pg: PostgresServer, cache_prefix: str, tmp_path: Path
    ) -> None:
        async with asyncio.timeout(30), serving(pg, cache_prefix, tmp_path) as (_, client):
            assert (await client.get("/ready")).status_code == 200
            await asyncio.to_thread(pg.stop, "immediate")
            try:
                loop = asyncio.get_running_loop()
                for _ in range(5):  # closed breaker, then open: both answer at once
                    started = loop.time()
                    response = await client.get("/ready")
                    assert loop.time() - started < 1.0
                    assert response.status_code == 503
                    assert response.headers["content-type"] == PROBLEM
                    assert response.json()["checks"]["database"] != "ok"
                    assert "database" in response.json()["detail"]
            finally:
                await asyncio.to_thread(pg.start)
            for _ in range(50):
                if (await client.get("/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("/ready did not come back within 5 s of the database")


class TestRelay:
    async def test_the_relay_logs_the_outage_once_not_a_traceback_per_try(
        self,
        pg: PostgresServer,
        cache_prefix: str,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        async with asyncio.timeout(60), serving(pg, cache_prefix, tmp_path) as (_, client):
            author = await register(client)
            caplog.set_level(logging.INFO, logger="minifb")
            caplog.clear()
            await asyncio.to_thread(pg.stop, "fast")
            try:
                await asyncio.sleep(4.5)
            finally:
                await asyncio.to_thread(pg.start)
            during = list(caplog.records)
            # The relay picks up again by itself: a new post's event goes out.
            created = await _retry(
                lambda: client.post("/api/v1/posts", json={"text": "back"}, headers=author.headers)
            )
            assert created.status_code == 201, created.text
            for _ in range(100):
                if (
                    pg.psql("SELECT count(*) FROM outbox WHERE published_at IS NULL", "minifb")
                    == "0\n"
                ):
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the relay did not publish within 10 s of the database's return")
        relay = [r for r in during if r.name == "minifb.outbox"]
        assert len(relay) <= 2, [r.getMessage() for r in relay]
        traced = [r for r in during if r.exc_info]
        assert not traced, [(r.name, r.getMessage()) for r in traced]


async def _retry(ask: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """The answer once it is not a 503 (the breaker may still be cooling down)."""
    for _ in range(50):
        response = await ask()
        if response.status_code != 503:
            return response
        await asyncio.sleep(0.1)
    return response
