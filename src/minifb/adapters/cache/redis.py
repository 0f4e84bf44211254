"""The cache on a Redis server (or ElastiCache / Valkey) through redis-py's asyncio client,
and the commands it shares with the cache on a Redis Cluster (redis_cluster.py)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.commands.core import AsyncScript
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

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
from minifb.adapters.cache.redis_pubsub import RedisSubscription

# zread in one round trip. KEYS are the sorted sets, one per range; ARGV holds
# five arguments per range (min, max, reverse, offset, count; -1 is "all"),
# then the index (1-based, 0 for none) of the range whose members name the
# values to MGET, and (prefix, suffix) pairs, each turning a member into a key.
# The value keys are not declared in KEYS: fine on one server; on a cluster the
# index is 0 and the values are read apart (redis_cluster.py).
_ZREAD = """
local out = {}
local a = 1
for i = 1, #KEYS do
  local lo, hi, off, count = ARGV[a], ARGV[a + 1], ARGV[a + 3], ARGV[a + 4]
  if ARGV[a + 2] == '1' then
    out[i] = redis.call('ZRANGE', KEYS[i], hi, lo, 'BYSCORE', 'REV', 'LIMIT', off, count,
                        'WITHSCORES')
  else
    out[i] = redis.call('ZRANGE', KEYS[i], lo, hi, 'BYSCORE', 'LIMIT', off, count, 'WITHSCORES')
  end
  a = a + 5
end
local which = tonumber(ARGV[a])
if which > 0 then
  local rows, keys = out[which], {}
  for j = 1, #rows, 2 do
    for t = a + 1, #ARGV, 2 do
      keys[#keys + 1] = ARGV[t] .. rows[j] .. ARGV[t + 1]
    end
  end
  if #keys > 0 then
    out[#KEYS + 1] = redis.call('MGET', unpack(keys))
  else
    out[#KEYS + 1] = {}
  end
end
return out
"""

# set_many in one script: all or none, like MULTI, at the client cost of one command.
# ARGV[1] is the TTL in milliseconds ("" for none), then one value per key.
_SET_MANY = """
for i = 1, #KEYS do
  if ARGV[1] == '' then
    redis.call('SET', KEYS[i], ARGV[i + 1])
  else
    redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[1])
  end
end
return #KEYS
"""

# zadd_many in one script: each key's members added, then the key cut to its newest
# `keep` if ARGV[1] is not "". ARGV[2] is the number n of distinct (score, member)
# pairs, the n pairs follow, then for each key the numbers (from 1) of its pairs,
# separated by spaces. One reply instead of two per key: the client's cost of a reply,
# not Redis's work, is what a fan-out of thousands of keys spends; and a fan-out adds
# each post to many feeds, so each pair is sent once, not once a feed.
_ZADD_MANY = """
local n = tonumber(ARGV[2])
for i = 1, #KEYS do
  local pairs = {}
  for number in string.gmatch(ARGV[2 + 2 * n + i], '%d+') do
    local at = 1 + 2 * tonumber(number)
    pairs[#pairs + 1] = ARGV[at]
    pairs[#pairs + 1] = ARGV[at + 1]
  end
  redis.call('ZADD', KEYS[i], unpack(pairs))
  if ARGV[1] ~= '' then
    redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(tonumber(ARGV[1]) + 1))
  end
end
return #KEYS
"""

# Keys per pipeline or script call in zadd_many: bounds the buffers of one round trip
# and how long one script holds the server.
_FANOUT_CHUNK = 1000


def _score_arg(score: float) -> str:
    # repr keeps every bit of the float; Redis parses "inf" and "-inf" too.
    return repr(score)


def zread_range_args(zrange: ZRange) -> list[str | int]:
    """One range's five ARGV entries for the zread script (validated first)."""
    low, high = check_range(zrange)
    count = -1 if zrange.limit is None else zrange.limit
    return [_score_arg(low), _score_arg(high), int(zrange.reverse), zrange.offset, count]


def zread_pairs(rows: Sequence[bytes]) -> list[tuple[str, float]]:
    """One range of the zread script's reply as (member, score) pairs."""
    return [(rows[j].decode(), float(rows[j + 1])) for j in range(0, len(rows), 2)]


_TRUE_STRINGS = frozenset({"1", "T", "TRUE", "Y", "YES"})

ClientT = TypeVar("ClientT", Redis, RedisCluster)


class RedisCommands(ABC, Generic[ClientT]):
    """What a cache sends alike to one Redis server and to a Redis Cluster.

    Each command here names one key, which a cluster client routes to the node
    serving it, or goes through a pipeline or DEL, which it splits by slot.
    The subclasses add what differs: the scripts, reading and writing several
    values at once, and pub/sub. The cache owns `client`: `close()` closes it.
    The client must not decode responses, since values are bytes.
    """

    def __init__(self, client: ClientT, prefix: str) -> None:
        if isinstance(client, Redis):
            options = client.connection_pool.connection_kwargs
        else:
            options = client.get_connection_kwargs()
        if options.get("decode_responses"):
            raise ValueError(f"{type(self).__name__} needs a client with decode_responses=False")
        self._client: ClientT = client
        self.prefix = prefix
        self._prefix_bytes = prefix.encode()
        # EVALSHA, loading the script again if the server lost it (restart, FLUSH).
        self._zread_script = client.register_script(_ZREAD)

    def _k(self, key: str) -> str:
        return self.prefix + key

    async def get(self, key: str) -> bytes | None:
        # Bytes, never str: __init__ refused clients that decode responses.
        return cast(bytes | None, await self._client.get(self._k(key)))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []  # MGET with no keys is a syntax error
        return cast(list[bytes | None], await self._mget([self._k(key) for key in keys]))

    @abstractmethod
    async def _mget(self, names: list[str]) -> list[Any]:
        """The values at `names` (prefixed, at least one), in order."""

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        check_bytes(value)
        px = None if ttl is None else ttl_to_ms(ttl)
        await self._client.set(self._k(key), value, px=px)

    async def set_many(self, items: Mapping[str, bytes], *, ttl: float | None = None) -> None:
        px = None if ttl is None else ttl_to_ms(ttl)
        for value in items.values():
            check_bytes(value)
        if items:
            await self._set_all({self._k(key): value for key, value in items.items()}, px)

    @abstractmethod
    async def _set_all(self, items: dict[str, bytes], px: int | None) -> None:
        """SET every item (prefixed names, at least one), expiring in `px` ms when given."""

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        # On a cluster the client sends one DEL per slot and adds up the counts.
        removed: int = await self._client.delete(*(self._k(key) for key in keys))
        return removed

    async def incr(self, key: str, amount: int = 1, *, ttl: float) -> tuple[int, float]:
        ms = ttl_to_ms(ttl)
        name = self._k(key)
        # One MULTI: no other client's command lands between these three, and
        # PEXPIRE NX only sets an expiry when the key has none (i.e. INCRBY just
        # created it), so the window is fixed and later calls never extend it.
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incrby(name, amount)
            pipe.pexpire(name, ms, nx=True)
            pipe.pttl(name)
            value, _, remaining_ms = await pipe.execute()
        return int(value), max(int(remaining_ms), 0) / 1000

    async def zadd(self, key: str, members: Mapping[str, float]) -> int:
        scores = {member: check_score(score) for member, score in members.items()}
        if not scores:
            return 0  # ZADD with no members is a syntax error
        # An int: the annotation allows for ZADD INCR, which we never send.
        return int(await self._client.zadd(self._k(key), scores) or 0)

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
        # redis-py sends LIMIT only with both parts; a count of -1 means "all the rest".
        start, num = (None, None) if offset == 0 and limit is None else (offset, limit)
        if start is not None and num is None:
            num = -1
        name = self._k(key)
        if reverse:
            rows = await self._client.zrevrangebyscore(
                name, high, low, start=start, num=num, withscores=True
            )
        else:
            rows = await self._client.zrangebyscore(
                name, low, high, start=start, num=num, withscores=True
            )
        pairs = cast(list[tuple[bytes, float]], rows)  # withscores=True, no decoding
        return [(member.decode(), float(score)) for member, score in pairs]

    def _zread_templates(
        self, ranges: Sequence[ZRange], values_of: int | None, value_keys: Sequence[str]
    ) -> list[tuple[str, str]]:
        """`zread`'s arguments checked; its value-key templates as (prefix + head, tail)."""
        templates = split_value_keys(value_keys)
        if values_of is not None and not 0 <= values_of < len(ranges):
            raise IndexError(f"values_of {values_of} is not a range index")
        return [(self.prefix + head, tail) for head, tail in templates]

    async def zadd_many(
        self, items: Mapping[str, Mapping[str, float]], *, keep: int | None = None
    ) -> None:
        if keep is not None:
            check_keep(keep)
        checked = [(self._k(key), members) for key, members in items.items() if members]
        # Every score checked before anything is written; a fan-out repeats a few.
        for score in {score for _, members in checked for score in members.values()}:
            check_score(score)
        for start in range(0, len(checked), _FANOUT_CHUNK):
            await self._zadd_chunk(checked[start : start + _FANOUT_CHUNK], keep)

    async def _zadd_chunk(
        self, chunk: list[tuple[str, Mapping[str, float]]], keep: int | None
    ) -> None:
        """Add the members of each (prefixed) key, cutting it to `keep`: in one pipeline,
        which on a cluster sends each node its own commands, the nodes in parallel."""
        async with self._client.pipeline(transaction=False) as pipe:
            for name, members in chunk:
                pipe.zadd(name, members)
                if keep is not None:
                    pipe.zremrangebyrank(name, 0, -(keep + 1))
            await pipe.execute()

    async def zrem(self, key: str, *members: str) -> int:
        if not members:
            return 0
        removed: int = await self._client.zrem(self._k(key), *members)
        return removed

    async def ztrim(self, key: str, keep: int) -> int:
        check_keep(keep)
        # Ranks count from the lowest score: drop everything below the top `keep`.
        removed: int = await self._client.zremrangebyrank(self._k(key), 0, -(keep + 1))
        return removed

    async def zcard(self, key: str) -> int:
        count: int = await self._client.zcard(self._k(key))
        return count

    async def zscore(self, key: str, member: str) -> float | None:
        score: float | None = await self._client.zscore(self._k(key), member)
        return score

    async def expire(self, key: str, ttl: float) -> bool:
        return bool(await self._client.pexpire(self._k(key), ttl_to_ms(ttl)))

    async def exists(self, key: str) -> bool:
        return bool(await self._client.exists(self._k(key)))

    def _channels(self, channels: Sequence[str]) -> tuple[bytes, ...]:
        if not channels:
            raise ValueError("subscribe needs at least one channel")
        return tuple(dict.fromkeys(self._k(channel).encode() for channel in channels))

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()


class RedisCache(RedisCommands[Redis]):
    """A `Cache` on a Redis server, shared by every process that uses the same prefix."""

    def __init__(self, client: Redis, prefix: str) -> None:
        super().__init__(client, prefix)
        self._set_many_script = client.register_script(_SET_MANY)
        self._zadd_many_script = client.register_script(_ZADD_MANY)

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "", max_connections: int = 64, timeout: float = 5.0
    ) -> RedisCache:
        """A cache on the server at `url` (`redis://` or `rediss://`, TLS verified);
        the client is `connect`'s."""
        return cls(connect(url, max_connections=max_connections, timeout=timeout), prefix)

    async def _evalsha(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA on a pooled connection, without the client's per-command layers.

        The feed reads through here on every request, and the client's command
        wrapper, retry helper and script object were a third of that call's
        time. What they did for it is kept: the script is loaded when the
        server lacks it, a dropped connection is retried once on a fresh one,
        and a connection whose reply may still be on its way (an error or a
        cancellation mid-call) is closed, never handed to the next caller.
        """
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self._on_pooled_connection(command, script.script)
        except RedisConnectionError:
            return await self._on_pooled_connection(command, script.script)

    async def _on_pooled_connection(self, command: tuple[Any, ...], source: Any) -> Any:
        pool = self._client.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            try:
                await conn.send_command(*command)
                return await conn.read_response()
            except NoScriptError:
                # A restarted or flushed server: load the script, then run it again.
                await conn.send_command("SCRIPT", "LOAD", source)
                await conn.read_response()
                await conn.send_command(*command)
                return await conn.read_response()
        except ResponseError:
            raise  # a whole error reply was read: the connection can serve again
        except BaseException:
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)

    async def _mget(self, names: list[str]) -> list[Any]:
        return await self._client.mget(names)

    async def _zadd_chunk(
        self, chunk: list[tuple[str, Mapping[str, float]]], keep: int | None
    ) -> None:
        # One server, so one script call for the chunk (`_ZADD_MANY`).
        numbers: dict[tuple[str, float], str] = {}
        per_key = []
        for _, members in chunk:
            per_key.append(
                " ".join(
                    numbers.setdefault(pair, str(len(numbers) + 1)) for pair in members.items()
                )
            )
        args: list[str | int] = ["" if keep is None else keep, len(numbers)]
        for member, score in numbers:
            args += [_score_arg(score), member]
        args += per_key
        await self._evalsha(self._zadd_many_script, [name for name, _ in chunk], args)

    async def _set_all(self, items: dict[str, bytes], px: int | None) -> None:
        keys = list(items)
        await self._evalsha(
            self._set_many_script, keys, ["" if px is None else px, *items.values()]
        )

    async def zread(
        self,
        ranges: Sequence[ZRange],
        *,
        values_of: int | None = None,
        value_keys: Sequence[str] = ("{}",),
    ) -> ZRead:
        templates = self._zread_templates(ranges, values_of, value_keys)
        if not ranges:
            return ZRead([])
        args = [arg for zrange in ranges for arg in zread_range_args(zrange)]
        args.append(0 if values_of is None else values_of + 1)
        for head, tail in templates:
            args += [head, tail]
        keys = [self._k(zrange.key) for zrange in ranges]
        reply = await self._evalsha(self._zread_script, keys, args)
        found = [zread_pairs(rows) for rows in reply[: len(ranges)]]
        if values_of is None:
            return ZRead(found)
        return ZRead(found, cast(list[bytes | None], reply[len(ranges)]))

    async def publish(self, channel: str, message: bytes) -> int:
        check_bytes(message)
        receivers: int = await self._client.publish(self._k(channel), message)
        return receivers

    def subscribe(self, *channels: str) -> RedisSubscription:
        names = self._channels(channels)
        return RedisSubscription(self._client.pubsub(), names, self._prefix_bytes)


def connect(url: str, *, max_connections: int = 64, timeout: float = 5.0) -> Redis:
    """A client of the server at `url` (`redis://` or `rediss://`, TLS verified).

    At most `max_connections` connections are opened (subscriptions hold
    one each while open); a caller finding none free waits up to `timeout`
    seconds, which also bounds connecting and each reply.
    """
    options: dict[str, Any] = {}
    if urlsplit(url).scheme == "rediss":
        refuse_unverified_tls(url)
        options.update(ssl_cert_reqs="required", ssl_check_hostname=True)
    # Blocking: under load callers wait for a free connection instead of
    # failing with "Too many connections" as a plain ConnectionPool does.
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        **options,
    )
    # The class the URL chose (plain, TLS or a Unix socket), packing in C; set
    # after from_url because the URL's choice overrides a keyword there.
    pool.connection_class = packing_in_c(pool.connection_class)
    # from_pool: closing the client closes the pool as well.
    return Redis.from_pool(pool)


class _HiredisPacking(AbstractConnection):
    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = self._packer.pack(*args)
        return packed


def packing_in_c(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """`connection_class` packing commands with hiredis, as redis-py's synchronous
    client does; its asyncio client packs them in Python, argument by argument:
    a tenth of the feed worker's time went to packing the fan-out's large script
    calls, and hiredis packs such a call (10,000 arguments) four times faster."""
    return type(connection_class.__name__, (_HiredisPacking, connection_class), {})


def refuse_unverified_tls(url: str) -> None:
    # Query options override keyword arguments in redis-py's from_url, so a
    # URL could switch certificate checks off behind our back: refuse it.
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    if any(value != "required" for value in query.get("ssl_cert_reqs", [])):
        raise ValueError("TLS cache URLs must verify certificates (ssl_cert_reqs=required)")
    hostname_checks = query.get("ssl_check_hostname", [])
    if any(value.strip().upper() not in _TRUE_STRINGS for value in hostname_checks):
        raise ValueError("TLS cache URLs must verify the host name (ssl_check_hostname)")
