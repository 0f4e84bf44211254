"""Ended logins, known to every process without a round trip per request.

Access tokens are self-contained, so ending a login (logout, password change,
a reused refresh token) must also stop its access tokens until they expire.
The database is the record: `auth_sessions.revoked_at`, committed before the
request that ends a login answers. Each process keeps the logins ended within
an access token's lifetime in memory, loaded at start and polled once a
second, so checking a request costs a set lookup: an ended login stops at
once in the process that ended it, and within about a second everywhere else,
after any restart of the app or the cache (docs/decisions/0102-ended-logins.md).

What this process does not know it refuses: until the first load succeeds,
or once the list has not been read for `stale_after` seconds, every token is
answered 503 instead of being trusted, and readiness says so.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from minifb.adapters.aio import cancel_and_wait
from minifb.auth import repository as repo
from minifb.auth.exceptions import EndedLoginsUnknown
from minifb.kit.db import Database
from minifb.kit.outages import NotKnownYet, is_outage

log = logging.getLogger("minifb.auth")


class Revocations:
    """The ended logins of the last `keep_seconds`, as this process knows them."""

    def __init__(
        self,
        db: Database,
        *,
        keep_seconds: float,
        poll_interval: float = 1.0,
        overlap_seconds: float = 60.0,
        max_backoff: float = 5.0,
        stale_after: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        self._db = db
        # As long as an access token of the ended login can still be valid.
        self._keep = keep_seconds
        self._interval = poll_interval
        # Each poll reads again what was ended this long before the previous one
        # started: a login ended (its revoked_at stamped) by a transaction that
        # committed later, or by a host whose clock is a little behind, is still
        # seen. It outlasts SQLite's 30 s busy timeout, the longest a write waits.
        self._overlap = overlap_seconds
        self._max_backoff = max_backoff
        self._stale_after = stale_after
        self._timeout = timeout
        self._ended: dict[int, float] = {}  # session id -> when it was ended (epoch seconds)
        self._read_from: float | None = None  # wall clock when the last good read started
        self._read_at = 0.0  # monotonic clock of the last good read
        # False until the first load, and again once the list is stale: is_revoked refuses.
        self._known = False
        self._failing_since: float | None = None
        self._task: asyncio.Task[None] | None = None

    def is_revoked(self, session_id: int) -> bool:
        """Whether the login has ended; raises EndedLoginsUnknown (503) while this
        process cannot know. A set lookup: no I/O on the request path."""
        if not self._known:
            raise EndedLoginsUnknown(retry_after=math.ceil(self._max_backoff))
        return session_id in self._ended

    async def check(self) -> None:
        """Raise `NotKnownYet` while requests would be refused (readiness): a load
        balancer sends nothing to a process that cannot check a login."""
        if not self._known:
            raise NotKnownYet("ended logins", retry_after=self._max_backoff)

    def add(self, session_ids: Iterable[int]) -> None:
        """Logins this process has just ended (committed): known here at once."""
        now = time.time()
        for session_id in session_ids:
            self._ended[session_id] = now

    async def start(self) -> None:
        try:
            await self.refresh()
        except Exception:
            self._failing_since = time.monotonic()
            log.error(
                "could not load the ended logins; authenticated requests answer 503 "
                "until the database answers",
                exc_info=True,
            )
        self._task = asyncio.create_task(self._run(), name="auth-revocations")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def refresh(self) -> None:
        """Read the logins ended since the last read (with the overlap), and forget
        those whose access tokens have all expired. Raises if the database cannot
        be read; the list is then left as it was."""
        started = time.time()
        horizon = started - self._keep
        since = horizon if self._read_from is None else self._read_from - self._overlap
        async with asyncio.timeout(self._timeout), self._db.sessionmaker() as session:
            rows = await repo.sessions_ended_since(
                session, datetime.fromtimestamp(max(since, horizon), UTC)
            )
        for session_id, ended_at in rows:
            self._ended[session_id] = ended_at.timestamp()
        if any(at < horizon for at in self._ended.values()):
            self._ended = {sid: at for sid, at in self._ended.items() if at >= horizon}
        self._read_from = max(started, self._read_from or started)
        self._read_at = time.monotonic()
        self._known = True

    async def _run(self) -> None:
        delay = self._interval if self._failing_since is None else self._backoff(self._interval)
        while True:
            await asyncio.sleep(delay)
            try:
                await self.refresh()
            except Exception as exc:
                delay = self._backoff(delay)
                self._note_failure(exc)
            else:
                delay = self._interval
                if self._failing_since is not None:
                    log.warning(
                        "the ended logins are read again, after %.0f s",
                        time.monotonic() - self._failing_since,
                    )
                    self._failing_since = None

    def _backoff(self, delay: float) -> float:
        return min(delay * 2, self._max_backoff)

    def _note_failure(self, exc: Exception) -> None:
        # One line per outage, not a traceback a second; a traceback only for a
        # failure that is not a known outage (a bug rather than a database down).
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            log.warning(
                "could not read the ended logins (%s); keeping the last list, retrying",
                exc if str(exc) else type(exc).__name__,
                exc_info=None if is_outage(exc) else exc,
            )
        if self._known and now - self._read_at > self._stale_after:
            self._known = False
            log.error(
                "the ended logins have not been read for %.0f s; authenticated requests "
                "answer 503 until the database answers",
                now - self._read_at,
            )
