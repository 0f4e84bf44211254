"""The cache contract: every test runs against MemoryCache, RedisCache, the
GuardedCache in front of Redis that the app uses, and the GuardedCache in front
of a Redis Cluster that the app uses in cluster mode, alike.

The Redis case uses `MINIFB_TEST_REDIS_URL` (default redis://127.0.0.1:6379/0).
An unreachable server skips it, or fails it in the full pass (`MINIFB_FULL_PASS=1`). The
cluster case starts a 3-node Redis Cluster of its own (`redis_cluster`) once
per session. Each test writes under a prefix of its own and deletes those keys
afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import redis
import redis.asyncio

from minifb.adapters.cache import (
    Cache,
    GuardedCache,
    MemoryCache,
    RedisCache,
    RedisClusterCache,
    create_cache,
)
from minifb.adapters.cache.base import ZRange
from minifb.adapters.cache.memory_store import MemoryStore
from minifb.adapters.cache.redis import connect
from tests.fixtures.redis_cluster import RedisCluster, redis_cluster
from tests.fixtures.tcp_relay import TcpRelay
from tests.fixtures.tiers import FULL_PASS

__all__ = ["redis_cluster"]  # the fixture, imported for the tests below

REDIS_URL_ENV = "MINIFB_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _unique_prefix() -> str:
    return f"minifb-test:cache:{uuid.uuid4().hex}:"


class Backend:
    """Opens caches on one store (memory) or one server (redis) and cleans up after them."""

    def __init__(self, name: str, redis_url: str | None, cluster: RedisCluster | None) -> None:
        self.name = name
        self.redis_url = redis_url
        self.cluster = cluster
        self.store = MemoryStore()
        self.prefixes: list[str] = []
        self.caches: list[Cache] = []

    @property
    def prefix(self) -> str:
        """The prefix of the test's `cache`."""
        return self.prefixes[0]

    def open(self, prefix: str) -> Cache:
        """A new cache on the same backend; on Redis its own connection pool too."""
        cache: Cache
        if self.cluster is not None:
            cache = create_cache(self.cluster.url, prefix=prefix, timeout=5)
        elif self.redis_url is None:
            cache = MemoryCache(prefix, store=self.store)
        elif self.name == "guarded":
            cache = create_cache(self.redis_url, prefix=prefix, timeout=5)
        else:
            cache = RedisCache.from_url(self.redis_url, prefix=prefix)
        self.prefixes.append(prefix)
        self.caches.append(cache)
        return cache

    async def aclose(self) -> None:
        for cache in self.caches:
            await cache.close()
        if self.cluster is not None:
            for prefix in self.prefixes:
                await self.cluster.delete_prefixed(prefix)
        if self.redis_url is None:
            return
        client = redis.asyncio.Redis.from_url(self.redis_url)
        try:
            for prefix in self.prefixes:
                keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
                if keys:
                    await client.delete(*keys)
        finally:
            await client.aclose()


_BACKEND = pytest.StashKey[Backend]()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test server's URL, once checked to answer."""
    url = os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        # Named by variable, not URL: the URL may hold a password.
        source = REDIS_URL_ENV if os.environ.get(REDIS_URL_ENV) else DEFAULT_REDIS_URL
        reason = f"Redis ({source}) is unreachable: {exc}"
        if FULL_PASS:
            pytest.fail(f"{reason}; the full pass (MINIFB_FULL_PASS) runs the Redis contract tests")
        pytest.skip(f"{reason}; start Redis or point {REDIS_URL_ENV} at one to run these")
    finally:
        client.close()
    return url


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
        pytest.param("guarded", id="guarded-redis", marks=pytest.mark.redis),
        pytest.param("cluster", id="guarded-cluster", marks=pytest.mark.redis),
    ]
)
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    remote = request.param in ("redis", "guarded")
    url: str | None = request.getfixturevalue("redis_url") if remote else None
    cluster: RedisCluster | None = None
    if request.param == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
    backend = Backend(request.param, url, cluster)
    request.node.stash[_BACKEND] = backend
    try:
        yield backend.open(_unique_prefix())
    finally:
        await backend.aclose()


@pytest.fixture
def backend(cache: Cache, request: pytest.FixtureRequest) -> Backend:
    """The backend behind `cache`, to open more caches on it."""
    opened: Backend = request.node.stash[_BACKEND]
    return opened


async def _next(messages: AsyncIterator[tuple[str, bytes]]) -> tuple[str, bytes]:
    async with asyncio.timeout(2):
        return await anext(messages)


# -- strings -----------------------------------------------------------------


async def test_get_of_a_missing_key_is_none(cache: Cache) -> None:
    assert await cache.get("nothing") is None
    assert await cache.exists("nothing") is False


async def test_set_then_get_returns_the_same_bytes(cache: Cache) -> None:
    await cache.set("k", b"\x00binary\xff")
    assert await cache.get("k") == b"\x00binary\xff"
    assert await cache.exists("k") is True
    await cache.set("k", b"second")
    assert await cache.get("k") == b"second"


async def test_a_key_set_with_a_ttl_expires(cache: Cache) -> None:
    await cache.set("k", b"v", ttl=0.2)
    await cache.set("gone", b"v", ttl=0.2)
    await cache.set("forever", b"v")
    assert await cache.get("k") == b"v"
    await asyncio.sleep(0.3)
    assert await cache.delete("gone") == 0  # an expired key no longer counts
    assert await cache.get("k") is None
    assert await cache.exists("k") is False
    assert await cache.get("forever") == b"v"


async def test_set_without_ttl_clears_an_earlier_expiry(cache: Cache) -> None:
    await cache.set("k", b"old", ttl=0.2)
    await cache.set("k", b"new")
    await asyncio.sleep(0.3)
    assert await cache.get("k") == b"new"


async def test_get_many_keeps_order_and_returns_none_for_missing_keys(cache: Cache) -> None:
    await cache.set("a", b"1")
    await cache.set("c", b"3")
    assert await cache.get_many(["a", "b", "c", "a"]) == [b"1", None, b"3", b"1"]
    assert await cache.get_many([]) == []


async def test_set_many_writes_every_item_with_the_ttl(cache: Cache) -> None:
    await cache.set_many({"a": b"1", "b": b"2"}, ttl=0.2)
    await cache.set_many({"c": b"3"})
    await cache.set_many({})
    assert await cache.get_many(["a", "b", "c"]) == [b"1", b"2", b"3"]
    await asyncio.sleep(0.3)
    assert await cache.get_many(["a", "b", "c"]) == [None, None, b"3"]


async def test_delete_counts_only_keys_that_existed(cache: Cache) -> None:
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    await cache.zadd("z", {"m": 1})
    assert await cache.delete("a", "b", "z", "missing") == 3
    assert await cache.get_many(["a", "b"]) == [None, None]
    assert await cache.exists("z") is False
    assert await cache.delete("a") == 0
    assert await cache.delete() == 0


async def test_expire_sets_a_ttl_on_an_existing_key_only(cache: Cache) -> None:
    await cache.set("k", b"v")
    await cache.zadd("z", {"m": 1})
    assert await cache.expire("k", 0.2) is True
    assert await cache.expire("z", 0.2) is True
    assert await cache.expire("missing", 1) is False
    assert await cache.exists("missing") is False
    await asyncio.sleep(0.3)
    assert await cache.get("k") is None
    assert await cache.zcard("z") == 0


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf")])
async def test_a_ttl_must_be_a_positive_number_of_seconds(cache: Cache, ttl: float) -> None:
    await cache.set("k", b"v")
    with pytest.raises(ValueError, match="ttl"):
        await cache.set("k", b"other", ttl=ttl)
    with pytest.raises(ValueError, match="ttl"):
        await cache.set_many({"k": b"other"}, ttl=ttl)
    with pytest.raises(ValueError, match="ttl"):
        await cache.incr("n", ttl=ttl)
    with pytest.raises(ValueError, match="ttl"):
        await cache.expire("k", ttl)
    assert await cache.get("k") == b"v"
    assert await cache.exists("n") is False


async def test_values_must_be_bytes(cache: Cache) -> None:
    with pytest.raises(TypeError, match="bytes"):
        await cache.set("k", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes"):
        await cache.publish("ch", "text")  # type: ignore[arg-type]
    assert await cache.exists("k") is False


# -- counters ----------------------------------------------------------------


async def test_incr_counts_from_zero_and_reports_the_time_left(cache: Cache) -> None:
    assert (await cache.incr("n", ttl=10))[0] == 1
    value, left = await cache.incr("n", 5, ttl=10)
    assert value == 6
    assert 9 < left <= 10
    assert (await cache.incr("n", -2, ttl=10))[0] == 4
    assert await cache.get("n") == b"4"


async def test_incr_fixes_the_window_when_it_creates_the_key(cache: Cache) -> None:
    value, left = await cache.incr("n", ttl=0.5)
    assert (value, left) == pytest.approx((1, 0.5), abs=0.01)
    await asyncio.sleep(0.2)
    # A longer ttl on a later call does not move the end of the window.
    value, left = await cache.incr("n", ttl=10)
    assert value == 2
    assert left <= 0.35
    await asyncio.sleep(left + 0.1)
    assert await cache.get("n") is None
    value, left = await cache.incr("n", ttl=10)
    assert (value, left) == pytest.approx((1, 10), abs=0.05)


async def test_incr_gives_a_key_without_expiry_one(cache: Cache) -> None:
    await cache.set("n", b"41")
    assert await cache.incr("n", ttl=0.2) == pytest.approx((42, 0.2), abs=0.01)
    await asyncio.sleep(0.3)
    assert await cache.exists("n") is False


async def test_incr_of_a_non_integer_raises(cache: Cache) -> None:
    await cache.set("n", b"abc")
    # Which exception depends on the backend; the message says why.
    with pytest.raises(Exception, match="integer"):
        await cache.incr("n", ttl=1)
    assert await cache.get("n") == b"abc"


async def test_concurrent_incr_hands_out_each_value_once(cache: Cache) -> None:
    results = await asyncio.gather(*(cache.incr("n", ttl=10) for _ in range(50)))
    assert sorted(value for value, _ in results) == list(range(1, 51))
    assert await cache.get("n") == b"50"


async def test_incr_is_atomic_across_clients_sharing_a_prefix(
    cache: Cache, backend: Backend
) -> None:
    other = backend.open(backend.prefix)
    calls = [(cache if i % 2 else other).incr("n", ttl=10) for i in range(50)]
    results = await asyncio.gather(*calls)
    assert sorted(value for value, _ in results) == list(range(1, 51))


# -- sorted sets -------------------------------------------------------------


async def test_zadd_counts_new_members_and_updates_scores(cache: Cache) -> None:
    assert await cache.zadd("z", {"a": 1, "b": 2.5}) == 2
    assert await cache.zadd("z", {"a": 3, "c": -1}) == 1
    assert await cache.zadd("z", {}) == 0
    assert await cache.zscore("z", "a") == 3.0
    assert await cache.zscore("z", "b") == 2.5
    assert await cache.zscore("z", "missing") is None
    assert await cache.zscore("no-such-set", "a") is None
    assert await cache.zcard("z") == 3
    assert await cache.zcard("no-such-set") == 0
    assert await cache.zrange_by_score("z") == [("c", -1.0), ("b", 2.5), ("a", 3.0)]


async def test_zrange_by_score_forward_reverse_and_bounds(cache: Cache) -> None:
    await cache.zadd("z", {"one": 1, "two": 2, "three": 3, "four": 4})
    assert await cache.zrange_by_score("z") == [
        ("one", 1.0),
        ("two", 2.0),
        ("three", 3.0),
        ("four", 4.0),
    ]
    assert [m for m, _ in await cache.zrange_by_score("z", reverse=True)] == [
        "four",
        "three",
        "two",
        "one",
    ]
    # Bounds are inclusive, in both directions.
    assert [m for m, _ in await cache.zrange_by_score("z", min=2, max=3)] == ["two", "three"]
    assert [m for m, _ in await cache.zrange_by_score("z", min=2, max=3, reverse=True)] == [
        "three",
        "two",
    ]
    assert [m for m, _ in await cache.zrange_by_score("z", min=3)] == ["three", "four"]
    assert [m for m, _ in await cache.zrange_by_score("z", max=1.5, reverse=True)] == ["one"]
    assert await cache.zrange_by_score("z", min=2.1, max=2.9) == []
    assert await cache.zrange_by_score("z", min=3, max=2) == []
    assert await cache.zrange_by_score("no-such-set") == []


async def test_zrange_by_score_pages_with_offset_and_limit(cache: Cache) -> None:
    await cache.zadd("z", {f"m{i}": i for i in range(1, 8)})

    async def members(**kwargs: object) -> list[str]:
        return [m for m, _ in await cache.zrange_by_score("z", **kwargs)]  # type: ignore[arg-type]

    assert await members(offset=2, limit=3) == ["m3", "m4", "m5"]
    assert await members(offset=5) == ["m6", "m7"]
    assert await members(limit=2) == ["m1", "m2"]
    assert await members(limit=0) == []
    assert await members(offset=10) == []
    assert await members(reverse=True, offset=1, limit=2) == ["m6", "m5"]
    assert await members(reverse=True, offset=5) == ["m2", "m1"]
    assert await members(min=3, max=6, offset=1, limit=2) == ["m4", "m5"]
    assert await members(min=3, max=6, reverse=True, offset=1, limit=10) == ["m5", "m4", "m3"]
    with pytest.raises(ValueError, match="offset"):
        await members(offset=-1)
    with pytest.raises(ValueError, match="limit"):
        await members(limit=-1)


async def test_equal_scores_are_ordered_by_member_like_redis(cache: Cache) -> None:
    # "é" sorts after "z" (by UTF-8 bytes and by code point alike).
    await cache.zadd("z", {"b": 1, "é": 1, "a": 1, "z": 1, "low": 0, "high": 2})
    assert [m for m, _ in await cache.zrange_by_score("z")] == ["low", "a", "b", "z", "é", "high"]
    assert [m for m, _ in await cache.zrange_by_score("z", reverse=True)] == [
        "high",
        "é",
        "z",
        "b",
        "a",
        "low",
    ]
    assert [m for m, _ in await cache.zrange_by_score("z", min=1, max=1, offset=1, limit=2)] == [
        "b",
        "z",
    ]


async def test_scores_keep_full_float_precision_and_infinities(cache: Cache) -> None:
    await cache.zadd("z", {"tiny": 0.1 + 0.2, "big": 2.0**60, "top": float("inf")})
    assert await cache.zrange_by_score("z") == [
        ("tiny", 0.1 + 0.2),
        ("big", 2.0**60),
        ("top", float("inf")),
    ]
    with pytest.raises(ValueError, match="NaN"):
        await cache.zadd("z", {"bad": float("nan")})


async def test_ztrim_keeps_the_highest_scores(cache: Cache) -> None:
    await cache.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert await cache.ztrim("z", 3) == 2
    assert [m for m, _ in await cache.zrange_by_score("z")] == ["c", "d", "e"]
    assert await cache.ztrim("z", 3) == 0
    assert await cache.ztrim("z", 10) == 0
    assert await cache.zcard("z") == 3
    assert await cache.ztrim("no-such-set", 1) == 0
    assert await cache.ztrim("z", 0) == 3
    assert await cache.exists("z") is False
    with pytest.raises(ValueError, match="keep"):
        await cache.ztrim("z", -1)


async def test_zrem_counts_removed_members_and_drops_an_emptied_set(cache: Cache) -> None:
    await cache.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert await cache.zrem("z", "a", "missing") == 1
    assert await cache.zrem("z") == 0
    assert await cache.zrange_by_score("z") == [("b", 2.0), ("c", 3.0)]
    assert await cache.zrem("no-such-set", "a") == 0
    assert await cache.zrem("z", "b", "c") == 2
    assert await cache.exists("z") is False
    assert await cache.zcard("z") == 0


async def test_a_re_added_member_moves_to_its_new_place(cache: Cache) -> None:
    await cache.zadd("z", {"a": 1, "b": 2, "c": 3})
    await cache.zadd("z", {"a": 10})
    assert [m for m, _ in await cache.zrange_by_score("z")] == ["b", "c", "a"]
    assert await cache.zrem("z", "a") == 1
    assert await cache.zrange_by_score("z") == [("b", 2.0), ("c", 3.0)]


async def test_zread_reads_several_ranges_in_one_call(cache: Cache) -> None:
    await cache.zadd("z", {f"m{i}": i for i in range(1, 8)})
    await cache.zadd("other", {"x": 1.5, "top": math.inf})
    found = await cache.zread(
        [
            ZRange("z", max=5, reverse=True, limit=3),
            ZRange("z", min=2, max=6, offset=1, limit=2),
            ZRange("other", min=math.inf),
            ZRange("no-such-set"),
            ZRange("z", limit=0),
        ]
    )
    assert found.ranges == [
        [("m5", 5.0), ("m4", 4.0), ("m3", 3.0)],
        [("m3", 3.0), ("m4", 4.0)],
        [("top", math.inf)],
        [],
        [],
    ]
    assert found.values == []
    assert (await cache.zread([])).ranges == []


async def test_zread_fetches_the_values_one_range_names(cache: Cache) -> None:
    await cache.zadd("feed", {"1": 1, "2": 2, "3": 3})
    await cache.set_many({"post:1:v": b"one", "post:3:v": b"three", "n:3": b"3"})
    await cache.zadd("post:2:v", {"wrong": 1})  # another kind of value reads as missing
    found = await cache.zread(
        [ZRange("other"), ZRange("feed", reverse=True)], values_of=1, value_keys=["post:{}:v"]
    )
    assert found.ranges[1] == [("3", 3.0), ("2", 2.0), ("1", 1.0)]
    assert found.values == [b"three", None, b"one"]
    both = await cache.zread(
        [ZRange("feed", min=2, reverse=True)], values_of=0, value_keys=["post:{}:v", "n:{}"]
    )
    assert both.values == [b"three", b"3", None, None]
    empty = await cache.zread([ZRange("feed", min=10)], values_of=0, value_keys=["post:{}"])
    assert empty.ranges == [[]]
    assert empty.values == []


async def test_zread_refuses_bad_arguments(cache: Cache) -> None:
    for templates in (["post:"], ["{}:{}"], []):
        with pytest.raises(ValueError, match="value_keys"):
            await cache.zread([ZRange("z")], values_of=0, value_keys=templates)
    with pytest.raises(IndexError):
        await cache.zread([ZRange("z")], values_of=1)
    with pytest.raises(ValueError, match="offset"):
        await cache.zread([ZRange("z", offset=-1)])
    with pytest.raises(ValueError, match="NaN"):
        await cache.zread([ZRange("z", max=math.nan)])


async def test_zread_keeps_exact_members_and_scores(cache: Cache) -> None:
    # 64-bit ids do not fit a float: members carry them exactly, scores may tie.
    big = [2**62 + 1, 2**62 + 2, 2**62 + 3]
    await cache.zadd("z", {str(i): float(i >> 12) for i in big})
    found = await cache.zread([ZRange("z", reverse=True)])
    assert [int(m) for m, _ in found.ranges[0]] == big[::-1]
    assert {s for _, s in found.ranges[0]} == {float(2**50)}


async def test_zadd_many_adds_to_each_set_and_trims(cache: Cache) -> None:
    await cache.zadd("a", {"old": 0})
    await cache.zadd_many(
        {"a": {"x": 1, "y": 2, "z": 3}, "b": {"x": 5}, "c": {}},
        keep=2,
    )
    assert await cache.zrange_by_score("a") == [("y", 2.0), ("z", 3.0)]
    assert await cache.zrange_by_score("b") == [("x", 5.0)]
    assert await cache.exists("c") is False
    await cache.zadd_many({"a": {"w": 10}})
    assert await cache.zcard("a") == 3
    await cache.zadd_many({})
    with pytest.raises(ValueError, match="keep"):
        await cache.zadd_many({"a": {"v": 1}}, keep=-1)
    with pytest.raises(ValueError, match="NaN"):
        await cache.zadd_many({"a": {"v": math.nan}})
    assert await cache.zscore("a", "v") is None


async def test_zadd_many_gives_a_member_its_score_in_each_set(cache: Cache) -> None:
    # The same member in several sets, with the same or another score there.
    await cache.zadd_many(
        {"a": {"x": 1, "y 2": 2}, "b": {"x": 5, "y 2": 2}, "c": {"y 2": 2, "": -1.5}}, keep=5
    )
    assert await cache.zrange_by_score("a") == [("x", 1.0), ("y 2", 2.0)]
    assert await cache.zrange_by_score("b") == [("y 2", 2.0), ("x", 5.0)]
    assert await cache.zrange_by_score("c") == [("", -1.5), ("y 2", 2.0)]


async def test_zadd_many_reaches_thousands_of_sets(cache: Cache) -> None:
    keys = [f"feed:{i}" for i in range(2500)]
    await cache.zadd_many({key: {"p": 7} for key in keys}, keep=10)
    assert await cache.zscore("feed:0", "p") == 7.0
    assert await cache.zscore("feed:2499", "p") == 7.0


# -- pub/sub -----------------------------------------------------------------


async def test_a_subscriber_receives_what_is_published_right_after_entering(
    cache: Cache,
) -> None:
    async with cache.subscribe("news", "alerts") as messages:
        assert await cache.publish("news", b"first") == 1
        assert await cache.publish("alerts", b"second") == 1
        assert await cache.publish("other", b"unheard") == 0
        assert await _next(messages) == ("news", b"first")
        assert await _next(messages) == ("alerts", b"second")


async def test_every_subscriber_of_a_channel_receives_a_message(cache: Cache) -> None:
    async with cache.subscribe("news") as one, cache.subscribe("news") as two:
        assert await cache.publish("news", b"hello") == 2
        assert await _next(one) == ("news", b"hello")
        assert await _next(two) == ("news", b"hello")


async def test_leaving_the_block_unsubscribes(cache: Cache) -> None:
    async with cache.subscribe("news") as messages:
        assert await cache.publish("news", b"1") == 1
        assert await _next(messages) == ("news", b"1")
    assert await cache.publish("news", b"2") == 0


async def test_a_subscription_keeps_its_messages_until_read(cache: Cache) -> None:
    async with cache.subscribe("news") as messages:
        for i in range(5):
            await cache.publish("news", str(i).encode())
        received = [await _next(messages) for _ in range(5)]
    assert received == [("news", str(i).encode()) for i in range(5)]


async def test_subscribe_needs_a_channel(cache: Cache) -> None:
    with pytest.raises(ValueError, match="channel"):
        cache.subscribe()


# -- isolation and health ----------------------------------------------------


async def test_caches_with_different_prefixes_do_not_see_each_other(
    cache: Cache, backend: Backend
) -> None:
    other = backend.open(_unique_prefix())
    await cache.set("k", b"mine")
    await cache.zadd("z", {"m": 1})
    await cache.incr("n", ttl=10)
    assert await other.get("k") is None
    assert await other.get_many(["k"]) == [None]
    assert await other.exists("k") is False
    assert await other.zcard("z") == 0
    assert await other.incr("n", ttl=10) == pytest.approx((1, 10), abs=0.05)
    assert await other.delete("k", "z") == 0
    assert await other.expire("k", 1) is False
    await other.set("k", b"theirs")
    assert await cache.get("k") == b"mine"
    assert await cache.zcard("z") == 1
    async with other.subscribe("ch") as theirs:
        assert await cache.publish("ch", b"x") == 0
        assert await other.publish("ch", b"y") == 1
        assert await _next(theirs) == ("ch", b"y")


async def test_caches_with_the_same_prefix_share_keys(cache: Cache, backend: Backend) -> None:
    # The counterpart of the isolation test: proves `other` really shares the backend.
    other = backend.open(backend.prefix)
    await cache.set("k", b"shared")
    assert await other.get("k") == b"shared"
    async with other.subscribe("ch") as messages:
        assert await cache.publish("ch", b"x") == 1
        assert await _next(messages) == ("ch", b"x")


async def test_ping_answers(cache: Cache) -> None:
    await cache.ping()  # raises when the backend does not answer


# -- redis only: what a real network adds ---------------------------------------


@pytest.mark.redis
async def test_redis_subscription_is_in_place_on_enter_and_gone_on_exit_over_a_slow_link(
    redis_url: str,
) -> None:
    if urlsplit(redis_url).scheme != "redis":
        pytest.skip("the relay speaks plain TCP only")
    prefix = _unique_prefix()
    publisher = RedisCache.from_url(redis_url, prefix=prefix)
    try:
        async with TcpRelay(redis_url, delay=0.1) as link:
            subscriber = RedisCache.from_url(link.url, prefix=prefix)
            try:
                async with subscriber.subscribe("ch") as messages:
                    assert await publisher.publish("ch", b"x") == 1
                    assert await _next(messages) == ("ch", b"x")
                assert await publisher.publish("ch", b"y") == 0
            finally:
                await subscriber.close()
    finally:
        await publisher.close()


# -- redis only: the feed's one-trip read on a pooled connection ------------------


async def _one_member_sets(cache: Cache, *names: str) -> list[ZRange]:
    for name in names:
        await cache.zadd(name, {f"{name}-member": 1.0})
    return [ZRange(name, -math.inf, math.inf) for name in names]


@pytest.mark.redis
async def test_redis_read_cancelled_mid_reply_leaves_no_reply_for_the_next(
    redis_url: str,
) -> None:
    if urlsplit(redis_url).scheme != "redis":
        pytest.skip("the relay speaks plain TCP only")
    prefix = _unique_prefix()
    async with TcpRelay(redis_url, delay=0.2) as link:
        # One connection: the next read gets the very connection the first one left.
        cache = RedisCache.from_url(link.url, prefix=prefix, max_connections=1)
        try:
            first, second = await _one_member_sets(cache, "first", "second")
            late = asyncio.create_task(cache.zread([first]))
            await asyncio.sleep(0.05)  # sent, its reply still on the way
            late.cancel()
            with pytest.raises(asyncio.CancelledError):
                await late
            assert (await cache.zread([second])).ranges == [[("second-member", 1.0)]]
        finally:
            await cache.delete("first", "second")
            await cache.close()


@pytest.mark.redis
async def test_redis_read_loads_its_script_when_the_server_lacks_it(redis_url: str) -> None:
    cache = RedisCache.from_url(redis_url, prefix=_unique_prefix())
    try:
        # A script of this test alone, so no other client has loaded it.
        unique = cache._client.register_script(f"return '{uuid.uuid4().hex}'")
        assert not (await cache._client.script_exists(unique.sha))[0]
        assert await cache._evalsha(unique, [], []) == unique.script[8:-1].encode()
    finally:
        await cache.close()


@pytest.mark.redis
async def test_redis_read_survives_a_dropped_connection(redis_url: str) -> None:
    cache = RedisCache.from_url(redis_url, prefix=_unique_prefix(), max_connections=1)
    admin = redis.asyncio.Redis.from_url(redis_url)
    try:
        (ranged,) = await _one_member_sets(cache, "kept")
        # The pool's one connection, closed by the server between two reads.
        await admin.client_kill_filter(_id=await cache._client.client_id())
        assert (await cache.zread([ranged])).ranges == [[("kept-member", 1.0)]]
    finally:
        await cache.delete("kept")
        await cache.close()
        await admin.aclose()


# -- construction ------------------------------------------------------------


async def test_create_cache_picks_the_implementation_by_scheme() -> None:
    memory = create_cache("memory://", prefix="p:")
    assert isinstance(memory, MemoryCache)
    assert memory.prefix == "p:"
    kinds: dict[str, type[RedisCache | RedisClusterCache]] = {
        "redis://127.0.0.1:6379/0": RedisCache,
        "rediss://cache.example.com:6379": RedisCache,
        "redis+cluster://127.0.0.1:7000": RedisClusterCache,
        "rediss+cluster://:t0k@cache.example.com:6379": RedisClusterCache,
    }
    for url, kind in kinds.items():
        remote = create_cache(url, prefix="p:", timeout=0.2)
        # Behind a timeout and a circuit breaker (DESIGN §8).
        assert isinstance(remote, GuardedCache)
        assert remote.timeout == 0.2
        assert isinstance(remote.inner, kind)
        assert remote.inner.prefix == "p:"
        assert isinstance(remote.counters, MemoryCache)
        await remote.close()  # nothing connected yet: pools and the cluster map are lazy


@pytest.mark.parametrize("url", ["memcached://host:11211", "redis+sentinel://host:26379", "x"])
def test_create_cache_refuses_other_schemes_naming_them(url: str) -> None:
    scheme = url.split("://")[0] if "://" in url else ""
    with pytest.raises(ValueError, match=re.escape(f"unsupported cache URL scheme '{scheme}'")):
        create_cache(url)


@pytest.mark.parametrize(
    "query",
    ["ssl_cert_reqs=none", "ssl_cert_reqs=optional", "ssl_check_hostname=false"],
)
def test_rediss_urls_must_verify_the_server(query: str) -> None:
    with pytest.raises(ValueError, match="verify"):
        RedisCache.from_url(f"rediss://:secret@cache.example.com:6379/0?{query}")
    with pytest.raises(ValueError, match="verify"):
        RedisClusterCache.from_url(f"rediss+cluster://:secret@cache.example.com:6379?{query}")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://127.0.0.1:6379/0", redis.asyncio.Connection),
        ("rediss://cache.example.com:6379/0", redis.asyncio.SSLConnection),
        ("unix:///run/redis.sock", redis.asyncio.UnixDomainSocketConnection),
    ],
)
async def test_connections_pack_commands_in_c_as_redis_py_would_in_python(
    url: str, kind: type[redis.asyncio.Connection]
) -> None:
    client = connect(url, timeout=0.2)
    try:
        made = client.connection_pool.connection_class
        # Still the kind of connection the URL asks for (TLS, a Unix socket).
        assert issubclass(made, kind)
        connection, python = made(), kind()
        command = ("CLIENT SETNAME", "x")  # two words in one: sent as two arguments
        script = ("EVALSHA", "ab" * 20, 2, "k:{1}", b"k:{2}", 1.5, 10**18, memoryview(b"v"))
        for args in (command, script):
            assert b"".join(connection.pack_command(*args)) == b"".join(python.pack_command(*args))
        # Packed by hiredis, not by the Python code of redis-py's asyncio connection.
        assert made.pack_command is not kind.pack_command
        with pytest.raises(redis.DataError):
            connection.pack_command("SET", "k", None)
    finally:
        await client.aclose()


async def test_ping_raises_when_redis_is_unreachable() -> None:
    cache = RedisCache.from_url("redis://127.0.0.1:1/0", timeout=1)
    try:
        with pytest.raises(redis.ConnectionError):
            await cache.ping()
    finally:
        await cache.close()


# -- memory only: what Redis does on the server --------------------------------


async def test_memory_subscriber_that_falls_behind_loses_the_oldest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = MemoryCache(store=MemoryStore(queue_size=3))
    async with cache.subscribe("ch") as messages:
        with caplog.at_level(logging.WARNING, logger="minifb.cache"):
            for i in range(5):
                # The publisher is never blocked by a slow subscriber.
                assert await cache.publish("ch", str(i).encode()) == 1
        assert [await _next(messages) for _ in range(3)] == [
            ("ch", b"2"),
            ("ch", b"3"),
            ("ch", b"4"),
        ]
    assert "not keeping up" in caplog.text


async def test_memory_frees_expired_keys_nobody_reads_again() -> None:
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    cache = MemoryCache("p:", store=store)
    for i in range(100):
        await cache.set(f"short{i}", b"v", ttl=1)
    await cache.set("long", b"v", ttl=100)
    await cache.incr("n", ttl=100)
    assert len(store) == 102
    now[0] += 2
    await cache.exists("long")  # any access sweeps, not only one of the expired keys
    assert len(store) == 2
    # Re-setting a key's expiry over and over must not grow the bookkeeping either.
    for _ in range(1000):
        await cache.expire("long", 100)
    assert len(store._heap) <= 2 * len(store.deadlines) + 64
