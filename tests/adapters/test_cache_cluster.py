"""What a Redis Cluster adds to the cache contract (which test_cache.py runs on it too).

Hash slots: a person's feed keys share one, and the feed's read runs its
script once; pub/sub across nodes; a burst of callers waits for connections;
an unreachable cluster is an outage; TLS is verified. Each test writes under a
prefix of its own on the session's cluster and deletes those keys afterwards.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from minifb.adapters.cache import GuardedCache, RedisClusterCache, create_cache
from minifb.adapters.cache.base import ZRange
from minifb.adapters.resilience import Unavailable
from minifb.kit.ids import MAX_SCORE
from minifb.posts import feed, rendering
from tests.fixtures.redis_cluster import RedisCluster, redis_cluster
from tests.fixtures.redis_server import free_port

__all__ = ["redis_cluster"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.redis


@pytest.fixture
async def prefix(redis_cluster: RedisCluster) -> AsyncIterator[str]:
    prefix = f"minifb-test:cluster:{uuid.uuid4().hex}:"
    yield prefix
    await redis_cluster.delete_prefixed(prefix)


@pytest.fixture
async def cache(redis_cluster: RedisCluster, prefix: str) -> AsyncIterator[RedisClusterCache]:
    cache = RedisClusterCache.from_url(redis_cluster.url, prefix=prefix)
    yield cache
    await cache.close()


async def _nodes_of(cache: RedisClusterCache, *keys: str) -> set[str]:
    return {(await cache._node(cache.prefix + key)).name for key in keys}


async def _next(messages: AsyncIterator[tuple[str, bytes]]) -> tuple[str, bytes]:
    async with asyncio.timeout(2):
        return await anext(messages)


# -- hash slots -------------------------------------------------------------------


async def test_a_person_s_feed_keys_and_a_post_s_keys_each_share_a_slot(
    cache: RedisClusterCache,
) -> None:
    person = [feed.feed_key(123), feed.big_followed_key(123)]
    post = rendering.post_keys(456)
    assert len({cache._slot(cache._k(key)) for key in person}) == 1
    assert len({cache._slot(cache._k(key)) for key in post}) == 1
    # Other people's feeds spread over the cluster instead of all landing in one slot.
    assert len({cache._slot(cache._k(feed.feed_key(i))) for i in range(50)}) > 40


async def test_the_feed_read_runs_one_script_call_and_fetches_posts_from_every_node(
    cache: RedisClusterCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts = list(range(1, 41))
    await cache.zadd(feed.feed_key(7), {str(p): p for p in posts} | {feed.COMPLETE: math.inf})
    await cache.zadd(feed.big_followed_key(7), {"99": 1})
    await cache.set_many({key: f"{key}!".encode() for p in posts for key in rendering.post_keys(p)})
    assert len(await _nodes_of(cache, *(rendering.post_keys(p)[0] for p in posts))) == 3
    calls: list[list[str]] = []
    script_call = cache._evalsha

    async def counted(script: Any, keys: list[str], args: list[Any]) -> Any:
        calls.append(keys)
        return await script_call(script, keys, args)

    monkeypatch.setattr(cache, "_evalsha", counted)
    ranges = [  # what posts/feed.py `_read` asks for a first page
        ZRange(feed.feed_key(7), max=MAX_SCORE, reverse=True, limit=21),
        ZRange(feed.feed_key(7), min=math.inf),
        ZRange(feed.big_followed_key(7), limit=100),
    ]
    value_keys = [key.format(id="{}") for key in rendering.CACHE_KEYS]
    found = await cache.zread(ranges, values_of=0, value_keys=value_keys)
    assert len(calls) == 1
    newest = list(reversed(posts))[:21]
    assert found.ranges == [
        [(str(p), float(p)) for p in newest],
        [(feed.COMPLETE, math.inf)],
        [("99", 1.0)],
    ]
    assert found.values == [f"{key}!".encode() for p in newest for key in rendering.post_keys(p)]


@pytest.mark.parametrize("prefix_", ["{tenant}:", "minifb}", "a{b"])
def test_a_prefix_with_a_brace_is_refused(redis_cluster: RedisCluster, prefix_: str) -> None:
    with pytest.raises(ValueError, match="hash tag"):
        RedisClusterCache.from_url(redis_cluster.url, prefix=prefix_)


# -- pub/sub ------------------------------------------------------------------------


async def test_a_subscription_on_channels_of_several_nodes_hears_and_counts_each(
    cache: RedisClusterCache,
) -> None:
    channels = [f"ch{i}" for i in range(30)]
    by_node: dict[str, str] = {}
    for channel in channels:
        by_node.setdefault(next(iter(await _nodes_of(cache, channel))), channel)
    assert len(by_node) == 3
    names = list(by_node.values())
    async with cache.subscribe(*names) as messages:
        for name in names:
            assert await cache.publish(name, name.encode()) == 1
        assert sorted([await _next(messages) for _ in names]) == sorted(
            (name, name.encode()) for name in names
        )
        # One node's subscriber keeps reading while the others have nothing.
        for _ in range(3):
            assert await cache.publish(names[1], b"again") == 1
            assert await _next(messages) == (names[1], b"again")
    for name in names:
        assert await cache.publish(name, b"late") == 0


async def test_a_subscriber_on_another_cache_of_the_prefix_hears_the_publisher(
    redis_cluster: RedisCluster, cache: RedisClusterCache, prefix: str
) -> None:
    other = RedisClusterCache.from_url(redis_cluster.url, prefix=prefix)
    try:
        async with other.subscribe("news") as messages:
            assert await cache.publish("news", b"hello") == 1
            assert await _next(messages) == ("news", b"hello")
    finally:
        await other.close()


# -- connections and outages --------------------------------------------------------


async def test_a_burst_of_callers_waits_for_connections_instead_of_failing(
    redis_cluster: RedisCluster, prefix: str
) -> None:
    cache = RedisClusterCache.from_url(redis_cluster.url, prefix=prefix, max_connections=2)
    try:
        await cache.set("k", b"v")
        keys = [f"k{i}" for i in range(30)]
        calls = [cache.get("k") for _ in range(50)]
        calls += [cache.incr("n", ttl=10) for _ in range(20)]
        calls += [cache.get_many(keys) for _ in range(20)]
        results = await asyncio.gather(*calls)
        assert results[:50] == [b"v"] * 50
        assert sorted(value for value, _ in results[50:70]) == list(range(1, 21))
        assert results[70:] == [[None] * 30] * 20
    finally:
        await cache.close()


async def test_an_unreachable_cluster_is_an_outage_and_counters_stay_in_process() -> None:
    cache = create_cache(f"redis+cluster://127.0.0.1:{free_port()}", prefix="p:", timeout=2)
    assert isinstance(cache, GuardedCache)
    try:
        with pytest.raises(Unavailable):
            await cache.get("k")
        with pytest.raises(Unavailable):
            await cache.zread([ZRange("z")], values_of=0)
        assert (await cache.incr("n", ttl=10))[0] == 1
        with pytest.raises(Unavailable):
            await cache.ping()
    finally:
        await cache.close()


# -- TLS ------------------------------------------------------------------------------


async def test_tls_reaches_every_node_with_the_certificate_verified(
    redis_cluster: RedisCluster, prefix: str
) -> None:
    url = f"rediss+cluster://:{redis_cluster.password}@{redis_cluster.tls_endpoint}"
    trusted = RedisClusterCache.from_url(
        f"{url}?ssl_ca_certs={redis_cluster.ca_file}", prefix=prefix
    )
    try:
        items = {f"k{i}": str(i).encode() for i in range(60)}
        await trusted.set_many(items)
        assert len(await _nodes_of(trusted, *items)) == 3
        assert await trusted.get_many(list(items)) == list(items.values())
    finally:
        await trusted.close()
    # Without the CA the certificate is refused: verification is on.
    untrusted = RedisClusterCache.from_url(url, prefix=prefix, timeout=2)
    try:
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            await untrusted.get("k0")
    finally:
        await untrusted.close()
