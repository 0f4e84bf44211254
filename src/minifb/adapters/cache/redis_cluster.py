"""The cache on a Redis Cluster (ElastiCache cluster mode) through redis-py's cluster client.

A cluster splits keys into 16384 hash slots spread over its nodes, and every
command or script must keep its keys in one slot. A key's slot is hashed from
its hash tag, the part between the first `{` and the next `}`, when it has one:
callers that read several keys together tag them alike (`feed:{u123}` and
`feed:{u123}:big` share a slot). The prefix comes first in every key, so it
must hold no brace, or it would become every key's tag.

What differs from one server (docs/decisions/0107-redis-cluster.md):
- `get_many`, `set_many` and `delete` group their keys by slot: one command per
  slot, sent in one pipeline that reaches each node once, the nodes in parallel.
- `zread` runs its script once per slot its ranges fall in (once for a feed),
  then reads the values the members name as `get_many` does: two round trips
  where one server takes one.
- `publish` goes to the node serving the channel's slot, and a subscription
  listens there, so the count of receivers `PUBLISH` returns (a node counts
  only its own subscribers) is the whole count.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ClusterError, NoScriptError, RedisClusterException, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from minifb.adapters.cache.base import ZRange, ZRead, check_bytes
from minifb.adapters.cache.redis import (
    RedisCommands,
    refuse_unverified_tls,
    zread_pairs,
    zread_range_args,
)
from minifb.adapters.cache.redis_pubsub import MergedSubscription, RedisSubscription

SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

OUTAGES: tuple[type[BaseException], ...] = (
    RedisConnectionError,  # MaxConnectionsError too, though permits keep it away
    RedisTimeoutError,
    ClusterError,  # CLUSTERDOWN, or redirections that never settle (a failover)
    SlotNotCoveredError,  # a slot no node serves
)
"""What the cluster client raises when the cluster cannot answer: `GuardedCache`'s outages."""

T = TypeVar("T")

# Set while a task holds a permit, so that what the client does inside one
# operation (a pipeline's redirected commands) does not wait for a second.
_HOLDING = contextvars.ContextVar("minifb_cluster_permit", default=False)


class _Client(RedisCluster):
    """redis-py's cluster client, with the two things a cache in front of it needs.

    - An unreachable cluster raises a `ConnectionError`: the client says so with
      a `RedisClusterException`, which it also raises for bugs, and only the
      first is an outage.
    - A node's connections are capped, and a caller finding none free gets an
      error at once; here it waits for one of `permits` first, as a blocking
      pool does, so a burst of requests queues instead of looking like an outage.
    """

    def __init__(self, *args: Any, permits: int, wait: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._permits = asyncio.Semaphore(permits)
        self._wait = wait

    async def initialize(self, *args: Any, **kwargs: Any) -> _Client:
        try:
            await super().initialize(*args, **kwargs)
        except RedisClusterException as exc:
            # No node answered CLUSTER SLOTS, or they did not agree on who serves what.
            raise RedisConnectionError(f"the Redis Cluster cannot be reached: {exc}") from exc
        return self

    async def with_permit(self, call: Callable[[], Awaitable[T]]) -> T:
        if _HOLDING.get():
            return await call()
        try:
            async with asyncio.timeout(self._wait):
                await self._permits.acquire()
        except TimeoutError:
            raise RedisConnectionError("no Redis Cluster connection free") from None
        token = _HOLDING.set(True)
        try:
            return await call()
        finally:
            _HOLDING.reset(token)
            self._permits.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return await self.with_permit(lambda: super(_Client, self).execute_command(*args, **kwargs))

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> _Pipeline:
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        return _Pipeline(self, transaction)  # type: ignore[abstract] # as RedisCluster does


class _Pipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        client = cast(_Client, self.cluster_client)
        return await client.with_permit(
            lambda: ClusterPipeline.execute(self, raise_on_error, allow_redirections)
        )


def connect(url: str, *, max_connections: int = 64, timeout: float = 5.0) -> RedisCluster:
    """A client of the cluster that the node at `url` belongs to (see `RedisClusterCache`)."""
    parts = urlsplit(url)
    scheme = SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ValueError("Redis Cluster cache URLs start redis+cluster:// or rediss+cluster://")
    if parts.path.strip("/") not in ("", "0"):
        raise ValueError("a Redis Cluster has one database: its URL names none (or /0)")
    options: dict[str, Any] = {}
    if scheme == "rediss":
        refuse_unverified_tls(url)
        options.update(ssl_cert_reqs="required", ssl_check_hostname=True)
    return _Client.from_url(
        urlunsplit(parts._replace(scheme=scheme)),
        permits=max_connections,
        wait=timeout,
        max_connections=2 * max_connections,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        **options,
    )


class RedisClusterCache(RedisCommands[RedisCluster]):
    """A `Cache` on a Redis Cluster, shared by every process that uses the same prefix."""

    def __init__(self, client: RedisCluster, prefix: str) -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError(
                f"a Redis Cluster cache prefix must hold no '{{' or '}}', got {prefix!r}: "
                "it would become every key's hash tag"
            )
        super().__init__(client, prefix)

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "", max_connections: int = 64, timeout: float = 5.0
    ) -> RedisClusterCache:
        """A cache on the cluster that the node at `url` belongs to.

        `redis+cluster://` or `rediss+cluster://` (TLS, certificates and host
        names verified); the URL names any one node (ElastiCache: the
        configuration endpoint), the client learns the others from it. At
        most `max_connections` operations run at once, each waiting up to
        `timeout` seconds for its turn; `timeout` also bounds connecting and
        each reply. A node keeps as many connections again for subscriptions.
        """
        return cls(connect(url, max_connections=max_connections, timeout=timeout), prefix)

    def _slot(self, name: str) -> int:
        return self._client.keyslot(name)

    async def _node(self, name: str) -> ClusterNode:
        await self._client.initialize()  # the slot map, learnt once
        node = self._client.get_node_from_key(name)
        if node is None:  # pragma: no cover - only asked of replicas
            raise SlotNotCoveredError(f"no node serves the slot of {name!r}")
        return node

    async def _evalsha(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA on the node serving the keys' slot, EVAL where it lacks the script.

        EVAL also caches the script on that node, so the next EVALSHA finds it.
        """
        try:
            return await self._client.execute_command(
                "EVALSHA", script.sha, len(keys), *keys, *args
            )
        except NoScriptError:
            return await self._client.execute_command(
                "EVAL", script.script, len(keys), *keys, *args
            )

    async def _mget(self, names: list[str]) -> list[Any]:
        # One MGET per slot, in one pipeline: each node once, the nodes in parallel.
        return await self._client.mget_nonatomic(names)

    async def _set_all(self, items: dict[str, bytes], px: int | None) -> None:
        # Each SET is atomic, the lot is not: nothing spanning slots can be.
        async with self._client.pipeline(transaction=False) as pipe:
            for name, value in items.items():
                pipe.set(name, value, px=px)
            await pipe.execute()

    async def zread(
        self,
        ranges: Sequence[ZRange],
        *,
        values_of: int | None = None,
        value_keys: Sequence[str] = ("{}",),
    ) -> ZRead:
        templates = self._zread_templates(ranges, values_of, value_keys)
        args = [zread_range_args(zrange) for zrange in ranges]
        by_slot: dict[int, list[int]] = {}
        for index, zrange in enumerate(ranges):
            by_slot.setdefault(self._slot(self._k(zrange.key)), []).append(index)
        # One script call per slot (a feed's ranges share one), the slots in parallel.
        replies = await asyncio.gather(
            *(
                self._evalsha(
                    self._zread_script,
                    [self._k(ranges[i].key) for i in indexes],
                    [*(arg for i in indexes for arg in args[i]), 0],
                )
                for indexes in by_slot.values()
            )
        )
        found: list[list[tuple[str, float]]] = [[] for _ in ranges]
        for indexes, reply in zip(by_slot.values(), replies, strict=True):
            for index, rows in zip(indexes, reply, strict=True):
                found[index] = zread_pairs(rows)
        if values_of is None:
            return ZRead(found)
        names = [
            f"{head}{member}{tail}" for member, _ in found[values_of] for head, tail in templates
        ]
        values = await self._mget(names) if names else []
        return ZRead(found, cast(list[bytes | None], values))

    async def publish(self, channel: str, message: bytes) -> int:
        check_bytes(message)
        name = self._k(channel)
        node = await self._node(name)
        receivers: int = await self._client.publish(name, message, target_nodes=node)
        return receivers

    def subscribe(self, *channels: str) -> _ClusterSubscription:
        return _ClusterSubscription(self, self._channels(channels))

    async def ping(self) -> None:
        # Every primary: each serves its share of the keys.
        await self._client.ping(target_nodes=RedisCluster.PRIMARIES)


class _ClusterSubscription:
    """Each channel subscribed on the node serving its slot, one connection per node."""

    def __init__(self, cache: RedisClusterCache, channels: tuple[bytes, ...]) -> None:
        self._cache = cache
        self._channels = channels
        self._inner: RedisSubscription | MergedSubscription | None = None

    async def __aenter__(self) -> RedisSubscription | MergedSubscription:
        cache = self._cache
        by_node: dict[str, tuple[ClusterNode, list[bytes]]] = {}
        for channel in self._channels:
            node = await cache._node(channel.decode())
            by_node.setdefault(node.name, (node, []))[1].append(channel)
        parts = [
            RedisSubscription(cache._client.pubsub(node=node), tuple(names), cache._prefix_bytes)
            for node, names in by_node.values()
        ]
        self._inner = parts[0] if len(parts) == 1 else MergedSubscription(parts)
        return await self._inner.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._inner is not None
        await self._inner.__aexit__(*exc_info)
