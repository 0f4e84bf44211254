"""This process's stream sockets, and the fan-out of frames to them across processes.

Every frame to push names the users it is for. The process that has the frame
(the one whose consumer handled the event, or whose socket sent a `typing`)
writes it to the sockets it holds itself, then publishes it on the cache's
`stream` channel, together with the frames pushed while the previous
publication was on its way (one `PUBLISH` for all of them); every other
process is subscribed to that channel, once, and writes each frame to the
sockets it holds (docs/decisions/0121). Each socket
has a bounded queue of frames of its own: a full queue closes that socket
(4000), never slows the others.

A sweep, once a second, closes the sockets whose access token has expired or
whose login has ended (1008), and pings the quiet ones (4001 when no answer).
When the server stops, `drain` closes every socket (1001) and refuses new ones
before the server's own shutdown begins (docs/decisions/0128).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import orjson
from prometheus_client import Counter, Histogram

from minifb.adapters.aio import cancel_and_wait
from minifb.adapters.cache import Cache
from minifb.adapters.resilience import Backoff
from minifb.adapters.telemetry.metrics import Metrics
from minifb.kit.errors import AppError
from minifb.kit.outages import is_outage
from minifb.kit.security import Principal

log = logging.getLogger("minifb.stream")

CHANNEL = "stream"
OUTBOUND_MAX = 10_000  # frames waiting to be published; past it, pushes reach this process only
# Close codes (README "Real-time stream"); 4000-4999 are the application's own.
GOING_AWAY = 1001  # the server is shutting down: reconnect
SHUTTING_DOWN = "server shutting down"  # the reason sent with GOING_AWAY
POLICY_VIOLATION = 1008  # no valid token, the token expired, or the login ended
TOO_BIG = 1009  # a client frame over MINIFB_STREAM_MAX_FRAME bytes
INTERNAL_ERROR = 1011  # a fault of the server's: reconnect
TRY_AGAIN_LATER = 1013  # the ended logins cannot be read now: reconnect later
FELL_BEHIND = 4000  # the send queue filled up: reconnect and read the stored messages
NO_PONG = 4001  # no frame from the client within a ping interval plus the timeout


class LoginCheck(Protocol):
    """The stream's view of the token verifier the HTTP routes use (`auth.verifier`)."""

    def verify_until(self, token: str) -> tuple[Principal, int]:
        """The principal of a valid token whose login has not ended, and when the
        token expires (epoch seconds); raises an `AppError` otherwise."""
        ...

    def has_ended(self, session_id: int) -> bool:
        """Whether the login has ended; raises an `AppError` (503) while unknown."""
        ...


class Membership(Protocol):
    """Who is in a conversation, for the relay of `typing` (the messages service)."""

    async def members_if_member(self, conversation_id: int, user_id: int) -> list[int] | None:
        """The ids of every current member when `user_id` is one of them, else None
        (whether the conversation exists or not)."""
        ...


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """The limits of one socket (settings `stream_*`)."""

    queue_size: int = 256
    max_frame: int = 4096
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    check_interval: float = 1.0


class Outgoing(NamedTuple):
    """One frame in a socket's queue: its JSON text, its type, and when its event
    happened (epoch seconds, for the delivery latency), if it says."""

    text: str
    type: str
    occurred_at: float | None


class Closing(NamedTuple):
    """Why a socket ends: a close code and reason to send, or code None when the
    client has gone already (nothing to send)."""

    code: int | None
    reason: str = ""


class Socket:
    """One open stream: who holds it, until when, and its bounded queue of frames."""

    __slots__ = (
        "_queue",
        "_ready",
        "closing",
        "expires_at",
        "last_ping",
        "last_seen",
        "queue_size",
        "session_id",
        "typing_at",
        "user_id",
    )

    def __init__(
        self, principal: Principal, expires_at: float, queue_size: int, now: float
    ) -> None:
        self.user_id = principal.user_id
        self.session_id = principal.session_id
        self.expires_at = expires_at
        self.queue_size = queue_size
        self.last_seen = now  # monotonic: the last frame from the client
        self.last_ping = now
        self.typing_at = -math.inf  # the last `typing` relayed (monotonic)
        self.closing: Closing | None = None
        self._queue: deque[Outgoing] = deque()
        self._ready = asyncio.Event()

    def offer(self, frame: Outgoing) -> bool:
        """Queue a frame; False when the socket is closing or its queue was full
        (which closes it: a reader this far behind reads the stored messages instead)."""
        if self.closing is not None:
            return False
        if len(self._queue) >= self.queue_size:
            self.close(FELL_BEHIND, "too far behind")
            return False
        self._queue.append(frame)
        self._ready.set()
        return True

    def close(self, code: int | None, reason: str = "") -> None:
        """End the socket (the first reason given wins); its writer stops at once."""
        if self.closing is None:
            self.closing = Closing(code, reason)
            self._queue.clear()
            self._ready.set()

    def seen(self) -> None:
        self.last_seen = time.monotonic()

    async def next(self) -> Outgoing | Closing:
        """The next frame to write, or why the socket ends."""
        while True:
            if self.closing is not None:
                return self.closing
            if self._queue:
                return self._queue.popleft()
            self._ready.clear()
            await self._ready.wait()

    async def closed(self) -> None:
        """Wait until the socket is closing."""
        while self.closing is None:
            self._ready.clear()
            await self._ready.wait()

    @property
    def queued(self) -> int:
        return len(self._queue)


class Hub:
    """The stream sockets of this process, and the frames pushed to them."""

    def __init__(
        self,
        cache: Cache,
        logins: LoginCheck,
        metrics: Metrics,
        policy: StreamPolicy,
        *,
        membership: Membership | None = None,
    ) -> None:
        self._cache = cache
        self.logins = logins
        self.metrics = metrics
        self.policy = policy
        # The relay of `typing` needs the messages service; None refuses it.
        self.membership = membership
        self._sockets: dict[int, set[Socket]] = {}
        self._none_open = asyncio.Event()  # set while no socket is open
        self._none_open.set()
        # Set by `drain`: the stream refuses new sockets, and one accepted meanwhile closes.
        self.draining = False
        self.origin = uuid.uuid4().hex  # this process: its own publications, its presence claims
        self._tried = asyncio.Event()  # the first subscription worked, or failed
        self._tasks: list[asyncio.Task[None]] = []
        self._series: dict[str, tuple[Counter, Histogram]] = {}
        # Frames for the other processes, as [users, type, occurred at, text], and the
        # task publishing them (started by the first push, ending when none are left).
        self._outbound: list[list[Any]] = []
        self._publisher: asyncio.Task[None] | None = None

    # sockets

    # Presence (`presence.Presence.changed`) follows each `add` and `remove`.
    def add(self, principal: Principal, expires_at: float) -> Socket:
        socket = Socket(principal, expires_at, self.policy.queue_size, time.monotonic())
        self._sockets.setdefault(socket.user_id, set()).add(socket)
        self._none_open.clear()
        if self.draining:  # its handshake was under way when the drain began
            socket.close(GOING_AWAY, SHUTTING_DOWN)
        return socket

    def remove(self, socket: Socket) -> None:
        held = self._sockets.get(socket.user_id)
        if held is not None and socket in held:
            held.discard(socket)
            if not held:
                del self._sockets[socket.user_id]
        if not self._sockets:
            self._none_open.set()

    def sockets_of(self, user_id: int) -> list[Socket]:
        return list(self._sockets.get(user_id, ()))

    def count(self) -> int:
        return sum(len(held) for held in self._sockets.values())

    # pushing

    async def push(
        self,
        user_ids: Iterable[int],
        type_: str,
        data: Any,
        *,
        occurred_at: datetime | None = None,
    ) -> None:
        """Send `{"type": type_, "data": data}` to every open socket of `user_ids`,
        on every process: this process's sockets at once, the others' with the next
        publication. At most once: a process that is not subscribed at that moment (the
        cache is down) misses it, and its clients catch up on reconnect."""
        users = sorted(set(user_ids))
        if not users:
            return
        at = None if occurred_at is None else occurred_at.timestamp()
        frame = Outgoing(orjson.dumps({"type": type_, "data": data}).decode(), type_, at)
        self.deliver(users, frame)
        if len(self._outbound) >= OUTBOUND_MAX:
            log.warning("dropped a %s frame for the other processes: the cache is behind", type_)
            return
        self._outbound.append([users, type_, at, frame.text])
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.create_task(self._publish(), name="stream-publish")

    async def _publish(self) -> None:
        """Publish what waits for the other processes, one `PUBLISH` per batch, until
        nothing is left."""
        while self._outbound:
            batch, self._outbound = self._outbound, []
            try:
                await self._cache.publish(CHANNEL, orjson.dumps({"o": self.origin, "e": batch}))
            except Exception as exc:
                log.warning(
                    "could not publish %d frame(s) to the other processes: %s",
                    len(batch),
                    exc if str(exc) else type(exc).__name__,
                    exc_info=None if is_outage(exc) else exc,
                )

    def deliver(self, user_ids: Iterable[int], frame: Outgoing) -> int:
        """Queue `frame` on this process's sockets of `user_ids`; returns how many took it."""
        taken = 0
        for user_id in user_ids:
            for socket in self._sockets.get(user_id, ()):
                taken += socket.offer(frame)
        return taken

    def sent(self, frame: Outgoing) -> None:
        """A frame was written to a socket: count it, and how long since its event."""
        series = self._series.get(frame.type)
        if series is None:
            # `labels()` locks and builds a key per call; the frame types are few.
            series = self._series[frame.type] = (
                self.metrics.stream_frames.labels(frame.type),
                self.metrics.stream_delivery.labels(frame.type),
            )
        series[0].inc()
        if frame.occurred_at is not None:
            series[1].observe(max(0.0, time.time() - frame.occurred_at))

    def _received(self, raw: bytes) -> None:
        try:
            body = orjson.loads(raw)
            if body["o"] == self.origin:
                return
            frames = [
                ([int(u) for u in users], Outgoing(text, type_, at))
                for users, type_, at, text in body["e"]
            ]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning("ignored a malformed stream publication: %r", exc)
            return
        for users, frame in frames:
            self.deliver(users, frame)

    # background work

    async def start(self, *, subscribed_within: float = 1.0) -> None:
        """Subscribe to the other processes' frames and start the sweep. Waits for the
        first try to subscribe (up to `subscribed_within` seconds), so that a process
        that answers is listening; with the cache down it starts anyway and keeps
        trying in the background."""
        self._tasks = [
            asyncio.create_task(self._listen(), name="stream-listen"),
            asyncio.create_task(self._sweep_forever(), name="stream-sweep"),
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(subscribed_within):
                await self._tried.wait()

    async def drain(self, within: float) -> int:
        """Refuse new sockets, close the open ones (1001: reconnect elsewhere), and wait
        up to `within` seconds until each has sent its close frame and ended; returns
        how many were still open then. Called on SIGTERM, before the server's own
        shutdown, which would end them without this code (docs/decisions/0128)."""
        self.draining = True
        self._close_all()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._none_open.wait()
        return self.count()

    def _close_all(self) -> None:
        for held in self._sockets.values():
            for socket in held:
                socket.close(GOING_AWAY, SHUTTING_DOWN)

    async def stop(self) -> None:
        """Close every socket (1001: reconnect elsewhere) and stop the background work."""
        self._close_all()
        tasks, self._tasks = self._tasks, []
        if self._publisher is not None:
            tasks.append(self._publisher)
            self._publisher = None
        for task in tasks:
            await cancel_and_wait(task)

    async def _listen(self) -> None:
        backoff = Backoff("the stream's subscription", log, first=0.2, cap=5.0)
        while True:
            try:
                async with self._cache.subscribe(CHANNEL) as messages:
                    self._tried.set()
                    backoff.success()
                    async for _, raw in messages:
                        self._received(raw)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._tried.set()
                await asyncio.sleep(backoff.failure(exc, trace=not is_outage(exc)))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.policy.check_interval)
            self.sweep()

    def sweep(self) -> None:
        """Close what must close (token expired, login ended, no answer to a ping) and
        ping the sockets that have been quiet for a ping interval."""
        now, clock = time.time(), time.monotonic()
        interval, timeout = self.policy.ping_interval, self.policy.ping_timeout
        ping = Outgoing('{"type":"ping","data":{}}', "ping", None)
        for held in list(self._sockets.values()):
            for socket in list(held):
                if socket.expires_at <= now:
                    socket.close(POLICY_VIOLATION, "token expired")
                    continue
                try:
                    if self.logins.has_ended(socket.session_id):
                        socket.close(POLICY_VIOLATION, "session ended")
                        continue
                except AppError:
                    socket.close(TRY_AGAIN_LATER, "try again later")
                    continue
                quiet = clock - socket.last_seen
                if quiet >= interval + timeout:
                    socket.close(NO_PONG, "no answer to ping")
                elif quiet >= interval and clock - socket.last_ping >= interval:
                    socket.last_ping = clock
                    socket.offer(ping)
