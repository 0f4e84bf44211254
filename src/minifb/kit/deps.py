"""`Annotated` dependency aliases over the container built at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.cache import Cache
from minifb.adapters.events import EventBus
from minifb.bootstrap import Container
from minifb.config import Settings
from minifb.kit.db import run_after_commit, run_before_commit
from minifb.kit.errors import AppError
from minifb.kit.outbox import PENDING_KEY


# Every dependency here is `async def`: FastAPI runs a plain `def` dependency in
# a worker thread, a hop that costs more than the work on the hot paths.
async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_session(container: ContainerDep) -> AsyncIterator[AsyncSession]:
    """The request's transaction: committed after the endpoint returns, rolled back on error.

    `scope="function"` below makes the commit happen before the response is
    sent, so a client never sees success for a change that was not stored.
    The database's breaker sees how it went: while the database is down this
    raises `Unavailable` (a 503) before any work, or in place of the failure.
    """
    async with container.db.session() as session:
        try:
            yield session
        except AppError as exc:
            if exc.keep_changes:
                await _commit(container, session)
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await _commit(container, session)


async def _commit(container: Container, session: AsyncSession) -> None:
    await run_before_commit(session)
    await session.commit()
    await run_after_commit(session)
    if session.info.pop(PENDING_KEY, False):
        container.relay.wake()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_settings(container: ContainerDep) -> Settings:
    return container.settings


async def get_cache(container: ContainerDep) -> Cache:
    return container.cache


async def get_events(container: ContainerDep) -> EventBus:
    return container.bus


SettingsDep = Annotated[Settings, Depends(get_settings)]
CacheDep = Annotated[Cache, Depends(get_cache)]
EventsDep = Annotated[EventBus, Depends(get_events)]
