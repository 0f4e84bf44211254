"""The `search-indexer` consumer: the index follows what people and posts say.

Each handler reads the current row rather than trusting the event's data, so
events that arrive late, twice or out of order leave the index matching the
tables; `kit.outbox.idempotent` makes each event count once besides. Comments
are not searchable, and blocks and friendships are read at query time, so
neither is indexed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.events import Event, EventBus
from minifb.adapters.search import SearchIndex
from minifb.kit.db import Database
from minifb.kit.outbox import idempotent
from minifb.search import service

CONSUMER = "search-indexer"
# What a person is found by.
SEARCHED_FIELDS = frozenset({"username", "display_name"})
Effect = Callable[[AsyncSession, Event], Awaitable[None]]


def _effects(index: SearchIndex) -> dict[str, Effect]:
    async def post_changed(session: AsyncSession, event: Event) -> None:
        await service.index_post(session, index, int(event.data["post_id"]))

    async def post_deleted(session: AsyncSession, event: Event) -> None:
        await service.forget_post(session, index, int(event.data["post_id"]))

    async def person_registered(session: AsyncSession, event: Event) -> None:
        await service.index_person(session, index, int(event.data["user_id"]))

    async def person_updated(session: AsyncSession, event: Event) -> None:
        if SEARCHED_FIELDS.intersection(event.data.get("fields", ())):
            await service.index_person(session, index, int(event.data["user_id"]))

    return {
        "post.created": post_changed,
        "post.updated": post_changed,
        "post.deleted": post_deleted,
        "user.registered": person_registered,
        "user.updated": person_updated,
    }


def register(bus: EventBus, db: Database, *, index: SearchIndex) -> None:
    """Subscribe the search indexer to `bus` (`workers.registry` wires it)."""
    effects = _effects(index)

    async def dispatch(session: AsyncSession, event: Event) -> None:
        await effects[event.type](session, event)

    bus.subscribe(CONSUMER, list(effects), idempotent(db, CONSUMER, dispatch))
