"""`Annotated` dependency aliases over what the composition root built at start-up.

The kernel names no service and not the container either: `Ports` says what
these aliases read from it, and `bootstrap.Container` provides it. A service
whose endpoints need more (auth's password hasher, the feed's policy)
declares those in a `Ports` of its own, beside its endpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Protocol

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.cache import Cache
from minifb.adapters.events import EventBus
from minifb.adapters.telemetry.metrics import Metrics
from minifb.kit.db import Database
from minifb.kit.errors import AppError

if TYPE_CHECKING:  # kit.security imports this module for `PortsDep`
    from minifb.kit.security import TokenVerifier


class Ports(Protocol):
    """What every service's endpoints may ask of the process."""

    @property
    def db(self) -> Database: ...

    @property
    def cache(self) -> Cache: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def verifier(self) -> TokenVerifier: ...

    @property
    def metrics(self) -> Metrics: ...


# Every dependency here is `async def`: FastAPI runs a plain `def` dependency in
# a worker thread, a hop that costs more than the work on the hot paths. And
# each resolved dependency costs on every request (tens of microseconds): a hot
# endpoint takes `PortsDep` once rather than one alias per port.
async def get_ports(request: Request) -> Ports:
    ports: Ports = request.app.state.container
    return ports


PortsDep = Annotated[Ports, Depends(get_ports)]


async def get_session(ports: PortsDep) -> AsyncIterator[AsyncSession]:
    """The request's transaction: committed after the endpoint returns, rolled back on error.

    `scope="function"` below makes the commit happen before the response is
    sent, so a client never sees success for a change that was not stored.
    It commits through `Database.commit`, the one way every write commits.
    The database's breaker sees how it went: while the database is down this
    raises `Unavailable` (a 503) before any work, or in place of the failure.
    """
    db = ports.db
    async with db.session() as session:
        try:
            yield session
        except AppError as exc:
            if exc.keep_changes:
                await db.commit(session)
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await db.commit(session)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_cache(ports: PortsDep) -> Cache:
    return ports.cache


async def get_events(ports: PortsDep) -> EventBus:
    return ports.bus


CacheDep = Annotated[Cache, Depends(get_cache)]
EventsDep = Annotated[EventBus, Depends(get_events)]


async def get_metrics(ports: PortsDep) -> Metrics:
    return ports.metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]
