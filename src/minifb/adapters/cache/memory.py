"""In-process cache: the Redis semantics of the port, kept in dicts of one event loop.

Every method runs to completion without awaiting, so within one event loop a
read-modify-write (`incr`, `zadd`, ...) is atomic just as it is on Redis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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
from minifb.adapters.cache.memory_store import (
    MemoryStore,
    MemorySubscription,
    SortedSet,
    Value,
    WrongTypeError,
)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


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

    def _lookup(self, key: str) -> Value | None:
        self.store.purge()
        return self.store.data.get(self._k(key))

    def _bytes(self, key: str) -> bytes | None:
        value = self._lookup(key)
        if value is None or isinstance(value, bytes):
            return value
        raise WrongTypeError(key)

    def _zset(self, key: str) -> SortedSet | None:
        value = self._lookup(key)
        if value is None or isinstance(value, SortedSet):
            return value
        raise WrongTypeError(key)

    def _drop_if_empty(self, key: str, zset: SortedSet) -> None:
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
            raise WrongTypeError(key)
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
            zset = self.store.data[self._k(key)] = SortedSet()
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

    def subscribe(self, *channels: str) -> MemorySubscription:
        if not channels:
            raise ValueError("subscribe needs at least one channel")
        names = tuple(dict.fromkeys(self._k(channel) for channel in channels))
        return MemorySubscription(self.store, names, self.prefix)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        # Nothing to release; the data stays readable like a Redis server's would.
        return None
