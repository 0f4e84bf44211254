"""The cache port: key/value, counters, sorted sets and pub/sub behind one Protocol."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

Messages = AsyncIterator[tuple[str, bytes]]
"""What a subscription yields: (channel without the prefix, message)."""

Subscription = AbstractAsyncContextManager[Messages]


@dataclass(frozen=True, slots=True)
class ZRange:
    """One `zrange_by_score` request (same arguments, same meaning), for `zread`."""

    key: str
    min: float = -math.inf
    max: float = math.inf
    reverse: bool = False
    offset: int = 0
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class ZRead:
    """What `zread` found: each range's (member, score) pairs, and the values asked for."""

    ranges: list[list[tuple[str, float]]]
    values: list[bytes | None] = field(default_factory=list)


class Cache(Protocol):
    """A shared, non-durable store for small, hot data (DESIGN §1).

    Every key and channel is stored under the cache's prefix, so two caches
    with different prefixes never see each other's data; the prefix is never
    visible to callers. Keys are `str`, values `bytes` (nothing is decoded),
    sorted-set members `str` and scores `float`.

    A key holds one kind of value: bytes (`set`, `incr`) or a sorted set
    (`zadd`). Reading it as the other kind raises (which exception depends on
    the implementation), except `get_many`, which returns None for it.

    Every `ttl` is in seconds, must be > 0 and is kept to the millisecond.
    """

    async def get(self, key: str) -> bytes | None:
        """The value at `key`, or None when it is missing or expired."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values at `keys`, in order, None for each one missing (one round trip)."""

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store `value` at `key`, replacing any value and any expiry it had.

        With `ttl` the key expires after that many seconds; without, it never does.
        """

    async def set_many(self, items: Mapping[str, bytes], *, ttl: float | None = None) -> None:
        """`set` every item, all with the same `ttl` (one round trip)."""

    async def delete(self, *keys: str) -> int:
        """Remove `keys`; returns how many of them existed."""

    async def incr(self, key: str, amount: int = 1, *, ttl: float) -> tuple[int, float]:
        """Atomically add `amount` to the integer at `key` (a missing key counts as 0).

        The expiry is set only when the key has none, that is when this call
        creates it, so repeated calls count within one fixed window of `ttl`
        seconds instead of extending it. Returns (the new value, seconds until
        the key expires). Atomic across tasks and processes sharing the
        backend: rate limits rely on it. Raises if the value is not an integer.
        """

    async def zadd(self, key: str, members: Mapping[str, float]) -> int:
        """Add `members` with their scores, updating the score of existing ones.

        Returns how many members were new.
        """

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
        """(member, score) pairs with `min <= score <= max`, lowest score first.

        `reverse=True` gives the highest score first (like ZREVRANGEBYSCORE).
        Equal scores are ordered by member, lexicographically by UTF-8 bytes,
        reversed along with the scores when `reverse` is set. `offset` and
        `limit` page through the result, applied after ordering.
        """

    async def zread(
        self,
        ranges: Sequence[ZRange],
        *,
        values_of: int | None = None,
        value_keys: Sequence[str] = ("{}",),
    ) -> ZRead:
        """Several `zrange_by_score` reads, plus the values their members name, in one round trip.

        With `values_of` (an index into `ranges`), `values` holds, for each
        member that range found and in order, the value at
        `template.format(member)` for each template of `value_keys`, None for
        each one missing (like `get_many`): `[m1k1, m1k2, m2k1, m2k2, ...]`.
        The hot read of a feed is one page of ids and the cached posts they
        name: one trip instead of two. At most a few thousand values per call.
        """

    async def zadd_many(
        self, items: Mapping[str, Mapping[str, float]], *, keep: int | None = None
    ) -> None:
        """`zadd` to each sorted set in `items`, then `ztrim` it to `keep` when given.

        For fan-out: one round trip per thousand keys instead of one per key.
        Not atomic across keys.
        """

    async def zrem(self, key: str, *members: str) -> int:
        """Remove `members`; returns how many were there."""

    async def ztrim(self, key: str, keep: int) -> int:
        """Keep only the `keep` highest-scored members; returns how many were removed."""

    async def zcard(self, key: str) -> int:
        """The number of members at `key` (0 when missing)."""

    async def zscore(self, key: str, member: str) -> float | None:
        """The score of `member`, or None when it is not in the set."""

    async def expire(self, key: str, ttl: float) -> bool:
        """Make `key` expire `ttl` seconds from now; False when the key does not exist."""

    async def exists(self, key: str) -> bool:
        """Whether `key` holds a value (of either kind) that has not expired."""

    async def publish(self, channel: str, message: bytes) -> int:
        """Send `message` to the current subscribers of `channel`; returns how many got it.

        Delivery is at most once: a subscriber that is not listening at that
        moment never sees the message.
        """

    def subscribe(self, *channels: str) -> Subscription:
        """Listen on `channels`: `async with cache.subscribe("a") as messages:`.

        The subscription is in place when `__aenter__` returns, so a message
        published right after is received. Iterate the yielded async iterator
        for (channel, message) pairs, inside the block only; leaving the block
        unsubscribes.
        """

    async def ping(self) -> None:
        """Raise if the backend is unreachable (readiness checks)."""

    async def close(self) -> None:
        """Release connections; the cache is not used afterwards."""


def ttl_to_ms(ttl: float) -> int:
    """A ttl in seconds as whole milliseconds, the precision both implementations keep."""
    if not ttl > 0 or math.isinf(ttl):  # `not >` also rejects NaN
        raise ValueError(f"ttl must be a finite number of seconds > 0, got {ttl!r}")
    # Round rather than truncate so that e.g. 0.0005 s is still a positive expiry.
    return max(1, round(ttl * 1000))


def check_bytes(value: bytes) -> None:
    """Refuse anything but bytes, which redis-py would otherwise quietly encode."""
    if not isinstance(value, bytes):
        raise TypeError(f"cache values are bytes, got {type(value).__name__}")


def check_score(score: float, what: str = "score") -> float:
    """`score` as a float; NaN is refused (Redis refuses it too)."""
    value = float(score)
    if math.isnan(value):
        raise ValueError(f"{what} must not be NaN")
    return value


def check_page(offset: int, limit: int | None) -> None:
    """Refuse negative paging, which Redis would silently answer with nothing or everything."""
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")


def check_range(zrange: ZRange) -> tuple[float, float]:
    """Validate one `zread` range like `zrange_by_score` does; returns its (min, max)."""
    check_page(zrange.offset, zrange.limit)
    return check_score(zrange.min, "min"), check_score(zrange.max, "max")


def split_value_keys(templates: Sequence[str]) -> list[tuple[str, str]]:
    """The parts of each `zread` value-key template before and after its one `{}`."""
    parts = []
    for template in templates:
        head, marker, tail = template.partition("{}")
        if not marker or "{}" in tail:
            raise ValueError(f"value_keys need exactly one '{{}}' each, got {template!r}")
        parts.append((head, tail))
    if not parts:
        raise ValueError("value_keys must name at least one key")
    return parts


def check_keep(keep: int) -> None:
    """Refuse a negative `ztrim` count."""
    if keep < 0:
        raise ValueError(f"keep must be >= 0, got {keep}")
