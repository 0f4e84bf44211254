"""In-process event bus: a queue and a delivery task per consumer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from minifb.adapters.aio import finish_or_cancel
from minifb.adapters.events.base import Event, Handler, publish_each
from minifb.adapters.resilience import Backoff, Unavailable

log = logging.getLogger("minifb.events")


@dataclass
class _Consumer:
    name: str
    types: frozenset[str]
    handler: Handler
    # Paces the retries while a service the handler needs is down.
    backoff: Backoff
    # None asks the delivery task to stop once what was queued before it is done.
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None

    def wants(self, event: Event) -> bool:
        return "*" in self.types or event.type in self.types


class MemoryEventBus:
    """Delivers events to consumers in this process, retrying a failing handler.

    Each consumer has its own queue so a slow one never delays the others, and
    events reach a consumer in publication order.
    """

    def __init__(
        self,
        *,
        max_attempts: int = 5,
        retry_delay: float = 0.05,
        backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        """A failing handler is tried `max_attempts` times, `retry_delay` seconds apart
        and doubling, then dead-lettered; one that finds a service `Unavailable` is
        retried without end, waiting from `backoff[0]` up to `backoff[1]` seconds."""
        self._consumers: list[_Consumer] = []
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._backoff = backoff
        self._started = False
        self._closing = asyncio.Event()
        self.dead_letters: list[tuple[str, Event]] = []

    def subscribe(self, consumer: str, types: Iterable[str], handler: Handler) -> None:
        first, cap = self._backoff
        backoff = Backoff(f"consumer {consumer}", log, first=first, cap=cap)
        entry = _Consumer(consumer, frozenset(types), handler, backoff)
        self._consumers.append(entry)
        if self._started:
            entry.task = asyncio.create_task(self._deliver(entry), name=f"consumer:{consumer}")

    async def publish(self, event: Event) -> None:
        for consumer in self._consumers:
            if consumer.wants(event):
                consumer.queue.put_nowait(event)

    async def publish_many(self, events: Sequence[Event]) -> None:
        await publish_each(self.publish, events)

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
        self._closing.set()  # a handler waiting for a service stops waiting
        for consumer in running:
            consumer.queue.put_nowait(None)
        await finish_or_cancel({c.task for c in running if c.task is not None}, grace=grace)
        for consumer in running:
            consumer.task = None
        self._started = False

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
        while attempt < self._max_attempts:
            try:
                await consumer.handler(event)
            except Unavailable as exc:
                # A service the handler needs is down: not the event's fault, so no
                # attempt is spent; wait it out (backing off) and keep the order,
                # but not past the bus's closing.
                if self._closing.is_set():
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), consumer.backoff.failure(exc))
                continue
            except Exception:
                attempt += 1
                log.exception(
                    "consumer %s failed on event %s (%s), attempt %d",
                    consumer.name,
                    event.id,
                    event.type,
                    attempt,
                )
                await asyncio.sleep(self._retry_delay * 2 ** (attempt - 1))
                continue
            consumer.backoff.success()
            return
        # Kept for inspection, like an SQS dead-letter queue.
        self.dead_letters.append((consumer.name, event))
