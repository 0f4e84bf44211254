"""64-bit time-ordered ids (Snowflake layout: milliseconds, worker, sequence).

41 bits of milliseconds since 2024-01-01 last until 2093; 10 worker bits let
1024 processes mint ids without talking to each other; 12 sequence bits give
4096 ids per millisecond per worker. Ids sort by creation time, so they double
as pagination cursors and, through `score`, as sorted-set scores.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
TIME_SHIFT = WORKER_BITS + SEQUENCE_BITS
# Ids are signed 64-bit in the database (BIGINT): a larger number can name nothing,
# and binding it fails in the driver (OverflowError, "out of int64 range").
MAX_ID = 2**63 - 1
# Above every id's score (ids < 2**63, so scores < 2**51).
MAX_SCORE = float(2**52)


class IdGenerator:
    """Mints unique ids for one worker; safe to share between threads."""

    def __init__(self, worker_id: int) -> None:
        if not 0 <= worker_id <= MAX_WORKER:
            raise ValueError(f"worker_id must be in 0..{MAX_WORKER}")
        self._worker = worker_id
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0

    def next_id(self) -> int:
        with self._lock:
            now = _now_ms()
            # A clock stepping backwards must not repeat ids: keep the last time.
            now = max(now, self._last_ms)
            if now == self._last_ms:
                self._sequence = (self._sequence + 1) & MAX_SEQUENCE
                if self._sequence == 0:
                    while now <= self._last_ms:
                        now = _now_ms()
            else:
                self._sequence = 0
            self._last_ms = now
            return (
                ((now - EPOCH_MS) << TIME_SHIFT) | (self._worker << SEQUENCE_BITS) | self._sequence
            )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def id_time(id_: int) -> datetime:
    """The moment an id was minted."""
    return datetime.fromtimestamp(((id_ >> TIME_SHIFT) + EPOCH_MS) / 1000, UTC)


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


_generator = IdGenerator(0)


def configure(worker_id: int) -> None:
    """Set this process's worker bits; called once at start-up."""
    global _generator
    _generator = IdGenerator(worker_id)


def new_id() -> int:
    return _generator.next_id()
