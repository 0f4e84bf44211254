"""Failing dependencies: one error for "not now", and a circuit breaker (DESIGN §8).

Every adapter that talks to another service bounds each call with a short
timeout and counts its failures in a `CircuitBreaker`. After a few failures in
a row the breaker opens: calls are refused at once with `Unavailable` instead
of each waiting out its timeout, so a stalled Redis or PostgreSQL costs the
requests of a few milliseconds, not of seconds. Once the cool-down has passed
one trial call goes through; its success closes the breaker again, so full
service returns by itself. Callers either degrade (a read served from the
database instead of the cache) or let `Unavailable` answer 503 with
`Retry-After`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

log = logging.getLogger("minifb.resilience")


class Unavailable(Exception):
    """A dependency cannot answer now; try again in about `retry_after` seconds."""

    def __init__(self, service: str, *, retry_after: float = 1.0) -> None:
        super().__init__(f"{service} is unavailable")
        self.service = service
        self.retry_after = retry_after


class CircuitBreaker:
    """Closed, open after `threshold` failures in a row, half-open after `cooldown` seconds.

    Half-open lets exactly one trial call through (`allow` answers True once);
    the others are refused until it reports. A failed trial opens the breaker
    again with twice the cool-down, up to `max_cooldown`; a success closes it.
    Not thread-safe: one breaker per event loop, like the clients it guards.
    """

    def __init__(
        self,
        service: str,
        *,
        threshold: int = 3,
        cooldown: float = 1.0,
        max_cooldown: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or cooldown <= 0 or max_cooldown < cooldown:
            raise ValueError("threshold >= 1 and 0 < cooldown <= max_cooldown")
        self.service = service
        self._threshold = threshold
        self._base_cooldown = cooldown
        self._max_cooldown = max_cooldown
        self._clock = clock
        self._failures = 0
        self._cooldown = cooldown
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        """ "closed", "open" or "half-open" (a trial call may go through or is under way)."""
        if self._opened_at is None:
            return "closed"
        if self._trial or self._clock() - self._opened_at >= self._cooldown:
            return "half-open"
        return "open"

    @property
    def retry_after(self) -> float:
        """Seconds until a trial call will be let through (0 when closed)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._cooldown - self._clock())

    def allow(self) -> bool:
        """Whether a call may go to the service now; a True in half-open is the trial."""
        if self._opened_at is None:
            return True
        if self._trial or self._clock() - self._opened_at < self._cooldown:
            return False
        self._trial = True
        return True

    def check(self) -> None:
        """`allow`, raising `Unavailable` (with when to come back) instead of answering False."""
        if not self.allow():
            raise Unavailable(self.service, retry_after=max(1.0, math.ceil(self.retry_after)))

    def success(self) -> None:
        if self._opened_at is not None:
            log.warning("%s answers again; circuit closed", self.service)
        self._failures = 0
        self._opened_at = None
        self._trial = False
        self._cooldown = self._base_cooldown

    def failure(self) -> None:
        self._failures += 1
        if self._trial:
            # The trial failed: stay open, and wait longer before the next one.
            self._trial = False
            self._cooldown = min(self._cooldown * 2, self._max_cooldown)
            self._opened_at = self._clock()
        elif self._opened_at is None and self._failures >= self._threshold:
            log.warning(
                "%s failed %d times in a row; circuit open for %.1f s",
                self.service,
                self._failures,
                self._cooldown,
            )
            self._opened_at = self._clock()

    def release(self) -> None:
        """A call that ended without telling either way (cancelled): free the trial slot."""
        self._trial = False


class Backoff:
    """How long a background loop waits between tries while a dependency fails.

    Exponential from `first` up to `cap` seconds, and quiet: one warning when
    the failures start (with the traceback only if asked, for an error that is
    not a known outage) and one line when a try succeeds again, instead of a
    line per try. Not thread-safe: one per loop.
    """

    def __init__(
        self, what: str, logger: logging.Logger, *, first: float = 0.5, cap: float = 30.0
    ) -> None:
        if first <= 0 or cap < first:
            raise ValueError("0 < first <= cap")
        self.what = what
        self._log = logger
        self._first = first
        self._cap = cap
        self.tries = 0
        self._since = 0.0

    @property
    def failing(self) -> bool:
        return self.tries > 0

    def failure(self, exc: BaseException, *, trace: bool = False) -> float:
        """Note a failed try; returns the seconds to wait before the next one."""
        if self.tries == 0:
            self._since = time.monotonic()
            self._log.warning(
                "%s failed (%s); retrying with back-off",
                self.what,
                exc if str(exc) else type(exc).__name__,
                exc_info=exc if trace else None,
            )
        delay: float = min(self._cap, self._first * 2.0 ** min(self.tries, 32))
        self.tries += 1
        return delay

    def success(self) -> None:
        """Note a try that worked; logs the end of a run of failures."""
        if self.tries:
            self._log.warning(
                "%s works again after %d failed tries in %.1f s",
                self.what,
                self.tries,
                time.monotonic() - self._since,
            )
        self.tries = 0
