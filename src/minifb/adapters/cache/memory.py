"""In-process cache: the Redis semantics of the port, kept in dicts of one event loop.

Every method runs to completion without awaiting, so within one event loop a
read-modify-write (`incr`, `zadd`, ...) is atomic just as it is on Redis.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

from minifb.adapters.cache.base import (
    ZRange,
    ZRead,
    check_bytes,
    check_keep,
    check_page,
    check_range,
    check_score,
    split_value_keys,
    ttl_to_ms,
)

log = logging.getLogger("minifb.cache")

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class _SortedSet:
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


_Value = bytes | _SortedSet


class _WrongTypeError(TypeError):
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
        self.data: dict[str, _Value] = {}
        self.deadlines: dict[str, float] = {}
        self.channels: dict[str, set[_MemorySubscription]] = {}
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


class _MemorySubscription:
    def __init__(self, store: MemoryStore, channels: tuple[str, ...], prefix: str) -> None:
        self._store = store
        self._channels = channels
        self._prefix_len = len(prefix)
        # None wakes a reader blocked in get() when the subscription ends.
        self._queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(store.queue_size)
        self._dropped = 0
        self._closed = False

    async def __aenter__(self) -> _MemorySubscription:
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

    def __aiter__(self) -> _MemorySubscription:
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


class MemoryCache:
    """A `Cache` in this process's memory, for development, tests and single-process runs.

    Caches built on the same `store` share data and channels, isolated by
    their prefixes, like several `RedisCache`s on one server. Not shared
    across processes or event loops.
    """

    def __init__(self, prefix: str = "", *, store: MemoryStore | None = None) -> None:
        self.prefix = prefix
        self.store = store if store is not None else MemoryStore()

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _lookup(self, key: str) -> _Value | None:
        self.store.purge()
        return self.store.data.get(self._k(key))

    def _bytes(self, key: str) -> bytes | None:
        value = self._lookup(key)
        if value is None or isinstance(value, bytes):
            return value
        raise _WrongTypeError(key)

    def _zset(self, key: str) -> _SortedSet | None:
        value = self._lookup(key)
        if value is None or isinstance(value, _SortedSet):
            return value
        raise _WrongTypeError(key)

    def _drop_if_empty(self, key: str, zset: _SortedSet) -> None:
        # Redis deletes a sorted set with its last member; `exists` must agree.
        if not zset:
            self.store.remove(self._k(key))

    async def get(self, key: str) -> bytes | None:
        return self._bytes(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return self._get_many(keys)

    def _get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        self.store.purge()
        values = [self.store.data.get(self._k(key)) for key in keys]
        # Like MGET: a key holding a sorted set reads as missing rather than failing.
        return [value if isinstance(value, bytes) else None for value in values]

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await self.set_many({key: value}, ttl=ttl)

    async def set_many(self, items: Mapping[str, bytes], *, ttl: float | None = None) -> None:
        # Validate before writing anything so a bad ttl leaves no partial write.
        seconds = None if ttl is None else ttl_to_ms(ttl) / 1000
        for value in items.values():
            check_bytes(value)
        now = self.store.purge()
        for key, value in items.items():
            name = self._k(key)
            self.store.data[name] = value
            self.store.expire_at(name, None if seconds is None else now + seconds)

    async def delete(self, *keys: str) -> int:
        self.store.purge()
        return sum(self.store.remove(self._k(key)) for key in keys)

    async def incr(self, key: str, amount: int = 1, *, ttl: float) -> tuple[int, float]:
        seconds = ttl_to_ms(ttl) / 1000
        now = self.store.purge()
        name = self._k(key)
        current = self.store.data.get(name)
        if current is not None and not isinstance(current, bytes):
            raise _WrongTypeError(key)
        try:
            value = (0 if current is None else int(current)) + amount
        except ValueError:
            raise ValueError(f"the value at {key!r} is not an integer") from None
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"incrementing {key!r} would overflow a 64-bit integer")
        self.store.data[name] = str(value).encode()
        deadline = self.store.deadlines.get(name)
        if deadline is None:
            deadline = now + seconds
            self.store.expire_at(name, deadline)
        return value, deadline - now

    async def zadd(self, key: str, members: Mapping[str, float]) -> int:
        scores = {member: check_score(score) for member, score in members.items()}
        zset = self._zset(key)
        if not scores:
            return 0
        if zset is None:
            zset = self.store.data[self._k(key)] = _SortedSet()
        return sum(zset.add(member, score) for member, score in scores.items())

    async def zrange_by_score(
        self,
        key: str,
        *,
        min: float = -math.inf,
        max: float = math.inf,
        reverse: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[tuple[str, float]]:
        low, high = check_score(min, "min"), check_score(max, "max")
        check_page(offset, limit)
        zset = self._zset(key)
        if zset is None or low > high:
            return []
        return zset.range_by_score(low, high, reverse, offset, limit)

    async def zread(
        self,
        ranges: Sequence[ZRange],
        *,
        values_of: int | None = None,
        value_keys: Sequence[str] = ("{}",),
    ) -> ZRead:
        # Validate everything first, as the Redis script is refused as a whole.
        bounds = [check_range(zrange) for zrange in ranges]
        templates = split_value_keys(value_keys)
        if values_of is not None and not 0 <= values_of < len(ranges):
            raise IndexError(f"values_of {values_of} is not a range index")
        found: list[list[tuple[str, float]]] = []
        for zrange, (low, high) in zip(ranges, bounds, strict=True):
            zset = self._zset(zrange.key)
            if zset is None or low > high:
                found.append([])
            else:
                found.append(
                    zset.range_by_score(low, high, zrange.reverse, zrange.offset, zrange.limit)
                )
        if values_of is None:
            return ZRead(found)
        keys = [
            f"{head}{member}{tail}" for member, _ in found[values_of] for head, tail in templates
        ]
        return ZRead(found, self._get_many(keys))

    async def zadd_many(
        self, items: Mapping[str, Mapping[str, float]], *, keep: int | None = None
    ) -> None:
        if keep is not None:
            check_keep(keep)
        checked = {
            key: {member: check_score(score) for member, score in members.items()}
            for key, members in items.items()
        }
        for key, members in checked.items():
            await self.zadd(key, members)
            if keep is not None:
                await self.ztrim(key, keep)

    async def zrem(self, key: str, *members: str) -> int:
        zset = self._zset(key)
        if zset is None:
            return 0
        removed = sum(zset.remove(member) for member in members)
        self._drop_if_empty(key, zset)
        return removed

    async def ztrim(self, key: str, keep: int) -> int:
        check_keep(keep)
        zset = self._zset(key)
        if zset is None:
            return 0
        removed = zset.trim(keep)
        self._drop_if_empty(key, zset)
        return removed

    async def zcard(self, key: str) -> int:
        zset = self._zset(key)
        return 0 if zset is None else len(zset)

    async def zscore(self, key: str, member: str) -> float | None:
        zset = self._zset(key)
        return None if zset is None else zset.scores.get(member)

    async def expire(self, key: str, ttl: float) -> bool:
        seconds = ttl_to_ms(ttl) / 1000
        now = self.store.purge()
        name = self._k(key)
        if name not in self.store.data:
            return False
        self.store.expire_at(name, now + seconds)
        return True

    async def exists(self, key: str) -> bool:
        return self._lookup(key) is not None

    async def publish(self, channel: str, message: bytes) -> int:
        check_bytes(message)
        return self.store.publish(self._k(channel), message)

    def subscribe(self, *channels: str) -> _MemorySubscription:
        if not channels:
            raise ValueError("subscribe needs at least one channel")
        names = tuple(dict.fromkeys(self._k(channel) for channel in channels))
        return _MemorySubscription(self.store, names, self.prefix)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        # Nothing to release; the data stays readable like a Redis server's would.
        return None
