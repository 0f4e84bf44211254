"""The `search-indexer` consumer: the index follows what people and posts say.

Each handler reads the current row rather than trusting the event's data, so
events that arrive late, twice or out of order leave the index matching the
tables; `kit.outbox.idempotent` makes each event count once besides. Comments
are not searchable, and blocks and friendships are read at query time, so
neither is indexed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.events import Event, EventBus
from minifb.adapters.search import SearchIndex
from minifb.kit.db import Database
from minifb.kit.outbox import consume_in_batches
from minifb.search import service

CONSUMER = "search-indexer"
# What a person is found by.
SEARCHED_FIELDS = frozenset({"username", "display_name"})
Effect = Callable[[AsyncSession, Event], Awaitable[None]]
# Indexed as the post's row holds it now, so a run of them goes together.
POST_WRITES = frozenset({"post.created", "post.updated"})


def _effects(index: SearchIndex) -> dict[str, Effect]:
    """What each event but a post's writing does (those are indexed together)."""

    async def post_deleted(session: AsyncSession, event: Event) -> None:
        await service.forget_post(session, index, int(event.data["post_id"]))

    async def person_registered(session: AsyncSession, event: Event) -> None:
        await service.index_person(session, index, int(event.data["user_id"]))

    async def person_updated(session: AsyncSession, event: Event) -> None:
        if SEARCHED_FIELDS.intersection(event.data.get("fields", ())):
            await service.index_person(session, index, int(event.data["user_id"]))

    return {
        "post.deleted": post_deleted,
        "user.registered": person_registered,
        "user.updated": person_updated,
    }


def register(bus: EventBus, db: Database, *, index: SearchIndex) -> None:
    """Subscribe the search indexer to `bus`, in batches (`workers.registry` wires it):
    a run of new and edited posts in a batch is read and indexed together."""
    effects = _effects(index)

    async def dispatch(session: AsyncSession, events: Sequence[Event]) -> None:
        posts: list[int] = []
        for event in events:
            if event.type in POST_WRITES:
                posts.append(int(event.data["post_id"]))
                continue
            if posts:
                await service.index_posts(session, index, posts)
                posts = []
            await effects[event.type](session, event)
        if posts:
            await service.index_posts(session, index, posts)

    types = [*sorted(POST_WRITES), *effects]
    consume_in_batches(bus, db, CONSUMER, types, dispatch)
