"""The one place that turns settings into objects (the composition root).

Nothing else reads the settings but the app's assembly (`main`, the gateway):
each part declares what it reads of the container as a Protocol of ports
(`kit.deps.Ports`, `auth.deps.AuthPorts`, `posts.feed_endpoints.FeedPorts`,
`gateway.ops.Probed`, ...), `main.AppPorts` gathers them, and mypy checks that
the `Container` provides them all where the app receives it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import make_url

from minifb.adapters.cache import Cache, create_cache
from minifb.adapters.events import EventBus, create_event_bus
from minifb.adapters.leases import FileLeases, LeaseStore, RedisLeases
from minifb.adapters.search import SearchIndex
from minifb.adapters.search.opensearch import OpenSearchIndex
from minifb.adapters.secrets import SecretStore, create_secret_store
from minifb.adapters.storage import S3Storage, create_storage
from minifb.adapters.telemetry.metrics import Metrics
from minifb.auth.passwords import PasswordHasher
from minifb.auth.policy import LoginPolicy
from minifb.auth.revocations import Revocations
from minifb.auth.tokens import AccessTokenCodec, KeySet, load_keyset
from minifb.auth.verifier import LoginVerifier
from minifb.config import Settings
from minifb.kit import ids
from minifb.kit.db import Database
from minifb.kit.db_leases import DatabaseLeases
from minifb.kit.housekeeping import Housekeeper
from minifb.kit.outbox import OutboxRelay
from minifb.kit.schema import SchemaCheck
from minifb.kit.worker_ids import WorkerIdLease
from minifb.media import service as media
from minifb.media.images import ImagePool
from minifb.messages import service as messages
from minifb.notifications.hub import Hub, StreamPolicy
from minifb.notifications.presence import Presence, PresencePolicy
from minifb.posts.policy import FeedPolicy
from minifb.search.repository import DatabaseIndex
from minifb.users import service as users

log = logging.getLogger("minifb.main")


@dataclass
class Container:
    """Every long-lived object of one process, built once at start-up."""

    settings: Settings
    db: Database
    cache: Cache
    bus: EventBus
    relay: OutboxRelay
    housekeeper: Housekeeper
    secrets: SecretStore
    keyset: KeySet
    tokens: AccessTokenCodec
    passwords: PasswordHasher
    revocations: Revocations
    verifier: LoginVerifier
    metrics: Metrics
    login_policy: LoginPolicy
    feed_policy: FeedPolicy
    schema: SchemaCheck
    worker_ids: WorkerIdLease
    hub: Hub
    presence: Presence
    search: SearchIndex
    media: media.MediaStore

    def probes(self) -> dict[str, Callable[[], Awaitable[object]]]:
        """What readiness checks, by its name in the answer: every adapter of this
        process that a request needs, the database's schema at the newest migration,
        the lease of the worker id it mints with, and the ended logins it checks
        tokens against. A later adapter joins here."""
        return {
            "database": self.db.ping,
            "schema": self.schema.ping,
            "cache": self.cache.ping,
            "events": self.bus.ping,
            "worker_id": self.worker_ids.check,
            "ended_logins": self.revocations.check,
            "search": self.search.ping,
            "storage": self.media.storage.ping,
        }

    async def start(self) -> None:
        await self.worker_ids.start()
        await self.revocations.start()
        await self.bus.start()
        await self.relay.start()
        await self.housekeeper.start()
        await self.hub.start()
        await self.presence.start()

    async def close(self) -> None:
        await self.presence.stop()
        await self.hub.stop()
        await self.revocations.stop()
        await self.housekeeper.stop()
        await self.relay.stop()
        await self.worker_ids.stop()
        await self.bus.close()
        await self.cache.close()
        await self.db.dispose()
        self.passwords.close()
        self.media.images.close()
        if isinstance(self.media.storage, S3Storage):
            self.media.storage.close()


async def build_container(settings: Settings, *, metrics: Metrics | None = None) -> Container:
    """Build the adapters the settings name; nothing here runs at import time."""
    db = Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        ca_cert=settings.database_ca_cert,
        connect_timeout=settings.database_connect_timeout,
        pool_timeout=settings.database_pool_timeout,
    )
    cache = create_cache(
        settings.cache_url, prefix=settings.cache_prefix, timeout=settings.cache_timeout
    )
    bus = create_event_bus(settings.events_url, prefix=settings.events_prefix)
    relay = OutboxRelay(db, bus)
    # Every commit hands the relay the events it wrote (`Database.commit`, docs/decisions/0125).
    db.on_events_committed(relay.hand_over)
    secrets = create_secret_store(settings.secrets_url)
    dev_keys = settings.var_dir / "keys" if settings.environment != "production" else None
    keyset = await load_keyset(secrets, dev_key_dir=dev_keys)
    tokens = AccessTokenCodec(
        keyset,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl,
    )
    # The database is the record of ended logins (docs/decisions/0102); a minute
    # past the token lifetime covers clocks that disagree a little.
    revocations = Revocations(db, keep_seconds=settings.access_token_ttl + 60)
    verifier = LoginVerifier(tokens, revocations)
    metrics = metrics or Metrics()
    hub = Hub(cache, verifier, metrics, stream_policy(settings), membership=ConversationMembers(db))
    presence_policy = PresencePolicy(ttl=settings.presence_ttl, grace=settings.presence_grace)
    return Container(
        settings=settings,
        db=db,
        cache=cache,
        bus=bus,
        relay=relay,
        housekeeper=Housekeeper(db),
        secrets=secrets,
        keyset=keyset,
        tokens=tokens,
        passwords=PasswordHasher(),
        revocations=revocations,
        verifier=verifier,
        metrics=metrics,
        login_policy=LoginPolicy(
            refresh_ttl=settings.refresh_token_ttl, throttle=settings.auth_throttle
        ),
        feed_policy=FeedPolicy(
            size=settings.feed_size,
            fanout_limit=settings.feed_fanout_limit,
            merge_authors=settings.feed_merge_authors,
        ),
        schema=SchemaCheck(db),
        worker_ids=worker_id_lease(settings, db),
        hub=hub,
        presence=Presence(cache, hub, PeoplePresence(db), presence_policy),
        search=create_search_index(settings),
        media=media_store(settings),
    )


def create_search_index(settings: Settings) -> SearchIndex:
    """The search index `MINIFB_SEARCH_URL` names: `database://` (or `auto`) for the
    database's own full-text search (FTS5 on SQLite, tsvector on PostgreSQL), an
    `opensearch+https://` URL for OpenSearch (docs/decisions/0124)."""
    url = settings.search_url
    if url in ("database://", "auto"):
        return DatabaseIndex("sqlite" if settings.is_sqlite else "postgresql")
    return OpenSearchIndex.from_url(
        url, prefix=settings.search_index_prefix, region=settings.aws_region
    )


def media_store(settings: Settings) -> media.MediaStore:
    """The storage the settings name, the bounded pool images are processed in, and
    the limits of uploads (docs/decisions/0123)."""
    storage = create_storage(
        settings.storage_url,
        region=settings.aws_region,
        endpoint_url=settings.storage_endpoint_url,
        kms_key_id=settings.storage_kms_key_id,
    )
    policy = media.MediaPolicy(
        max_bytes=settings.media_max_bytes,
        max_pixels=settings.media_max_pixels,
        url_ttl=settings.media_url_ttl,
    )
    images = ImagePool(settings.media_workers, max_pixels=settings.media_max_pixels)
    return media.MediaStore(storage=storage, images=images, policy=policy)


def stream_policy(settings: Settings) -> StreamPolicy:
    return StreamPolicy(
        queue_size=settings.stream_queue_size,
        max_frame=settings.stream_max_frame,
        ping_interval=settings.stream_ping_interval,
        ping_timeout=settings.stream_ping_timeout,
    )


class ConversationMembers:
    """The stream's view of conversations (`notifications.hub.Membership`), from the
    messages service: who may hear that a member is typing."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def members_if_member(self, conversation_id: int, user_id: int) -> list[int] | None:
        async with self._db.session() as session:
            return await messages.members_if_member(session, conversation_id, user_id)


class PeoplePresence:
    """Presence's view of people (`notifications.presence.PresenceStore`), from the
    users service: who sees whose active status, and when each was last active."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def audience(self, user_id: int) -> users.Audience:
        async with self._db.session() as session:
            return await users.presence_audience(session, user_id)

    async def record_last_active(self, user_id: int, at: datetime) -> None:
        async with self._db.transaction() as session:
            await users.record_last_active(session, user_id, at)


def worker_id_lease(settings: Settings, db: Database) -> WorkerIdLease:
    """This process's worker id lease (started by the caller), in the store the settings
    name or, by default, the database on PostgreSQL and lock files beside a SQLite
    database (docs/decisions/0115)."""
    return WorkerIdLease(lease_store(settings, db), ttl=settings.worker_id_lease_ttl)


def lease_store(settings: Settings, db: Database) -> LeaseStore:
    kind = settings.worker_id_lease
    if kind == "auto":
        kind = "file" if settings.is_sqlite else "database"
    if kind == "database":
        return DatabaseLeases(db, size=ids.WORKER_IDS)
    if kind == "redis":  # the settings made sure the cache is a Redis
        return RedisLeases.from_url(
            settings.cache_url,
            prefix=settings.cache_prefix,
            size=ids.WORKER_IDS,
            timeout=min(5.0, settings.worker_id_lease_ttl / 6),
        )
    return FileLeases(worker_id_lock_dir(settings), size=ids.WORKER_IDS)


def worker_id_lock_dir(settings: Settings) -> Path:
    """Where the lock files of worker ids are: beside a SQLite database's file, so that
    every process using that file finds the same ones whatever its var dir."""
    database = make_url(settings.database_url).database
    if settings.is_sqlite and database and database != ":memory:":
        return Path(f"{database}.worker-ids")
    return settings.var_dir / "worker-ids"


async def start_when_migrated(container: Container) -> asyncio.Task[None] | None:
    """Start the container's background work (the outbox relay, housekeeping, the
    ended logins), which reads the tables the migrations create: now if the schema
    is at the head, else in a task, once it is (as a migration job runs beside a
    new release); meanwhile readiness answers 503 saying why."""
    await container.schema.start()
    if container.schema.at_head:
        await container.start()
        return None

    async def start_later() -> None:
        await container.schema.wait()
        try:
            await container.start()
        except Exception:
            # Nobody awaits this task until shutdown: say so now.
            log.exception("the background work could not start")

    return asyncio.create_task(start_later(), name="start-when-migrated")
