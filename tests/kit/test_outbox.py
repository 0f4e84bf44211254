"""The transactional outbox: what commits is published once; what rolls back, never."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.events import Event
from minifb.adapters.events.base import publish_each
from minifb.adapters.resilience import CircuitBreaker
from minifb.bootstrap import Container
from minifb.kit.db import Database
from minifb.kit.deps import SessionDep
from minifb.kit.errors import Conflict
from minifb.kit.outbox import (
    OutboxRelay,
    event_row,
    idempotent,
    idempotent_batches,
    record_event,
)
from minifb.models import OutboxEvent, ProcessedEvent
from tests.factories import register
from tests.fixtures.app import AppFactory
from tests.fixtures.queries import QueryLog


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


class FailingOnce:
    """A bus whose first publish of `type_` fails, as a broker going away would."""

    def __init__(self, bus: Any, type_: str) -> None:
        self.bus, self.type, self.failed = bus, type_, False

    async def publish(self, event: Event) -> None:
        if event.type == self.type and not self.failed:
            self.failed = True
            raise ConnectionError("the broker went away")
        await self.bus.publish(event)

    async def publish_many(self, events: Sequence[Event]) -> None:
        await publish_each(self.publish, events)


class SlowBus:
    """A bus that confirms each publish `delay` seconds late, as a broker across a slow
    link or under load does."""

    def __init__(self, bus: Any, delay: float) -> None:
        self.bus, self.delay = bus, delay

    async def publish(self, event: Event) -> None:
        await self.publish_many([event])

    async def publish_many(self, events: Sequence[Event]) -> None:
        await asyncio.sleep(self.delay)
        await self.bus.publish_many(events)


@pytest.fixture
async def own_relay(app: FastAPI) -> AsyncIterator[Any]:
    """Replace the app's relay with one made by the test (its grace, poll and bus)."""
    container = _container(app)
    await container.relay.stop()
    made: list[OutboxRelay] = []

    async def make(**kwargs: Any) -> OutboxRelay:
        bus = kwargs.pop("bus", container.bus)
        relay = OutboxRelay(container.db, bus, **kwargs)
        container.db.on_events_committed(relay.hand_over)
        await relay.start()
        made.append(relay)
        return relay

    yield make
    for relay in made:
        await relay.stop()


async def _row_of(container: Container, event_id: int) -> Any:
    async with container.db.transaction() as session:
        return (
            await session.execute(select(OutboxEvent).where(OutboxEvent.id == event_id))
        ).scalar_one()


def _watch(container: Container, type_: str) -> tuple[list[Event], asyncio.Event]:
    """Every event of `type_` the bus delivers, and a flag raised at the first."""
    seen: list[Event] = []
    arrived = asyncio.Event()

    async def handler(event: Event) -> None:
        seen.append(event)
        arrived.set()

    container.bus.subscribe(f"watch-{type_}", [type_], handler)
    return seen, arrived


async def _first(seen: list[Event], arrived: asyncio.Event) -> Event:
    async with asyncio.timeout(5):
        await arrived.wait()
    return seen[0]


class TestHandOver:
    """A commit hands its rows to the relay, which publishes them from memory; the sweep
    publishes what no commit handed over, once it is `grace` seconds old."""

    async def test_a_handed_over_event_goes_out_once_as_the_table_holds_it(
        self, app: FastAPI, own_relay: Any
    ) -> None:
        container = _container(app)
        seen, arrived = _watch(container, "probe.handed")
        relay = await own_relay(poll_interval=3600, grace=3600)  # no sweep after the first
        async with container.db.transaction() as session:
            event_id = record_event(
                session, "probe.handed", actor_id=7, data={"ids": (1, 2), "n": 3}
            )
        event = await _first(seen, arrived)
        assert await relay.relay_once() == 0  # once the batch in hand is marked: none left
        await container.bus.drain()
        row = await _row_of(container, event_id)
        assert row.published_at is not None
        assert (event.id, event.type, event.actor_id) == (event_id, "probe.handed", 7)
        assert event.data == row.data == {"ids": [1, 2], "n": 3}  # as JSON carries it
        assert len(seen) == 1

    async def test_marks_wait_for_each_other_and_a_stop_writes_them(
        self, app: FastAPI, own_relay: Any
    ) -> None:
        container = _container(app)
        seen: list[Event] = []
        all_three = asyncio.Event()

        async def handler(event: Event) -> None:
            seen.append(event)
            if len(seen) == 3:
                all_three.set()

        container.bus.subscribe("batched", ["probe.batched"], handler)
        relay = await own_relay(poll_interval=3600, grace=3600, mark_every=3600)
        ids = []
        for n in range(3):
            async with container.db.transaction() as session:
                ids.append(record_event(session, "probe.batched", actor_id=None, data={"n": n}))
        async with asyncio.timeout(5):
            await all_three.wait()
        # Published, and to be marked in one statement: not yet, within `mark_every`.
        assert [(await _row_of(container, i)).published_at for i in ids] == [None] * 3
        await relay.stop()
        assert all([(await _row_of(container, i)).published_at for i in ids])
        assert [e.id for e in seen] == ids

    async def test_marks_keep_up_with_commits_that_never_pause(
        self, app: FastAPI, own_relay: Any
    ) -> None:
        """While commits keep handing rows over, what was published is still marked every
        `mark_every`: left unmarked, it would all be sent again by any relay's sweep once
        `grace` has passed, or once its process died."""
        container = _container(app)
        slow = SlowBus(container.bus, 0.05)  # each batch's confirm: 5 commits' time
        await own_relay(bus=slow, poll_interval=3600, grace=3600, mark_every=0.02)
        ids: list[int] = []
        while len(ids) < 100:  # 1 s and more of commits, every 10 ms
            async with container.db.transaction() as session:
                ids.append(record_event(session, "probe.steady", actor_id=None, data={}))
            if (await _row_of(container, ids[0])).published_at is not None:
                break
            await asyncio.sleep(0.01)
        assert len(ids) < 100, "the first row is not marked while the commits go on"

    async def test_a_row_no_commit_handed_over_goes_out_after_the_grace(
        self, app: FastAPI, own_relay: Any
    ) -> None:
        # As a process that died between its commit and the hand-over leaves it.
        container = _container(app)
        seen, arrived = _watch(container, "probe.orphan")
        relay = await own_relay(poll_interval=0.05, grace=0.5)
        row = event_row("probe.orphan", actor_id=None, data={"k": "v"})
        written = time.monotonic()
        async with container.db.begin() as conn:
            await conn.execute(insert(OutboxEvent).values(row))
        event = await _first(seen, arrived)
        assert time.monotonic() - written >= 0.45  # the writer's own relay had its chance
        assert event.id == row["id"]
        assert event.data == {"k": "v"}
        assert await relay.relay_once() == 0
        assert (await _row_of(container, row["id"])).published_at is not None

    async def test_an_event_the_bus_refused_is_not_lost(self, app: FastAPI, own_relay: Any) -> None:
        container = _container(app)
        seen, arrived = _watch(container, "probe.refused")
        flaky = FailingOnce(container.bus, "probe.refused")
        relay = await own_relay(bus=flaky, poll_interval=0.05, grace=0.3, backoff=(0.01, 0.05))
        async with container.db.transaction() as session:
            event_id = record_event(session, "probe.refused", actor_id=None, data={})
        event = await _first(seen, arrived)
        assert flaky.failed
        assert event.id == event_id
        assert await relay.relay_once() == 0
        assert (await _row_of(container, event_id)).published_at is not None
        await asyncio.sleep(0.5)  # further sweeps find nothing left to send
        assert len(seen) == 1

    async def test_a_batch_the_bus_took_in_part_is_sent_once_each(
        self, app: FastAPI, own_relay: Any
    ) -> None:
        """The bus takes the first of a batch and refuses the second: the first is marked
        at once, never sent again; the second and third go out with the sweep."""
        container = _container(app)
        seen: list[Event] = []
        all_three = asyncio.Event()

        async def handler(event: Event) -> None:
            seen.append(event)
            if len(seen) >= 3:
                all_three.set()

        container.bus.subscribe("batch", ["*"], handler)
        flaky = FailingOnce(container.bus, "probe.second")
        relay = await own_relay(bus=flaky, poll_interval=0.05, grace=0.3, backoff=(0.01, 0.05))
        async with container.db.transaction() as session:
            ids = [
                record_event(session, f"probe.{name}", actor_id=None, data={})
                for name in ("first", "second", "third")
            ]
        async with asyncio.timeout(5):
            await all_three.wait()
        assert flaky.failed
        assert await relay.relay_once() == 0
        await asyncio.sleep(0.5)  # further sweeps find nothing left to send
        await container.bus.drain()
        assert sorted(e.id for e in seen) == sorted(ids)
        for event_id in ids:
            assert (await _row_of(container, event_id)).published_at is not None


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

    async def test_batches_mark_each_event_once_in_one_statement_text(
        self, app: FastAPI, queries: QueryLog
    ) -> None:
        """Batches of any size, with an event twice and one handled before: each event has
        one effect, and every batch's marks go in one statement of the same text, so
        the driver prepares and keeps one statement, not one per batch size."""
        container = _container(app)
        effects: list[int] = []

        async def effect(session: AsyncSession, events: Sequence[Event]) -> None:
            effects.extend(event.id for event in events)

        handle = idempotent_batches(container.db, "batcher", effect)
        at = datetime.now(UTC)
        events = [
            Event(id=700 + n, type="thing.happened", occurred_at=at, actor_id=None)
            for n in range(6)
        ]
        queries.recording = True
        await handle(events[:2])
        await handle([events[2], events[3], events[2]])
        await handle(events[1:6])  # 701 and 702 and 703 again, 704 and 705 new
        queries.recording = False
        assert effects == [700, 701, 702, 703, 704, 705]
        marks = [s for s in queries.statements if "INSERT INTO processed_events" in s]
        assert len(marks) == 3
        assert len(set(marks)) == 1


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

    async def _work(self, *, sweep: bool) -> None:
        self.tries += 1
        await super()._work(sweep=sweep)
        self.succeeded.set()


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
