"""How every bus hands a consumer its events: in batches, retried, waiting out outages.

The buses differ in where events wait (a queue in the process, a broker's
queue) and in what they do with one given up on (kept in a list, parked in a
dead-letter queue); the tries in between are the same, and live here:

- A batch goes to the handler whole. If it raises, each of its events is
  tried alone, so one bad event costs the others nothing.
- An event alone that makes the handler raise is tried again, the delay
  doubling from `retry_delay`, up to `max_attempts` tries; then it is given up.
- A handler that finds a service `Unavailable` spends no attempt: the same
  batch is tried again after a back-off, as long as it takes, unless the bus
  is closing, which gives the events back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from minifb.adapters.events.base import BatchHandler, Event
from minifb.adapters.resilience import Backoff, Unavailable

log = logging.getLogger("minifb.events")

T = TypeVar("T")


async def batch_from(
    first: T | None,
    queue: asyncio.Queue[T | None],
    size: int,
    linger: float = 0.0,
    *,
    weight: Callable[[T], int] | None = None,
) -> tuple[list[T], int]:
    """A batch beginning with `first`, just taken off the queue: what else comes within
    `linger` seconds of it, up to `size` items (or their `weight`s: how many events each
    carries) or a stop (None). Returns the items and how many were taken off the queue
    (`first` and a stop included), each to be marked done."""
    batch: list[T] = []
    item = first
    taken = 1
    held = 0
    deadline = asyncio.get_running_loop().time() + linger
    while item is not None:
        batch.append(item)
        held += 1 if weight is None else weight(item)
        if held >= size:
            break
        if queue.empty():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                # A get cut short by the deadline leaves its item in the queue.
                async with asyncio.timeout(left):
                    item = await queue.get()
            except TimeoutError:
                break
        else:
            item = queue.get_nowait()
        taken += 1
    return batch, taken


@dataclass(frozen=True, slots=True)
class NotHandled:
    """An event the handler did not take: given up after `attempts` tries failing with
    `error`, or given back unhandled (`error` None) because the bus is closing."""

    event: Event
    error: BaseException | None
    attempts: int


class _GivenBack:
    """The bus closed while a service was down: the events go back unhandled."""


_GIVEN_BACK = _GivenBack()


class Delivery:
    """The tries of one bus; `closing` is the bus's, set when it begins to close."""

    def __init__(self, *, max_attempts: int, retry_delay: float, closing: asyncio.Event) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._closing = closing

    async def deliver(
        self, consumer: str, handler: BatchHandler, backoff: Backoff, events: Sequence[Event]
    ) -> list[NotHandled]:
        """Hand `events` to `handler` (see above); returns those it did not take, in order."""
        if len(events) > 1:
            outcome = await self._try(handler, backoff, events)
            if outcome is None:
                return []
            if isinstance(outcome, _GivenBack):
                return [NotHandled(event, None, 0) for event in events]
            log.warning(
                "consumer %s failed on a batch of %d events (%r); trying each alone",
                consumer,
                len(events),
                outcome,
            )
        missed = [await self._alone(consumer, handler, backoff, event) for event in events]
        return [m for m in missed if m is not None]

    async def _alone(
        self, consumer: str, handler: BatchHandler, backoff: Backoff, event: Event
    ) -> NotHandled | None:
        for attempt in range(1, self._max_attempts + 1):
            outcome = await self._try(handler, backoff, [event])
            if outcome is None:
                return None
            if isinstance(outcome, _GivenBack):
                return NotHandled(event, None, attempt - 1)
            log.error(
                "consumer %s failed on event %s (%s), attempt %d of %d",
                consumer,
                event.id,
                event.type,
                attempt,
                self._max_attempts,
                exc_info=outcome,
            )
            if attempt == self._max_attempts:
                return NotHandled(event, outcome, attempt)
            await asyncio.sleep(self._retry_delay * 2 ** (attempt - 1))
        raise AssertionError("unreachable: the last attempt returns")

    async def _try(
        self, handler: BatchHandler, backoff: Backoff, events: Sequence[Event]
    ) -> Exception | _GivenBack | None:
        """One try, however long a service the handler needs stays down: None if it
        worked, else what it raised, or `_GIVEN_BACK` if the bus closed meanwhile."""
        while True:
            try:
                await handler(events)
            except Unavailable as exc:
                if self._closing.is_set():
                    return _GIVEN_BACK
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), backoff.failure(exc))
                continue
            except Exception as exc:
                return exc
            backoff.success()
            return None
