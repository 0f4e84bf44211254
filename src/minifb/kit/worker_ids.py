"""This process's Snowflake worker id: leased from a store, renewed, handed to `kit.ids`.

Two processes minting under one worker id mint the same ids, so each process
leases its own (docs/decisions/0115) and mints only while the lease surely
holds: the generator is granted the id until `ttl - margin` seconds after the
last successful renewal was sent, a point the store's own expiry cannot come
before. A store that stops answering so stops the minting (503s, never a
duplicate) before the lease can lapse and be taken by another process; once it
answers again the lease is renewed, or a new one taken, and minting resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

from minifb.adapters.leases.base import Lease, LeaseStore
from minifb.kit import ids
from minifb.kit.ids import IdGenerator, WorkerIdUnavailable, lease_clock

log = logging.getLogger("minifb.ids")


class WorkerIdLease:
    """Holds one worker id for this process between `start` and `stop`.

    Renewed every `ttl / 6` seconds (retried ten times as often while it
    fails); minting stops `ttl / 6` seconds (the margin) before the lease could
    lapse, and a released id stays free of others for the margin as well, so
    host clocks that disagree by less than it cannot make two processes mint
    the same id. A renewal that finds the id taken (its lease lapsed, the store
    forgot it) stops the minting at once and leases another id. A lease that
    does not lapse (a lock file) is minted under until it is released.
    """

    def __init__(self, store: LeaseStore, *, ttl: float, generator: IdGenerator | None = None):
        if not ttl > 0:
            raise ValueError("the lease ttl must be > 0 seconds")
        self.store = store
        self.ttl = ttl
        self.renew_every = ttl / 6
        self.margin = ttl / 6
        self.retry_every = self.renew_every / 10
        self._generator = generator or ids.generator
        self._lease: Lease | None = None
        self._until = -math.inf
        self._task: asyncio.Task[None] | None = None
        self.problem: str | None = "not started"
        """Why no id is held now (None while one is)."""

    @property
    def worker_id(self) -> int | None:
        """The id this process mints under now, or None when it may not mint."""
        lease = self._lease
        return lease.number if lease is not None and lease_clock() < self._until else None

    async def start(self) -> int | None:
        """Lease an id now if the store answers (None if not: the background task keeps
        trying, and `new_id` refuses meanwhile), and keep it renewed from then on."""
        await self._attempt()
        self._task = asyncio.create_task(self._keep(), name="worker-id-lease")
        return self.worker_id

    async def stop(self) -> None:
        """Stop minting, release the id (held back from others for the margin), close the store."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._generator.withdraw(self)
        lease, self._lease = self._lease, None
        self._until = -math.inf
        if lease is not None:
            try:
                async with asyncio.timeout(self.renew_every):
                    await self.store.release(lease, hold=self.margin)
            except Exception as exc:  # it lapses by itself
                log.warning(
                    "could not release worker id %d in %s (it lapses within %.0f s): %r",
                    lease.number,
                    self.store.name,
                    self.ttl,
                    exc,
                )
        await self.store.close()

    async def check(self) -> None:
        """Raise `WorkerIdUnavailable` while this process holds no id (readiness)."""
        if self.worker_id is None:
            raise WorkerIdUnavailable(retry_after=self.retry_every)

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every if self.problem is None else self.retry_every)
            await self._attempt()

    async def _attempt(self) -> None:
        """Renew the lease held, or take one; a failure is logged and noted, not raised."""
        try:
            async with asyncio.timeout(self.renew_every):
                lease = self._lease
                sent = lease_clock()
                if lease is not None:
                    if await self.store.renew(lease, self.ttl):
                        self._granted(lease, sent)
                        return
                    self._lost(lease)
                    sent = lease_clock()
                lease = await self.store.acquire(self.ttl)
                if lease is None:
                    self._failing(f"every worker id in {self.store.name} is held")
                    return
                self._lease = lease
                self._granted(lease, sent)
        except Exception as exc:
            what = "renew" if self._lease is not None else "lease"
            self._failing(f"cannot {what} a worker id in {self.store.name}: {exc!r}")

    def _granted(self, lease: Lease, sent: float) -> None:
        # The store's expiry runs from when it took the call, after `sent`.
        self._until = sent + self.ttl - self.margin if self.store.lapses else math.inf
        self._generator.grant(self, lease.number, self._until)
        if self.problem is not None:
            log.info("worker id %d leased in %s", lease.number, self.store.name)
            self.problem = None

    def _lost(self, lease: Lease) -> None:
        # Another process may mint under it already: stop now, not at the deadline.
        self._until = -math.inf
        self._generator.grant(self, lease.number, self._until)
        self._lease = None
        log.warning(
            "worker id %d is no longer this process's in %s (its lease lapsed); leasing another",
            lease.number,
            self.store.name,
        )

    def _failing(self, reason: str) -> None:
        if self.problem is None and self._lease is not None:
            left = max(0.0, self._until - lease_clock())
            log.warning("%s; ids are minted for %.1f s more unless it answers", reason, left)
        elif self.problem != reason:
            log.warning("%s; no ids are minted until it answers", reason)
        self.problem = reason
