"""Redis subscriptions: one pub/sub connection, or several read as one (a cluster's nodes)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger("minifb.cache")


class RedisSubscription:
    """One pub/sub connection, subscribed on enter and released on exit."""

    def __init__(
        self, pubsub: PubSub, channels: tuple[bytes, ...], prefix: bytes, timeout: float = 5.0
    ) -> None:
        self._pubsub = pubsub
        self._channels = channels
        self._prefix_len = len(prefix)
        self._timeout = timeout
        # Messages that arrived while we waited for the subscribe confirmations.
        self._early: deque[tuple[str, bytes]] = deque()
        self._closed = False

    async def __aenter__(self) -> RedisSubscription:
        try:
            await self._pubsub.subscribe(*self._channels)
            # SUBSCRIBE only takes effect when the server has read it; waiting
            # for its confirmations guarantees a PUBLISH sent after we return,
            # on any connection, reaches us.
            waiting = set(self._channels)
            async with asyncio.timeout(self._timeout):
                while waiting:
                    message = await self._pubsub.get_message(timeout=None)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        waiting.discard(message["channel"])
                    elif message["type"] == "message":
                        self._early.append(self._decode(message))
        except BaseException:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        try:
            # Closing the connection alone would also unsubscribe, but only once
            # the server notices; unsubscribing first means a publish right after
            # we return no longer counts us. Skipped when cancelled or when the
            # connection is gone: it would only reconnect to unsubscribe.
            connection = self._pubsub.connection
            if (
                (exc_type is None or issubclass(exc_type, Exception))
                and connection is not None
                and connection.is_connected
            ):
                await self._pubsub.unsubscribe()
                async with asyncio.timeout(self._timeout):
                    while self._pubsub.subscribed:
                        await self._pubsub.get_message(timeout=None)
        except (RedisError, OSError) as error:  # TimeoutError is an OSError
            log.warning("cache unsubscribe failed, closing the connection: %r", error)
        finally:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    def __aiter__(self) -> RedisSubscription:
        return self

    async def __anext__(self) -> tuple[str, bytes]:
        if self._early and not self._closed:
            return self._early.popleft()
        while not self._closed:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            if message is not None and message["type"] == "message":
                return self._decode(message)
        raise StopAsyncIteration

    def _decode(self, message: dict[str, Any]) -> tuple[str, bytes]:
        channel: bytes = message["channel"]
        data: bytes = message["data"]
        return channel[self._prefix_len :].decode(), data


class MergedSubscription:
    """Several subscriptions entered together and read as one stream.

    A message is yielded as soon as any part has one; when several have, the
    part listed first goes first. Leaving the block leaves every part.
    """

    def __init__(self, parts: list[RedisSubscription]) -> None:
        self._parts = parts
        self._stack = AsyncExitStack()
        self._reads: dict[int, asyncio.Task[tuple[str, bytes]]] = {}

    async def __aenter__(self) -> MergedSubscription:
        async with AsyncExitStack() as stack:
            for part in self._parts:
                await stack.enter_async_context(part)
            self._stack = stack.pop_all()  # entered them all: keep them open
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        reads, self._reads = list(self._reads.values()), {}
        for read in reads:
            read.cancel()
        await asyncio.gather(*reads, return_exceptions=True)
        await self._stack.__aexit__(exc_type, exc, tb)

    def __aiter__(self) -> MergedSubscription:
        return self

    async def __anext__(self) -> tuple[str, bytes]:
        for index, part in enumerate(self._parts):
            if index not in self._reads:
                # A read outlives a cancelled wait (a caller's timeout): the
                # next call picks up its message instead of losing it.
                self._reads[index] = asyncio.create_task(part.__anext__())
        await asyncio.wait(self._reads.values(), return_when=asyncio.FIRST_COMPLETED)
        for index in sorted(self._reads):
            read = self._reads[index]
            if read.done():
                del self._reads[index]
                return read.result()  # StopAsyncIteration too: the block was left
        raise AssertionError("asyncio.wait returned with no read done")  # pragma: no cover
