"""What runs beside the routes: each service's event consumers and housekeeping jobs.

Each consumer entry subscribes its handlers to the container's bus, handing
the service's `register` what its handlers use: the consumers are wired
here, so this module knows the container and the services need not. On the
in-process bus every consumer runs inside the server process, off the
request path; on a broker a server runs only those its settings name
(`stream` by default) and `minifb worker NAME` runs the others
(`run_in_process` is how both choose).
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
from minifb.notifications import presence
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

# Every consumer the registrations subscribe on a bus: each entry's own, and `presence`,
# which the stream's subscribes beside `stream` (what a broker has queues of).
BUS_CONSUMERS = [*CONSUMERS, presence.CONSUMER]

HOUSEKEEPING = "housekeeping"
# The names a process can be given to run: every consumer, and the housekeeping jobs.
WORKERS = [*CONSUMERS, HOUSEKEEPING]


def resolve(names: list[str] | None) -> list[str]:
    """The names given (None: all of them), each once; ValueError names an unknown one."""
    if names is None:
        return list(WORKERS)
    unknown = [name for name in names if name not in WORKERS]
    if unknown:
        raise ValueError(f"no worker named {', '.join(unknown)}; there are {', '.join(WORKERS)}")
    return list(dict.fromkeys(names))


def run_in_process(container: Container, names: list[str] | None) -> list[str]:
    """Subscribe the named consumers and schedule the housekeeping jobs if named (None:
    everything); returns the names, resolved."""
    chosen = resolve(names)
    subscribe_all(container, [name for name in chosen if name in CONSUMERS])
    if HOUSEKEEPING in chosen:
        schedule_all(container)
    return chosen


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
