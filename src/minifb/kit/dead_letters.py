"""Dead letters: an event a consumer keeps failing on is parked, and the others flow on.

Every consumer built with `kit.outbox.idempotent` is wrapped by `dead_lettered`:
an event whose effect raises is tried again, waiting `first_delay` seconds and
doubling, up to `attempts` tries in all; after the last one it is written to
the `dead_letters` table with the error, and the consumer goes on with its next
event, as if this one had been handled. The tries happen in the handler, so
they are the same on every bus and host (in process, a broker, a Lambda).

A service that is down (`Unavailable`, a database outage) is not the event's
fault: it spends no attempt and goes back to the bus, which waits it out.

`send_back` puts a parked event back on its way through the outbox: its row is
marked unpublished again (or written again if it is gone), so the relay of any
running process publishes it anew. Consumers that handled it already skip it
(their handled-event marks stay as long as the dead letter does: the outbox's
purge keeps both), so only the one that failed does the work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.events import Event, Handler
from minifb.kit.commit_hooks import wrote_events
from minifb.kit.db import Database, affected, utcnow
from minifb.kit.ids import new_id
from minifb.kit.outages import is_outage
from minifb.models import DeadLetter, OutboxEvent

log = logging.getLogger("minifb.dead_letters")

ATTEMPTS = 5
FIRST_DELAY = 0.05
# What of an error's text a dead letter keeps.
ERROR_LENGTH = 2000


def dead_lettered(
    db: Database,
    consumer: str,
    handler: Handler,
    *,
    attempts: int = ATTEMPTS,
    first_delay: float = FIRST_DELAY,
) -> Handler:
    """`handler`, tried up to `attempts` times per event (backing off from `first_delay`
    seconds), then parking the event in the dead-letter table instead of raising."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")

    async def handle(event: Event) -> None:
        for attempt in range(1, attempts + 1):
            try:
                await handler(event)
                return
            except Exception as exc:
                if is_outage(exc):
                    raise  # the bus waits the outage out; no attempt spent
                if attempt == attempts:
                    await park(db, consumer, event, attempts=attempts, error=exc)
                    return
                log.warning(
                    "consumer %s failed on event %s (%s), attempt %d of %d",
                    consumer,
                    event.id,
                    event.type,
                    attempt,
                    attempts,
                    exc_info=True,
                )
                await asyncio.sleep(first_delay * 2 ** (attempt - 1))

    return handle


def describe(exc: BaseException) -> str:
    """An error as a dead letter keeps it: its type and message, cut to a size."""
    text = f"{type(exc).__name__}: {exc}"
    return text[:ERROR_LENGTH]


async def park(
    db: Database, consumer: str, event: Event, *, attempts: int, error: BaseException
) -> None:
    """Write (or, for an event parked before, update) the dead letter of `event`."""
    log.error(
        "consumer %s parked event %s (%s) after %d attempts: %s",
        consumer,
        event.id,
        event.type,
        attempts,
        describe(error),
        exc_info=error,
    )
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id(),
        "consumer": consumer,
        "event_id": event.id,
        "event_type": event.type,
        "event": orjson.loads(event.to_json()),
        "attempts": attempts,
        "error": describe(error),
        "failed_at": now,
        "retried_at": None,
    }
    async with db.transaction() as session:
        statement = _upsert(session).values(values)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[DeadLetter.consumer, DeadLetter.event_id],
                set_={
                    "attempts": DeadLetter.attempts + attempts,
                    "error": statement.excluded.error,
                    "failed_at": statement.excluded.failed_at,
                    "retried_at": None,
                },
            )
        )


def _upsert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT DO UPDATE."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(DeadLetter)
    return sqlite.insert(DeadLetter)


async def list_parked(db: Database, *, include_retried: bool = False) -> Sequence[DeadLetter]:
    """The dead letters, oldest failure first: those still parked, or all of them."""
    query = select(DeadLetter).order_by(DeadLetter.failed_at, DeadLetter.id)
    if not include_retried:
        query = query.where(DeadLetter.retried_at.is_(None))
    async with db.transaction() as session:
        return (await session.scalars(query)).all()


async def send_back(db: Database, dead_letter_id: int) -> DeadLetter | None:
    """Put a dead letter's event back in the outbox, to be published again; None if
    there is no such dead letter. It stays listed as retried until it fails again."""
    async with db.transaction() as session:
        letter = await session.get(DeadLetter, dead_letter_id, with_for_update=True)
        if letter is None:
            return None
        event = Event.from_json(orjson.dumps(letter.event))
        row = {
            "id": event.id,
            "type": event.type,
            "version": event.version,
            "occurred_at": event.occurred_at,
            "actor_id": event.actor_id,
            "data": event.data,
            "published_at": None,
        }
        again = await session.execute(
            update(OutboxEvent).where(OutboxEvent.id == event.id).values(published_at=None)
        )
        if affected(again) == 0:
            await session.execute(insert(OutboxEvent).values(row))
        letter.retried_at = utcnow()
        wrote_events(session, row)
    return letter
