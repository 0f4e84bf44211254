"""64-bit time-ordered ids (Snowflake layout: milliseconds, worker, sequence).

41 bits of milliseconds since 2024-01-01 last until 2093; 10 worker bits let
1024 processes mint ids without talking to each other; 12 sequence bits give
4096 ids per millisecond per worker. Ids sort by creation time, so they double
as pagination cursors and, through `score`, as sorted-set scores.

Two processes minting under one worker id would mint the same ids, so a
process mints only under a worker id it holds: `kit.worker_ids` leases one
(docs/decisions/0115) and `grant`s it here until a deadline on `lease_clock`,
past which `new_id` refuses (`WorkerIdUnavailable`, a 503) instead of minting
under an id another process may have leased meanwhile.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime

from minifb.kit.outages import NotKnownYet

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
WORKER_BITS = 10
SEQUENCE_BITS = 12
WORKER_IDS = 1 << WORKER_BITS
MAX_WORKER = WORKER_IDS - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
TIME_SHIFT = WORKER_BITS + SEQUENCE_BITS
# Ids are signed 64-bit in the database (BIGINT): a larger number can name nothing,
# and binding it fails in the driver (OverflowError, "out of int64 range").
MAX_ID = 2**63 - 1
# Above every id's score (ids < 2**63, so scores < 2**51).
MAX_SCORE = float(2**52)

# Lease deadlines are kept on the boot-time clock where there is one: unlike the
# monotonic clock it goes on while the machine sleeps or a VM is paused, which a
# lease's time in the store does too.
_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)
# Bound once: `next_id` is on every write's path.
_clock_gettime = time.clock_gettime
_time_ns = time.time_ns


def lease_clock() -> float:
    """Seconds on the clock that grant deadlines are measured on."""
    return _clock_gettime(_CLOCK)


class WorkerIdUnavailable(NotKnownYet):
    """This process holds no worker id now (its lease lapsed or is not taken yet)."""

    def __init__(self, *, retry_after: float = 1.0) -> None:
        super().__init__("worker id lease", retry_after=retry_after)


class IdGenerator:
    """Mints unique ids under the worker id granted to it; safe to share between threads.

    Each holder of a worker id `grant`s it with the deadline of its lease; the
    newest holder's id is used (one per process, but tests run several apps in
    one). Without a grant, or past its deadline, `next_id` raises
    `WorkerIdUnavailable`. `IdGenerator(n)` holds worker `n` for good.
    """

    def __init__(self, worker_id: int | None = None) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0
        self._grants: dict[object, tuple[int, float]] = {}
        self._worker = 0
        self._worker_bits = 0
        self._until = -math.inf
        if worker_id is not None:
            self.grant(self, worker_id)

    def grant(self, holder: object, worker_id: int, until: float = math.inf) -> None:
        """Mint under `worker_id` until `until` (on `lease_clock`) for `holder`; a
        holder's later grant replaces its earlier one."""
        if not 0 <= worker_id <= MAX_WORKER:
            raise ValueError(f"worker_id must be in 0..{MAX_WORKER}")
        with self._lock:
            self._grants[holder] = (worker_id, until)
            self._activate()

    def withdraw(self, holder: object) -> None:
        """Forget `holder`'s grant; an earlier holder's, if any, is used again."""
        with self._lock:
            self._grants.pop(holder, None)
            self._activate()

    def _activate(self) -> None:
        self._worker, self._until = next(reversed(self._grants.values()), (0, -math.inf))
        self._worker_bits = self._worker << SEQUENCE_BITS

    @property
    def worker_id(self) -> int | None:
        """The worker id ids are minted under now, or None when none may be."""
        with self._lock:
            return self._worker if lease_clock() < self._until else None

    def next_id(self) -> int:
        with self._lock:
            now = _time_ns() // 1_000_000
            last = self._last_ms
            if now > last:
                sequence = 0
            else:
                # A clock stepping backwards must not repeat ids: keep the last time.
                now = last
                sequence = self._sequence + 1
                if sequence > MAX_SEQUENCE:
                    while now <= last:
                        now = _now_ms()
                    sequence = 0
            # Checked after the time is read: a pause (a stopped process) between the
            # two fails the check; one after it leaves a time read before the deadline.
            if _clock_gettime(_CLOCK) >= self._until:
                raise WorkerIdUnavailable()
            self._last_ms = now
            self._sequence = sequence
            return ((now - EPOCH_MS) << TIME_SHIFT) | self._worker_bits | sequence


def _now_ms() -> int:
    return _time_ns() // 1_000_000


def id_time(id_: int) -> datetime:
    """The moment an id was minted."""
    return datetime.fromtimestamp(((id_ >> TIME_SHIFT) + EPOCH_MS) / 1000, UTC)


def worker_of(id_: int) -> int:
    """The worker id an id was minted under."""
    return (id_ >> SEQUENCE_BITS) & MAX_WORKER


def min_id_at(moment: datetime) -> int:
    """The smallest id that can have been minted at `moment` (for time-range queries)."""
    ms = int(moment.timestamp() * 1000) - EPOCH_MS
    return max(ms, 0) << TIME_SHIFT


def score(id_: int) -> float:
    """An id as a sorted-set score (a float): exact, and ordered like the ids.

    A float holds 53 bits exactly, an id 64, so the score drops the 12
    sequence bits and keeps the milliseconds and worker bits. Ids sharing a
    score differ only in those sequence bits and have as many digits, so a
    sorted set's tie order (members compared as strings) is their numeric order.
    """
    return float(id_ >> SEQUENCE_BITS)


# The process's generator: `kit.worker_ids.WorkerIdLease` grants it the leased id.
generator = IdGenerator()


def new_id() -> int:
    return generator.next_id()
