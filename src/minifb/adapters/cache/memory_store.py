"""The data of the in-process cache: values, sorted sets, expiry and pub/sub queues.

`MemoryCache` (memory.py) is the port's view of it; several views with their
own prefixes can share one `MemoryStore`, as several clients share a server.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger("minifb.cache")


class SortedSet:
    """Members by name for lookups, plus (score, member) pairs in order for ranges."""

    __slots__ = ("order", "scores")

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        # Sorted by score, then member: the tie order Redis uses (str order is
        # code point order, which is also the UTF-8 byte order Redis compares).
        self.order: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self.scores)

    def add(self, member: str, score: float) -> bool:
        old = self.scores.get(member)
        if old == score:
            return False
        if old is not None:
            del self.order[bisect_left(self.order, (old, member))]
        self.scores[member] = score
        insort(self.order, (score, member))
        return old is None

    def remove(self, member: str) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        del self.order[bisect_left(self.order, (score, member))]
        return True

    def range_by_score(
        self, low: float, high: float, reverse: bool, offset: int, limit: int | None
    ) -> list[tuple[str, float]]:
        start = bisect_left(self.order, low, key=lambda pair: pair[0])
        stop = bisect_right(self.order, high, key=lambda pair: pair[0])
        if reverse:
            # Walk down from the top so that offset/limit count from the highest score.
            stop -= offset
            start = start if limit is None else max(start, stop - limit)
            picked = self.order[start:stop] if start < stop else []
            picked.reverse()
        else:
            start += offset
            stop = stop if limit is None else min(stop, start + limit)
            picked = self.order[start:stop] if start < stop else []
        return [(member, score) for score, member in picked]

    def trim(self, keep: int) -> int:
        excess = len(self.order) - keep
        if excess <= 0:
            return 0
        for _, member in self.order[:excess]:
            del self.scores[member]
        del self.order[:excess]
        return excess


Value = bytes | SortedSet


class WrongTypeError(TypeError):
    def __init__(self, key: str) -> None:
        super().__init__(f"WRONGTYPE key {key!r} holds the other kind of value")


class MemoryStore:
    """The data behind one or more `MemoryCache` views, each with its own prefix.

    Expired keys are dropped on every access: a heap of deadlines makes that
    O(1) when nothing is due, and keys nobody reads again are still freed as
    soon as any other key is touched.
    """

    def __init__(
        self, *, queue_size: int = 1000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.data: dict[str, Value] = {}
        self.deadlines: dict[str, float] = {}
        self.channels: dict[str, set[MemorySubscription]] = {}
        self.queue_size = queue_size
        self.clock = clock
        # (deadline, key); entries go stale when a key's expiry changes and are
        # skipped when popped, or dropped when the heap is rebuilt.
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        """Keys held, counting expired ones not purged yet."""
        return len(self.data)

    def purge(self) -> float:
        """Drop every key whose deadline has passed; returns the time used as now."""
        now = self.clock()
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            if self.deadlines.get(key) == deadline:
                del self.deadlines[key]
                self.data.pop(key, None)
        return now

    def expire_at(self, key: str, deadline: float | None) -> None:
        if deadline is None:
            self.deadlines.pop(key, None)
            return
        self.deadlines[key] = deadline
        heapq.heappush(self._heap, (deadline, key))
        # Keys whose expiry is reset over and over leave stale entries behind;
        # rebuild so the heap stays proportional to the keys that expire.
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self.deadlines):
            self._heap = [(when, name) for name, when in self.deadlines.items()]
            heapq.heapify(self._heap)

    def remove(self, key: str) -> bool:
        if self.data.pop(key, None) is None:
            return False
        self.deadlines.pop(key, None)
        return True

    def publish(self, channel: str, message: bytes) -> int:
        receivers = self.channels.get(channel, ())
        for subscription in receivers:
            subscription.deliver(channel, message)
        return len(receivers)


class MemorySubscription:
    def __init__(self, store: MemoryStore, channels: tuple[str, ...], prefix: str) -> None:
        self._store = store
        self._channels = channels
        self._prefix_len = len(prefix)
        # None wakes a reader blocked in get() when the subscription ends.
        self._queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(store.queue_size)
        self._dropped = 0
        self._closed = False

    async def __aenter__(self) -> MemorySubscription:
        for channel in self._channels:
            self._store.channels.setdefault(channel, set()).add(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for channel in self._channels:
            receivers = self._store.channels.get(channel)
            if receivers is not None:
                receivers.discard(self)
                if not receivers:
                    del self._store.channels[channel]
        self._closed = True
        self._put(None)

    def __aiter__(self) -> MemorySubscription:
        return self

    async def __anext__(self) -> tuple[str, bytes]:
        if self._closed:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None or self._closed:
            raise StopAsyncIteration
        channel, message = item
        return channel[self._prefix_len :], message

    def deliver(self, channel: str, message: bytes) -> None:
        if self._put((channel, message)):
            self._dropped += 1
            # A stuck reader would otherwise log once per message.
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.warning(
                    "cache subscriber on %s is not keeping up: dropped %d oldest message(s)",
                    ", ".join(c[self._prefix_len :] for c in self._channels),
                    self._dropped,
                )

    def _put(self, item: tuple[str, bytes] | None) -> bool:
        """Enqueue without ever blocking the publisher; True when the oldest was dropped."""
        dropped = False
        if self._queue.full():
            self._queue.get_nowait()
            dropped = True
        self._queue.put_nowait(item)
        return dropped
