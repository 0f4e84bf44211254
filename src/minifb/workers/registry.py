"""What runs beside the routes: each service's event consumers and housekeeping jobs.

Each consumer entry subscribes its handlers to the container's bus, handing
the service's `register` what its handlers use: the consumers are wired
here, so this module knows the container and the services need not. The
only bus so far is in-process, so every consumer runs inside the server
process, off the request path; a bus between processes would let a worker
process (or a Lambda) run the ones it is given instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from minifb.bootstrap import Container
from minifb.kit import idempotency, outbox
from minifb.kit.db import Database
from minifb.media import service as media
from minifb.notifications import handlers as notifications_handlers
from minifb.notifications import push as stream_push
from minifb.posts import handlers as posts_handlers
from minifb.search import handlers as search_handlers

Registration = Callable[[Container], None]


def _feed(c: Container) -> None:
    posts_handlers.register(c.bus, c.db, cache=c.cache, policy=c.feed_policy)


def _notifications(c: Container) -> None:
    notifications_handlers.register(c.bus, c.db)


def _stream(c: Container) -> None:
    stream_push.register(c.bus, c.hub)
    c.presence.register(c.bus)


def _search_indexer(c: Container) -> None:
    search_handlers.register(c.bus, c.db, index=c.search)


CONSUMERS: dict[str, Registration] = {
    # The news feed: fan-out of new posts, and relationship changes (DESIGN §5).
    "feed": _feed,
    # Notifications of what others did: requests, comments, reactions, mentions.
    "notifications": _notifications,
    # The real-time stream: messages, read receipts, notifications and presence, pushed.
    "stream": _stream,
    # The search index: posts and people as they are written, changed and deleted.
    "search-indexer": _search_indexer,
}


def subscribe_all(container: Container, names: list[str] | None = None) -> None:
    """Subscribe the named consumers (all when None) to the container's bus."""
    for name in names if names is not None else list(CONSUMERS):
        CONSUMERS[name](container)


def schedule_all(container: Container) -> None:
    """Register every service's housekeeping jobs with the container's housekeeper."""
    keep = timedelta(days=container.settings.event_retention_days)
    container.housekeeper.add("outbox", partial(outbox.purge, keep=keep))
    container.housekeeper.add("idempotency_keys", idempotency.purge_expired)
    container.housekeeper.add("media", partial(_stale_media, container))


async def _stale_media(container: Container, db: Database, now: datetime) -> int:
    """Uploads attached to nothing a day after they were made go, with their files."""
    return await media.remove_stale(db, container.media, now)
