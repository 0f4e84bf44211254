"""In-process event bus: a queue and a delivery task per consumer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from minifb.adapters.aio import finish_or_cancel
from minifb.adapters.events.base import (
    BatchHandler,
    Event,
    Handler,
    one_at_a_time,
    publish_each,
)
from minifb.adapters.events.delivery import Delivery, batch_from
from minifb.adapters.resilience import Backoff

log = logging.getLogger("minifb.events")


@dataclass
class _Consumer:
    name: str
    types: frozenset[str]
    handler: BatchHandler
    size: int  # the most events handed over at once
    linger: float  # how long a batch waits for more after its first event
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
    events reach a consumer in publication order (`delivery` says how they are
    tried).
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
        self._backoff = backoff
        self._started = False
        self._closing = asyncio.Event()
        self._delivery = Delivery(
            max_attempts=max_attempts, retry_delay=retry_delay, closing=self._closing
        )
        self.dead_letters: list[tuple[str, Event]] = []

    def subscribe(self, consumer: str, types: Iterable[str], handler: Handler) -> None:
        self.subscribe_batches(consumer, types, one_at_a_time(handler), size=1)

    def subscribe_batches(
        self,
        consumer: str,
        types: Iterable[str],
        handler: BatchHandler,
        *,
        size: int,
        linger: float = 0.0,
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        first, cap = self._backoff
        backoff = Backoff(f"consumer {consumer}", log, first=first, cap=cap)
        entry = _Consumer(consumer, frozenset(types), handler, size, linger, backoff)
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
        stopping = False
        while not stopping:
            first = await consumer.queue.get()
            taken = 1
            try:
                batch, taken = await batch_from(
                    first, consumer.queue, consumer.size, consumer.linger
                )
                stopping = taken > len(batch)
                if batch:
                    missed = await self._delivery.deliver(
                        consumer.name, consumer.handler, consumer.backoff, batch
                    )
                    # Kept for inspection, like an SQS dead-letter queue; so is an event
                    # the bus closed on while a service was down.
                    self.dead_letters.extend((consumer.name, m.event) for m in missed)
            finally:
                for _ in range(taken):
                    consumer.queue.task_done()
