"""In-process event bus: a queue and a delivery task per consumer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from minifb.adapters.events.base import Event, Handler
from minifb.adapters.resilience import Unavailable
from minifb.kit.aio import cancel_and_wait

log = logging.getLogger("minifb.events")

# The longest wait between two tries of an event whose handler found a service down.
MAX_OUTAGE_DELAY = 5.0


@dataclass
class _Consumer:
    name: str
    types: frozenset[str]
    handler: Handler
    # None asks the delivery task to stop once what was queued before it is done.
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None

    def wants(self, event: Event) -> bool:
        return "*" in self.types or event.type in self.types


class MemoryEventBus:
    """Delivers events to consumers in this process, retrying a failing handler.

    A handler that fails `max_attempts` times is given up on (the event goes to
    `dead_letters`); one that finds a service unavailable waits for it instead,
    however long, since the event itself is fine.

    Each consumer has its own queue so a slow one never delays the others, and
    events reach a consumer in publication order.
    """

    def __init__(self, *, max_attempts: int = 5, retry_delay: float = 0.05) -> None:
        self._consumers: list[_Consumer] = []
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._started = False
        self._closing = asyncio.Event()
        self.dead_letters: list[tuple[str, Event]] = []

    def subscribe(self, consumer: str, types: Iterable[str], handler: Handler) -> None:
        entry = _Consumer(consumer, frozenset(types), handler)
        self._consumers.append(entry)
        if self._started:
            entry.task = asyncio.create_task(self._deliver(entry), name=f"consumer:{consumer}")

    async def publish(self, event: Event) -> None:
        for consumer in self._consumers:
            if consumer.wants(event):
                consumer.queue.put_nowait(event)

    async def start(self) -> None:
        self._started = True
        self._closing.clear()
        for consumer in self._consumers:
            if consumer.task is None:
                consumer.task = asyncio.create_task(
                    self._deliver(consumer), name=f"consumer:{consumer.name}"
                )

    async def drain(self) -> None:
        for consumer in self._consumers:
            if consumer.task is not None:
                await consumer.queue.join()

    async def ping(self) -> None:
        return None

    async def close(self, *, grace: float = 5.0) -> None:
        """Deliver what is already queued (for up to `grace` seconds), then stop."""
        running = [c for c in self._consumers if c.task is not None]
        self._closing.set()
        for consumer in running:
            consumer.queue.put_nowait(None)
        tasks = {c.task for c in running if c.task is not None}
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                await cancel_and_wait(task, grace=1.0)
        for consumer in running:
            consumer.task = None
        self._started = False
        self._closing.clear()

    async def _deliver(self, consumer: _Consumer) -> None:
        while True:
            event = await consumer.queue.get()
            try:
                if event is None:
                    return
                await self._handle(consumer, event)
            finally:
                consumer.queue.task_done()

    async def _handle(self, consumer: _Consumer, event: Event) -> None:
        attempt = 0
        outage = 0  # tries spent waiting for a dependency to come back
        while attempt < self._max_attempts:
            attempt += 1
            try:
                await consumer.handler(event)
                if outage:
                    log.warning("consumer %s goes on: %s is back", consumer.name, event.type)
                return
            except Unavailable as exc:
                # Not the event's fault: wait for the service (capped back-off) as
                # long as it takes, in order, without spending the event's attempts;
                # but not past the bus's closing.
                if self._closing.is_set():
                    break
                attempt -= 1
                if not outage:
                    log.warning(
                        "consumer %s waits for %s (event %s)", consumer.name, exc.service, event.id
                    )
                delay = min(self._retry_delay * 2**outage, MAX_OUTAGE_DELAY)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
                outage = min(outage + 1, 30)
            except Exception:
                log.exception(
                    "consumer %s failed on event %s (%s), attempt %d",
                    consumer.name,
                    event.id,
                    event.type,
                    attempt,
                )
                await asyncio.sleep(self._retry_delay * 2 ** (attempt - 1))
        # Kept for inspection, like an SQS dead-letter queue.
        self.dead_letters.append((consumer.name, event))
