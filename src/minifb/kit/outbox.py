"""Transactional outbox: events are rows in the change's own transaction.

`record_event` adds the row; when the transaction commits (`Database.commit`),
its rows are handed to the relay, which publishes them to the bus and marks
them sent; a sweep publishes whatever a commit could not hand over (the
process died, the bus was down). A rolled-back transaction leaves no row, so
nothing is published. Consumers wrapped by `idempotent` record each handled
event id in the same transaction as their effect, so a redelivery changes
nothing (`consume_in_batches`: a batch's ids in one insert, its effects in
one transaction); an event whose effect keeps failing is parked as a dead letter
(`kit.dead_letters`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import String, delete, insert, literal, select, true, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.aio import cancel_and_wait
from minifb.adapters.events import BatchHandler, Event, EventBus, Handler, NotAllPublished
from minifb.adapters.resilience import Backoff
from minifb.kit.commit_hooks import before_commit, wrote_events
from minifb.kit.db import Database, UTCDateTime, affected, id_table, insert_ignore, utcnow
from minifb.kit.dead_letters import ATTEMPTS, FIRST_DELAY, dead_lettered
from minifb.kit.ids import MAX_ID, min_id_at, new_id
from minifb.kit.outages import is_outage
from minifb.models import DeadLetter, OutboxEvent, ProcessedEvent

log = logging.getLogger("minifb.outbox")
ROWS_KEY = "minifb.outbox_rows"
HANDED_MAX = 10_000  # rows handed over and not yet published, at most; the sweep takes more
# Handed-over rows published at once, at most. A batch waits for its confirms before the
# next goes, so under a burst the batch grows rather than the round trips: the relay
# shares its loop with the requests, and each of its round trips is slow then.
HANDED_BATCH = 1000


def record_event(
    session: AsyncSession,
    type_: str,
    *,
    actor_id: int | None,
    data: dict[str, Any],
    version: int = 1,
) -> int:
    """Write an event row in the session's transaction; returns the event id.

    The rows of one transaction go in as one Core insert just before it
    commits: no unit of work on the write paths, and nothing if it rolls back.
    """
    row = event_row(type_, actor_id=actor_id, data=data, version=version)
    pending: list[dict[str, Any]] | None = session.info.get(ROWS_KEY)
    if pending is None:
        pending = session.info[ROWS_KEY] = []

        async def write() -> None:
            rows = session.info.pop(ROWS_KEY, [])
            if rows:
                await session.execute(insert(OutboxEvent), rows)

        before_commit(session, write)
    pending.append(row)
    wrote_events(session, row)
    return int(row["id"])


def event_row(
    type_: str, *, actor_id: int | None, data: dict[str, Any], version: int = 1
) -> dict[str, Any]:
    """The outbox row of a new event, for a write path that inserts it itself (in the
    same statement or transaction as its change; then `Database.committed([row])` once
    it has committed)."""
    return {
        "id": new_id(),
        "type": type_,
        "version": version,
        "occurred_at": utcnow(),
        "actor_id": actor_id,
        "data": data,
        "published_at": None,
    }


_EVENT_COLUMNS = (
    OutboxEvent.id,
    OutboxEvent.type,
    OutboxEvent.version,
    OutboxEvent.occurred_at,
    OutboxEvent.actor_id,
    OutboxEvent.data,
)


def _handed_event(row: Mapping[str, Any]) -> Event:
    """A row handed over by its commit, as the bus carries it. Its data goes through
    JSON as it would through the table, so every consumer gets the same event either
    way, and none shares the writer's objects."""
    return Event(
        id=int(row["id"]),
        type=row["type"],
        version=row["version"],
        occurred_at=row["occurred_at"],
        actor_id=row["actor_id"],
        data=orjson.loads(orjson.dumps(row["data"])),
    )


def _to_event(row: Any) -> Event:
    return Event(
        id=row.id,
        type=row.type,
        version=row.version,
        occurred_at=row.occurred_at,
        actor_id=row.actor_id,
        data=row.data,
    )


class OutboxRelay:
    """Publishes committed outbox rows to the bus, at least once.

    Two ways out. A commit hands its own rows over (`hand_over`, through
    `Database.committed`): they are published at once, from memory, and
    marked sent together, one statement every `mark_every` seconds at most
    (or per `batch_size` rows), so an event costs no read of its row and no
    transaction of its own (docs/decisions/0125). A sweep claims
    whatever is still unpublished `grace` seconds after it was written (its
    process died between commit and publish, or the bus or database was
    down), in id order, every `poll_interval` and on `wake`. An event may thus
    go out twice, never not at all; consumers are idempotent.
    """

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        batch_size: int = 200,
        poll_interval: float = 1.0,
        grace: float = 5.0,
        mark_every: float = 0.02,
        backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        """`backoff`: the first and the longest wait, in seconds, between tries while
        the database or the bus is down."""
        self._db = db
        self._backoff = backoff
        self._bus = bus
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._grace = grace
        self._mark_every = mark_every
        self._handed: list[Mapping[str, Any]] = []
        self._unmarked: list[int] = []  # published from memory, not yet marked
        self._mark_due = 0.0  # loop time by which `_unmarked` is marked
        self._sweep_now = True
        self._wake = asyncio.Event()
        # One batch at a time per process; other processes are kept apart by
        # SKIP LOCKED on PostgreSQL (on SQLite a rare duplicate is possible,
        # which idempotent consumers absorb).
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def hand_over(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Called once a commit that wrote outbox `rows` has committed: they go out now.
        Past `HANDED_MAX` waiting (the bus is slow or down) more are left to the sweep."""
        if len(self._handed) < HANDED_MAX:
            self._handed.extend(rows)
        self._wake.set()

    def wake(self) -> None:
        """Sweep now rather than at the next poll (for a caller that knows rows wait)."""
        self._sweep_now = True
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, *, grace: float = 5.0) -> None:
        """Let the batch in hand finish, then stop (cancel only past `grace` seconds).

        Cancelling mid-query would leave the driver's thread answering a loop
        that may be gone by then.
        """
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        done, _ = await asyncio.wait({self._task}, timeout=grace)
        if not done:
            await cancel_and_wait(self._task)
        self._task = None
        self._stopping = False

    async def _run(self) -> None:
        first, cap = self._backoff
        backoff = Backoff("outbox relay", log, first=first, cap=cap)
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        while not self._stopping:
            self._wake.clear()
            try:
                sweep = self._sweep_now or loop.time() >= next_sweep
                if sweep:
                    self._sweep_now = False
                    next_sweep = loop.time() + self._poll_interval
                await self._work(sweep=sweep)
                backoff.success()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The bus or database is down: the rows stay unpublished for the sweep,
                # tried less and less often. A commit still cuts the wait short (it
                # means the database answers again), but not within `first` seconds.
                next_sweep = loop.time() + backoff.failure(exc, trace=not is_outage(exc))
                await asyncio.sleep(first)
            wake_at = min(next_sweep, self._mark_due) if self._unmarked else next_sweep
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
            # cancellation that lands as the event fires, and stop() then hangs.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(wake_at - loop.time(), 0.0)):
                    await self._wake.wait()
        with contextlib.suppress(Exception):  # unmarked, they are the next sweep's
            async with self._lock:
                await self._mark_published(force=True)

    async def _work(self, *, sweep: bool) -> None:
        async with self._lock:
            while self._handed and not self._stopping:
                await self._send_handed()
                # Commits that never pause must not keep what was published unmarked.
                await self._mark_published(force=False)
            await self._mark_published(force=sweep)
            while sweep and not self._stopping:
                if await self._sweep(self._grace) < self._batch_size:
                    break

    async def relay_once(self) -> int:
        """Publish what was handed over and one batch of every unpublished row, whatever
        its age; returns how many went out."""
        async with self._lock:
            sent = 0
            while self._handed:
                sent += await self._send_handed()
            await self._mark_published(force=True)
            return sent + await self._sweep(None)

    async def _send_handed(self) -> int:
        """Publish a batch of the rows handed over (under the lock); they are marked with
        the next `_mark_published`. On a failure, what was published is marked at once
        and the rest left to the sweep."""
        rows = self._handed[:HANDED_BATCH]
        del self._handed[:HANDED_BATCH]
        if not self._unmarked:
            self._mark_due = asyncio.get_running_loop().time() + self._mark_every
        try:
            await self._bus.publish_many([_handed_event(row) for row in rows])
        except NotAllPublished as exc:
            self._unmarked.extend(int(row["id"]) for row in rows[: exc.published])
            await self._mark_published(force=True)
            raise exc.cause from exc
        except BaseException:
            await self._mark_published(force=True)
            raise
        self._unmarked.extend(int(row["id"]) for row in rows)
        return len(rows)

    async def _mark_published(self, *, force: bool) -> None:
        """Mark what was published from memory, when `force`d, once `mark_every` has
        passed since the first of it, or once it fills a batch (under the lock)."""
        if not self._unmarked:
            return
        due = asyncio.get_running_loop().time() >= self._mark_due
        if force or due or len(self._unmarked) >= self._batch_size:
            ids, self._unmarked = self._unmarked, []
            await self._mark(ids)

    async def _mark(self, ids: list[int]) -> None:
        if self._db.dialect == "postgresql":
            await self._db.fetch(_MARK_PG, utcnow(), ids)
            return
        async with self._db.begin() as conn:
            await conn.execute(
                update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(published_at=utcnow())
            )

    async def _sweep(self, grace: float | None) -> int:
        """Publish one batch of the rows still unpublished `grace` seconds after they were
        written (None: all of them), in id order, and mark them (under the lock)."""
        below = min_id_at(utcnow() - timedelta(seconds=grace)) if grace is not None else MAX_ID
        if self._db.dialect == "postgresql":
            return await self._sweep_direct(below)
        async with self._db.transaction() as session:
            # Columns, not ORM objects.
            query = (
                select(*_EVENT_COLUMNS)
                .where(OutboxEvent.published_at.is_(None), OutboxEvent.id < below)
                .order_by(OutboxEvent.id)
                .limit(self._batch_size)
            )
            rows = (await session.execute(query)).all()
            published, failure = await _publish_batch(self._bus, [_to_event(r) for r in rows])
            if published:
                await session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.id.in_([r.id for r in rows[:published]]))
                    .values(published_at=utcnow())
                )
        if failure is not None:
            raise failure
        return len(rows)

    async def _sweep_direct(self, below: int) -> int:
        """`_sweep` on PostgreSQL, straight on the driver. Several relays (one per
        process) share the work without double sends (SKIP LOCKED)."""
        async with self._db.driver_transaction() as conn:
            rows = await conn.fetch(_CLAIM_PG, self._batch_size, below)
            events = [
                Event(
                    id=row[0],
                    type=row[1],
                    version=row[2],
                    occurred_at=row[3],
                    actor_id=row[4],
                    data=orjson.loads(row[5]),
                )
                for row in rows
            ]
            published, failure = await _publish_batch(self._bus, events)
            if published:
                await conn.execute(_MARK_PG, utcnow(), [row[0] for row in rows[:published]])
        if failure is not None:
            raise failure
        return len(rows)


async def _publish_batch(bus: EventBus, events: list[Event]) -> tuple[int, BaseException | None]:
    """Publish a sweep's batch: how many of the first went out, and why the rest did not.
    The caller marks those and commits before raising: were the claim rolled back, the
    published ones would go out again."""
    try:
        await bus.publish_many(events)
    except NotAllPublished as exc:
        return exc.published, exc.cause
    return len(events), None


_CLAIM_PG = """
SELECT id, type, version, occurred_at, actor_id, data FROM outbox
WHERE published_at IS NULL AND id < $2 ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""
_MARK_PG = "UPDATE outbox SET published_at = $1 WHERE id = ANY($2::bigint[])"


PURGE_BATCH = 5000


async def purge(db: Database, now: datetime, *, keep: timedelta) -> int:
    """Remove published events and handled-event marks older than `keep` (a
    housekeeping job), a batch per statement; unpublished events always stay.

    A mark must outlive any redelivery of its event, so both share `keep`.
    Ids are time-ordered, so "older" is a range of the primary key. An event
    with a dead letter keeps its row and its marks until the dead letter goes
    (retried, and older than `keep`): sending it back must reach only the
    consumer that failed.
    """
    cutoff = min_id_at(now - keep)
    lettered = select(DeadLetter.event_id)
    published = select(OutboxEvent.id).where(
        OutboxEvent.id < cutoff,
        OutboxEvent.published_at.is_not(None),
        OutboxEvent.id.not_in(lettered),
    )
    marks = select(ProcessedEvent.consumer, ProcessedEvent.event_id).where(
        ProcessedEvent.event_id < cutoff, ProcessedEvent.event_id.not_in(lettered)
    )
    retried = select(DeadLetter.id).where(DeadLetter.retried_at < now - keep)
    batches = (
        delete(DeadLetter).where(DeadLetter.id.in_(retried.limit(PURGE_BATCH))),
        delete(OutboxEvent).where(OutboxEvent.id.in_(published.limit(PURGE_BATCH))),
        delete(ProcessedEvent).where(
            tuple_(ProcessedEvent.consumer, ProcessedEvent.event_id).in_(marks.limit(PURGE_BATCH))
        ),
    )
    removed = 0
    for statement in batches:
        while True:
            async with db.begin() as conn:
                count = affected(await conn.execute(statement))
            removed += count
            if count < PURGE_BATCH:
                break
    return removed


EventEffect = Callable[[AsyncSession, Event], Awaitable[None]]
BatchEffect = Callable[[AsyncSession, Sequence[Event]], Awaitable[None]]
# The most events a consumer handles in one transaction (within the RabbitMQ prefetch),
# and how long a batch waits for more after its first: at a steady few hundred events
# a second, fuller batches for 20 ms more of latency.
BATCH = 100
LINGER = 0.02


def one_by_one(effect: EventEffect) -> BatchEffect:
    """A batch's effect that is each event's `effect` in turn, in the batch's transaction:
    for a consumer whose events share nothing to do together but the transaction."""

    async def each(session: AsyncSession, events: Sequence[Event]) -> None:
        for event in events:
            await effect(session, event)

    return each


def idempotent(
    db: Database,
    consumer: str,
    effect: EventEffect,
    *,
    attempts: int = ATTEMPTS,
    first_delay: float = FIRST_DELAY,
) -> Handler:
    """Wrap a consumer so each event id has its effect once, however often it arrives.

    The processed-event row and the effect share one transaction: if the effect
    fails, neither is kept and it is tried again, up to `attempts` times in all
    (`kit.dead_letters.dead_lettered`), then parked as a dead letter.
    """

    async def handle(event: Event) -> None:
        async with db.transaction() as session:
            claimed = await session.execute(
                insert_ignore(session, ProcessedEvent).values(
                    consumer=consumer, event_id=event.id, handled_at=utcnow()
                )
            )
            if affected(claimed) == 0:
                log.info("consumer %s skips event %s: already handled", consumer, event.id)
                return
            await effect(session, event)

    return dead_lettered(db, consumer, handle, attempts=attempts, first_delay=first_delay)


def consume_in_batches(
    bus: EventBus, db: Database, consumer: str, types: Iterable[str], effect: BatchEffect
) -> None:
    """Subscribe `effect` to `bus` as `consumer`, in batches of up to `BATCH` events
    (lingering `LINGER` for more), each event handled once (`idempotent_batches`)."""
    bus.subscribe_batches(
        consumer, types, idempotent_batches(db, consumer, effect), size=BATCH, linger=LINGER
    )


def idempotent_batches(
    db: Database,
    consumer: str,
    effect: BatchEffect,
    *,
    attempts: int = ATTEMPTS,
    first_delay: float = FIRST_DELAY,
) -> BatchHandler:
    """`idempotent` for a consumer that takes events in batches (`subscribe_batches`).

    A batch is one transaction: one insert marks its events handled, and
    `effect` gets those not handled before, in order. If it fails, the bus
    tries the events one at a time, and each of those is handled as
    `idempotent` does (its own tries, then parked as a dead letter).
    """

    async def alone(session: AsyncSession, event: Event) -> None:
        await effect(session, [event])

    single = idempotent(db, consumer, alone, attempts=attempts, first_delay=first_delay)

    async def handle(events: Sequence[Event]) -> None:
        if len(events) == 1:
            await single(events[0])
            return
        async with db.transaction() as session:
            fresh = await _claim(session, consumer, events)
            if fresh:
                await effect(session, fresh)

    return handle


async def _claim(session: AsyncSession, consumer: str, events: Sequence[Event]) -> list[Event]:
    """Mark `events` handled by `consumer` in one insert; returns those not marked before
    (each once), in order."""
    unique = list({event.id: event for event in events}.values())
    # On the table, not the entity, and the ids bound as one value: the same statement
    # text for every batch size (`id_table`), and no ORM bulk machinery per row.
    table = ProcessedEvent.__table__
    ids = id_table(session, [event.id for event in unique])
    rows = select(literal(consumer, String), ids.c.value, literal(utcnow(), UTCDateTime()))
    columns = ["consumer", "event_id", "handled_at"]
    # WHERE: SQLite would read the ON of ON CONFLICT as the SELECT's join condition.
    claim = insert_ignore(session, table).from_select(columns, rows.where(true()))
    conn = await session.connection()
    result = await conn.execute(claim.returning(table.c.event_id))
    claimed = set(result.scalars())
    skipped = len(unique) - len(claimed)
    if skipped:
        log.info("consumer %s skips %d events of a batch: already handled", consumer, skipped)
    return [event for event in unique if event.id in claimed]
