"""The transactional outbox: what commits is published once; what rolls back, never."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.events import Event
from minifb.adapters.resilience import CircuitBreaker
from minifb.bootstrap import Container
from minifb.kit.db import Database
from minifb.kit.deps import SessionDep
from minifb.kit.errors import Conflict
from minifb.kit.outbox import OutboxRelay, idempotent, record_event
from minifb.models import OutboxEvent, ProcessedEvent
from tests.factories import register
from tests.fixtures.app import AppFactory


def _container(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


def _collect(container: Container, name: str = "collector") -> list[Event]:
    seen: list[Event] = []

    async def handler(event: Event) -> None:
        seen.append(event)

    container.bus.subscribe(name, ["*"], handler)
    return seen


async def _flush(container: Container) -> None:
    await container.relay.relay_once()
    await container.bus.drain()


def _add_probe_routes(app: FastAPI) -> None:
    async def fail_after_event(session: SessionDep, kind: str) -> None:
        record_event(session, "probe.failed", actor_id=None, data={"kind": kind})
        if kind == "refusal":
            raise Conflict("refused after writing an event")
        raise RuntimeError("crashed after writing an event")

    app.router.add_api_route("/probe/fail", fail_after_event, methods=["POST"])


class TestPublishing:
    async def test_committed_request_publishes_its_event_once(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        container = _container(app)
        seen = _collect(container)
        person = await register(client, "outbox_ada")
        await _flush(container)
        await _flush(container)  # a second pass finds nothing left to send
        registered = [e for e in seen if e.type == "user.registered"]
        assert [e.data["user_id"] for e in registered] == [person.id]
        assert registered[0].actor_id == int(person.id)
        async with container.db.transaction() as session:
            unpublished = await session.scalar(
                select(func.count()).where(OutboxEvent.published_at.is_(None))
            )
        assert unpublished == 0

    async def test_relay_wakes_after_commit_without_manual_flush(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        import asyncio

        container = _container(app)
        seen = _collect(container)
        await register(client, "outbox_wake")
        for _ in range(100):
            if any(e.type == "user.registered" for e in seen):
                break
            await asyncio.sleep(0.01)
        assert any(e.type == "user.registered" for e in seen)

    @pytest.mark.parametrize(("kind", "status"), [("refusal", 409), ("crash", 500)])
    async def test_rolled_back_request_publishes_nothing(
        self, make_client: AppFactory, kind: str, status: int
    ) -> None:
        app, client = await make_client()
        _add_probe_routes(app)
        container = _container(app)
        seen = _collect(container)
        response = await client.post("/probe/fail", params={"kind": kind})
        assert response.status_code == status
        await _flush(container)
        assert [e for e in seen if e.type == "probe.failed"] == []
        async with container.db.transaction() as session:
            rows = await session.scalar(select(func.count()).select_from(OutboxEvent))
        assert rows == 0


class TestEveryCommitWakesTheRelay:
    """Every way a write commits (`Database.commit`, or `Database.committed` after a hot
    path's own statement) wakes the relay at once, not at its next poll."""

    def _arrival(self, container: Container, type_: str) -> asyncio.Event:
        arrived = asyncio.Event()

        async def handler(event: Event) -> None:
            if event.type == type_:
                arrived.set()

        container.bus.subscribe(f"arrival-{type_}", ["*"], handler)
        return arrived

    async def _long_poll(self, container: Container) -> None:
        # Only a wake-up can deliver within the test's time, not a poll.
        container.relay._poll_interval = 3600
        container.relay.wake()
        await asyncio.sleep(0.1)  # the relay is now waiting out its long poll

    async def test_a_transaction_of_its_own(self, app: FastAPI) -> None:
        # A consumer's transaction (`Database.transaction`) that records events.
        container = _container(app)
        arrived = self._arrival(container, "probe.own_transaction")
        await self._long_poll(container)
        async with container.db.transaction() as session:
            record_event(session, "probe.own_transaction", actor_id=None, data={})
        async with asyncio.timeout(5):
            await arrived.wait()

    async def test_the_request_session(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        container = _container(app)
        arrived = self._arrival(container, "user.registered")
        await self._long_poll(container)
        await register(client, "wake_request")
        async with asyncio.timeout(5):
            await arrived.wait()

    async def test_the_hot_path_that_commits_on_its_own(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        # POST /posts without an Idempotency-Key: one statement, no session.
        container = _container(app)
        author = await register(client, "wake_post")
        arrived = self._arrival(container, "post.created")
        await self._long_poll(container)
        created = await client.post("/api/v1/posts", json={"text": "hello"}, headers=author.headers)
        assert created.status_code == 201, created.text
        async with asyncio.timeout(5):
            await arrived.wait()


class TestIdempotentConsumers:
    async def test_event_delivered_three_times_has_one_effect(self, app: FastAPI) -> None:
        container = _container(app)
        effects: list[int] = []

        async def effect(session: AsyncSession, event: Event) -> None:
            effects.append(event.id)

        container.bus.subscribe(
            "counter", ["thing.happened"], idempotent(container.db, "counter", effect)
        )
        event = Event(
            id=123456789, type="thing.happened", occurred_at=datetime.now(UTC), actor_id=None
        )
        for _ in range(3):
            await container.bus.publish(event)
        await container.bus.drain()
        assert effects == [event.id]
        async with container.db.transaction() as session:
            marks = await session.scalar(
                select(func.count())
                .select_from(ProcessedEvent)
                .where(ProcessedEvent.consumer == "counter")
            )
        assert marks == 1

    async def test_failed_effect_is_not_marked_and_is_retried(self, app: FastAPI) -> None:
        container = _container(app)
        attempts: list[int] = []

        async def flaky(session: AsyncSession, event: Event) -> None:
            attempts.append(event.id)
            if len(attempts) == 1:
                raise RuntimeError("transient failure")

        container.bus.subscribe(
            "flaky", ["thing.happened"], idempotent(container.db, "flaky", flaky)
        )
        event = Event(
            id=987654321, type="thing.happened", occurred_at=datetime.now(UTC), actor_id=None
        )
        await container.bus.publish(event)
        await container.bus.drain()
        # The first try rolled back its mark with its effect, so the retry ran it again.
        assert attempts == [event.id, event.id]

    async def test_two_consumers_each_handle_the_event(self, app: FastAPI) -> None:
        container = _container(app)
        effects: list[str] = []

        def make(name: str):  # type: ignore[no-untyped-def]
            async def effect(session: AsyncSession, event: Event) -> None:
                effects.append(name)

            return effect

        for name in ("one", "two"):
            container.bus.subscribe(name, ["*"], idempotent(container.db, name, make(name)))
        event = Event(id=55, type="thing.happened", occurred_at=datetime.now(UTC), actor_id=None)
        await container.bus.publish(event)
        await container.bus.publish(event)
        await container.bus.drain()
        assert sorted(effects) == ["one", "two"]


class TestAfterCommit:
    async def test_runs_after_commit_and_never_after_rollback(self, app: FastAPI) -> None:
        from minifb.kit.commit_hooks import after_commit

        container = _container(app)
        ran: list[str] = []

        async def note(name: str) -> None:
            ran.append(name)

        async with container.db.transaction() as session:
            after_commit(session, lambda: note("committed"))
            assert ran == []

        async def abort() -> None:
            async with container.db.transaction() as session:
                after_commit(session, lambda: note("rolled back"))
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError):
            await abort()
        assert ran == ["committed"]


class CountingRelay(OutboxRelay):
    tries = 0
    succeeded = asyncio.Event()

    async def relay_once(self) -> int:
        self.tries += 1
        sent = await super().relay_once()
        self.succeeded.set()
        return sent


class TestRelayWhileTheDatabaseIsDown:
    async def test_it_backs_off_and_logs_the_outage_once_and_its_end_once(
        self, app: FastAPI, caplog: pytest.LogCaptureFixture
    ) -> None:
        container = _container(app)
        down = CircuitBreaker("database", threshold=1, cooldown=60, max_cooldown=60)
        db = Database(container.db.url, breaker=down)
        relay = CountingRelay(db, container.bus, poll_interval=0.01, backoff=(0.01, 0.05))
        relay.succeeded = asyncio.Event()
        caplog.set_level(logging.INFO, logger="minifb.outbox")
        down.failure()
        await relay.start()
        try:
            await asyncio.sleep(0.5)
            tries = relay.tries
            down.success()  # the database answers again
            async with asyncio.timeout(2):
                await relay.succeeded.wait()
            await asyncio.sleep(0.05)
        finally:
            await relay.stop()
            await db.dispose()
        # Tried again and again, less often than polling (50 polls in 0.5 s)...
        assert 3 <= tries < 25
        # ...and said so twice: when the outage started and when it ended.
        records = [r for r in caplog.records if r.name == "minifb.outbox"]
        lines = [r.getMessage() for r in records]
        assert len(lines) == 2, lines
        assert lines[0].startswith("outbox relay failed (database is unavailable)")
        assert lines[1].startswith(f"outbox relay works again after {tries} failed tries")
        assert not any(r.exc_info for r in records)
