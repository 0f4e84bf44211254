"""A remote cache behind a short timeout and a circuit breaker (DESIGN §8).

Wraps any `Cache` whose calls cross the network. Each call is bounded by
`timeout` seconds; a call that times out or loses its connection counts as a
failure, and after a few in a row the breaker opens and every call raises
`Unavailable` at once until a trial call succeeds again. A stalled Redis then
costs a request milliseconds, not the client's socket timeout, and callers
can fall back (a read from the database, a throttle counted in the process).
What the server answers with an error (a wrong type, a script error) is not
an outage: it passes through unchanged and does not count.

Counters are the one exception to "raise and let the caller fall back": while
the remote cache is down, `incr` counts in a cache of this process instead, so
rate limits and login throttles keep holding (per process, for the outage)
rather than either letting every attempt through or refusing everyone.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from minifb.adapters.cache.base import Cache, Subscription, ZRange, ZRead
from minifb.adapters.resilience import CircuitBreaker, Unavailable

T = TypeVar("T")

SERVICE = "cache"


class GuardedCache:
    """A `Cache` that answers within `timeout` seconds or raises `Unavailable`."""

    def __init__(
        self,
        inner: Cache,
        *,
        outages: tuple[type[BaseException], ...],
        timeout: float = 0.5,
        breaker: CircuitBreaker | None = None,
        counters: Cache | None = None,
    ) -> None:
        """`outages` are the inner cache's exceptions that mean "not reachable"
        (connection and timeout errors); the built-in `OSError` and `TimeoutError`
        always count. `counters` is where `incr` counts while the inner cache is
        down (by default none: `incr` raises `Unavailable` like the rest)."""
        self.inner = inner
        self.counters = counters
        self.timeout = timeout
        self.breaker = breaker or CircuitBreaker(SERVICE, threshold=3, cooldown=1.0, max_cooldown=5)
        self._outages: tuple[type[BaseException], ...] = (*outages, OSError, TimeoutError)

    async def _call(self, run: Callable[[], Awaitable[T]]) -> T:
        # `run` builds the coroutine only once the breaker lets the call through,
        # so a refused call leaves no coroutine behind never awaited.
        self.breaker.check()
        try:
            async with asyncio.timeout(self.timeout):
                result = await run()
        except self._outages as exc:
            self.breaker.failure()
            retry = max(1.0, math.ceil(self.breaker.retry_after))
            raise Unavailable(SERVICE, retry_after=retry) from exc
        except BaseException:
            # Cancelled, or an error the server answered: says nothing of an outage.
            self.breaker.release()
            raise
        self.breaker.success()
        return result

    async def get(self, key: str) -> bytes | None:
        return await self._call(lambda: self.inner.get(key))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return await self._call(lambda: self.inner.get_many(keys))

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await self._call(lambda: self.inner.set(key, value, ttl=ttl))

    async def set_many(self, items: Mapping[str, bytes], *, ttl: float | None = None) -> None:
        await self._call(lambda: self.inner.set_many(items, ttl=ttl))

    async def delete(self, *keys: str) -> int:
        return await self._call(lambda: self.inner.delete(*keys))

    async def incr(self, key: str, amount: int = 1, *, ttl: float) -> tuple[int, float]:
        try:
            return await self._call(lambda: self.inner.incr(key, amount, ttl=ttl))
        except Unavailable:
            if self.counters is None:
                raise
            return await self.counters.incr(key, amount, ttl=ttl)

    async def zadd(self, key: str, members: Mapping[str, float]) -> int:
        return await self._call(lambda: self.inner.zadd(key, members))

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
        return await self._call(
            lambda: self.inner.zrange_by_score(
                key, min=min, max=max, reverse=reverse, offset=offset, limit=limit
            )
        )

    async def zread(
        self,
        ranges: Sequence[ZRange],
        *,
        values_of: int | None = None,
        value_keys: Sequence[str] = ("{}",),
    ) -> ZRead:
        return await self._call(
            lambda: self.inner.zread(ranges, values_of=values_of, value_keys=value_keys)
        )

    async def zadd_many(
        self, items: Mapping[str, Mapping[str, float]], *, keep: int | None = None
    ) -> None:
        await self._call(lambda: self.inner.zadd_many(items, keep=keep))

    async def zrem(self, key: str, *members: str) -> int:
        return await self._call(lambda: self.inner.zrem(key, *members))

    async def ztrim(self, key: str, keep: int) -> int:
        return await self._call(lambda: self.inner.ztrim(key, keep))

    async def zcard(self, key: str) -> int:
        return await self._call(lambda: self.inner.zcard(key))

    async def zscore(self, key: str, member: str) -> float | None:
        return await self._call(lambda: self.inner.zscore(key, member))

    async def expire(self, key: str, ttl: float) -> bool:
        return await self._call(lambda: self.inner.expire(key, ttl))

    async def exists(self, key: str) -> bool:
        return await self._call(lambda: self.inner.exists(key))

    async def publish(self, channel: str, message: bytes) -> int:
        return await self._call(lambda: self.inner.publish(channel, message))

    def subscribe(self, *channels: str) -> Subscription:
        # Long-lived: no per-call timeout; a subscriber handles its own reconnects.
        return self.inner.subscribe(*channels)

    async def ping(self) -> None:
        # Straight to the server, past the breaker: readiness asks "is it back?".
        try:
            async with asyncio.timeout(self.timeout):
                await self.inner.ping()
        except self._outages as exc:
            raise Unavailable(SERVICE) from exc

    async def close(self) -> None:
        await self.inner.close()
