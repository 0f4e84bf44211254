"""Periodic clean-up of rows that only matter for a while.

Services register jobs (`workers.registry.schedule_all`): published outbox
rows and handled-event marks past their retention, idempotency keys past 24
hours. Every process runs them; a job is a plain `DELETE ... WHERE older`,
so two processes running it at once only share the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime

from minifb.adapters.aio import cancel_and_wait
from minifb.adapters.resilience import Backoff
from minifb.kit.db import Database, utcnow
from minifb.kit.outages import is_outage

log = logging.getLogger("minifb.housekeeping")

Job = Callable[[Database, datetime], Awaitable[int]]
"""Removes what is stale at the given moment; returns how many rows went."""


class Housekeeper:
    """Runs every registered job once per `interval` seconds, the first run soon after
    start (spread over the first tenth of the interval, so processes started together
    do not all run at once)."""

    def __init__(
        self,
        db: Database,
        *,
        interval: float = 3600.0,
        backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        """`backoff`: the first and the longest wait, in seconds, before running the
        jobs again while the database is down."""
        self._db = db
        self._interval = interval
        self._backoff = backoff
        self._jobs: dict[str, Job] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def add(self, name: str, job: Job) -> None:
        self._jobs[name] = job

    async def run_once(self) -> dict[str, int]:
        """Run every job now; a failing job is logged and the others still run."""
        removed, _ = await self._run_jobs()
        return removed

    async def _run_jobs(self) -> tuple[dict[str, int], BaseException | None]:
        """What each job removed, and the outage that stopped them, if one did."""
        removed: dict[str, int] = {}
        now = utcnow()
        for name, job in self._jobs.items():
            try:
                removed[name] = await job(self._db, now)
            except Exception as exc:
                if is_outage(exc):
                    # The jobs after it would fail the same way: the run backs off instead.
                    return removed, exc
                log.exception("housekeeping job %s failed; it runs again next time", name)
        if any(removed.values()):
            log.info("housekeeping removed %s", removed)
        return removed, None

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="housekeeping")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        done, _ = await asyncio.wait({self._task}, timeout=5.0)
        if not done:
            await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        delay = random.uniform(0.0, self._interval / 10)  # noqa: S311 - spreading, not secrecy
        first, cap = self._backoff
        backoff = Backoff("housekeeping", log, first=first, cap=cap)
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            _, outage = await self._run_jobs()
            if outage is None:
                backoff.success()
                delay = self._interval
            else:
                # The database (or another service) is down: try again soon, then
                # less and less often, but never later than the next regular run.
                delay = min(self._interval, backoff.failure(outage))
