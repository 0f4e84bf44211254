"""Presence: who is online now, across processes, and the `presence` frames to their friends.

A person is online while they hold a stream socket on any process. Each
process claims, in the cache, the people it holds sockets of: the sorted set
`presence:{user_id}` has one member per process (the hub's origin), scored
with when that claim lapses (epoch seconds). A process renews its claims
every third of `ttl`, so the claims of a process that died lapse on their own
within `ttl`. A person is online while any claim of theirs has not lapsed.

When a person's first socket on a process opens, the process claims them;
if no other process had a live claim, they came online. When their last
socket on a process closes, the claim is kept for `grace` seconds (a reload,
a reconnect to another process), then given up; if no other process holds a
live claim, they went offline: their `last_active_at` is recorded (when the
socket closed) and their friends are told. Each change is reconciled by one
task from what the hub holds at that moment, in order, off the socket's path:
a slow cache delays the frames about presence, never a socket.

A `presence` frame goes to the friends who show their own active status,
and only when the person shows theirs (docs/decisions/0122).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from minifb.adapters.aio import cancel_and_wait
from minifb.adapters.cache import Cache
from minifb.adapters.cache.base import ZRange
from minifb.adapters.events import Event, EventBus
from minifb.kit.outages import is_outage
from minifb.notifications.hub import Hub

log = logging.getLogger("minifb.presence")

KEY = "presence:{}"
CONSUMER = "presence"
READ_CHUNK = 1000  # presence claims read per cache round trip


@dataclass(frozen=True, slots=True)
class PresencePolicy:
    """Settings `presence_*`."""

    ttl: float = 60.0
    grace: float = 10.0

    @property
    def renew_every(self) -> float:
        return self.ttl / 3


class Watchers(Protocol):
    """Who sees a person's presence (`users.service.Audience`)."""

    @property
    def shown(self) -> bool: ...

    @property
    def friend_ids(self) -> list[int]: ...

    @property
    def watchers(self) -> list[int]: ...


class PresenceStore(Protocol):
    """What presence reads and writes of people (the users service, through the
    composition root)."""

    async def audience(self, user_id: int) -> Watchers:
        """Whether the person shows their active status, and their friends who show theirs."""
        ...

    async def record_last_active(self, user_id: int, at: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class State:
    """A person's presence as the claims say: online now, or when a lapsed claim was
    last renewed (None when no claim is left)."""

    online: bool
    last_renewed: datetime | None = None


def frame(user_id: int, *, online: bool, last_active_at: datetime | None) -> dict[str, Any]:
    """The data of a `presence` frame."""
    return {
        "user_id": str(user_id),
        "online": online,
        "last_active_at": None if last_active_at is None else last_active_at.isoformat(),
    }


class Presence:
    """This process's claims on who is online, and the reads of everyone's."""

    def __init__(self, cache: Cache, hub: Hub, store: PresenceStore, policy: PresencePolicy):
        self._cache = cache
        self._hub = hub
        self._store = store
        self.policy = policy
        self._claimed: set[int] = set()  # the people this process holds a claim on
        self._closed_at: dict[int, float] = {}  # when their last socket here closed (epoch)
        self._queued: set[int] = set()
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._running = False

    @property
    def claimed(self) -> frozenset[int]:
        """The people this process holds a claim on."""
        return frozenset(self._claimed)

    # the sockets' side

    def changed(self, user_id: int) -> None:
        """A socket of `user_id` opened or closed on this process (after `Hub.add` or
        `Hub.remove`): reconcile their claim soon, in order with the other changes."""
        if not self._hub.sockets_of(user_id):
            self._closed_at.setdefault(user_id, time.time())
        else:
            self._closed_at.pop(user_id, None)
        if self._running and user_id not in self._queued:
            self._queued.add(user_id)
            self._queue.put_nowait(user_id)

    async def start(self) -> None:
        self._running = True
        self._tasks = [
            asyncio.create_task(self._reconcile_forever(), name="presence-reconcile"),
            asyncio.create_task(self._renew_forever(), name="presence-renew"),
        ]

    async def stop(self) -> None:
        """Stop; the claims held are left to lapse (within `ttl`), announcing nothing: the
        people they name reconnect elsewhere, or are shown offline once they lapse."""
        self._running = False
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await cancel_and_wait(task)

    async def _reconcile_forever(self) -> None:
        while True:
            user_id = await self._queue.get()
            self._queued.discard(user_id)
            try:
                await self._reconcile(user_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "could not update the presence of user %s: %s",
                    user_id,
                    exc if str(exc) else type(exc).__name__,
                    exc_info=None if is_outage(exc) else exc,
                )
                self._later(self.policy.renew_every, user_id)

    def _later(self, delay: float, user_id: int) -> None:
        asyncio.get_running_loop().call_later(delay, self.changed, user_id)

    async def _reconcile(self, user_id: int) -> None:
        key, origin, now = KEY.format(user_id), self._hub.origin, time.time()
        if self._hub.sockets_of(user_id):
            if user_id in self._claimed:
                return
            await self._cache.zadd(key, {origin: now + self.policy.ttl})
            self._claimed.add(user_id)
            claims = await self._cache.zrange_by_score(key)
            lapsed = [member for member, until in claims if until <= now]
            if lapsed:  # a process that died left them
                await self._cache.zrem(key, *lapsed)
            if not any(m != origin and until > now for m, until in claims):
                await self._announce(user_id, online=True, last_active_at=None)
            return
        if user_id not in self._claimed:
            self._closed_at.pop(user_id, None)
            return
        closed = self._closed_at.get(user_id, now)
        if now < closed + self.policy.grace:
            self._later(closed + self.policy.grace - now, user_id)
            return
        # An empty sorted set is no key at all: the last claim given up removes it.
        await self._cache.zrem(key, origin)
        self._claimed.discard(user_id)
        self._closed_at.pop(user_id, None)
        if await self._cache.zrange_by_score(key, min=now, limit=1):
            return  # a socket on another process keeps them online
        last_active = datetime.fromtimestamp(closed, UTC)
        await self._store.record_last_active(user_id, last_active)
        await self._announce(user_id, online=False, last_active_at=last_active)

    async def _announce(
        self, user_id: int, *, online: bool, last_active_at: datetime | None
    ) -> None:
        audience = await self._store.audience(user_id)
        data = frame(user_id, online=online, last_active_at=last_active_at)
        await self._hub.push(audience.watchers, "presence", data)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.policy.renew_every)
            try:
                await self.renew()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "could not renew %d presence claims: %s",
                    len(self._claimed),
                    exc if str(exc) else type(exc).__name__,
                    exc_info=None if is_outage(exc) else exc,
                )

    async def renew(self) -> None:
        """Push back the lapse of every claim this process holds."""
        if not self._claimed:
            return
        until = time.time() + self.policy.ttl
        origin = self._hub.origin
        await self._cache.zadd_many({KEY.format(u): {origin: until} for u in self._claimed})

    # the readers' side

    async def states(
        self, user_ids: Sequence[int], *, limit: int | None = None
    ) -> dict[int, State]:
        """Each person's presence as the claims say, read `READ_CHUNK` at a time; with
        `limit`, the reading stops once that many of them were found online."""
        found: dict[int, State] = {}
        online = 0
        for start in range(0, len(user_ids), READ_CHUNK):
            chunk = user_ids[start : start + READ_CHUNK]
            now = time.time()
            read = await self._cache.zread([ZRange(KEY.format(u)) for u in chunk])
            for user_id, claims in zip(chunk, read.ranges, strict=True):
                latest = max((until for _, until in claims), default=None)
                if latest is not None and latest > now:
                    found[user_id] = State(online=True)
                    online += 1
                elif latest is not None:
                    renewed = datetime.fromtimestamp(latest - self.policy.ttl, UTC)
                    found[user_id] = State(online=False, last_renewed=renewed)
                else:
                    found[user_id] = State(online=False)
            if limit is not None and online >= limit:
                break
        return found

    async def is_online(self, user_id: int) -> bool:
        return (await self.states([user_id]))[user_id].online

    # the setting

    def register(self, bus: EventBus) -> None:
        """Tell friends at once when someone turns their active status off or on
        (`user.updated` naming `settings.active_status`)."""
        bus.subscribe(CONSUMER, ["user.updated"], self._settings_changed)

    async def _settings_changed(self, event: Event) -> None:
        try:
            if "settings.active_status" not in event.data["fields"]:
                return
            user_id = int(event.data["user_id"])
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("dropped a user.updated event %s with bad data: %r", event.id, exc)
            return
        if not await self.is_online(user_id):
            return  # friends see the stored last_active_at (or not) on their next read
        audience = await self._store.audience(user_id)
        # Turned off: they vanish from their friends' lists as if they had gone away.
        data = frame(user_id, online=audience.shown, last_active_at=None)
        await self._hub.push(audience.friend_ids, "presence", data)
