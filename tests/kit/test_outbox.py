"""The transactional outbox: what commits is published once; what rolls back, never."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.events import Event
from minifb.bootstrap import Container
from minifb.kit.deps import SessionDep
from minifb.kit.errors import Conflict
from minifb.kit.outbox import idempotent, record_event
from minifb.models import OutboxEvent, ProcessedEvent
from tests.conftest import AppFactory
from tests.factories import register


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
        from minifb.kit.db import after_commit

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
