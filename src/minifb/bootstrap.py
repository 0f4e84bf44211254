"""The one place that turns settings into adapter instances (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from minifb.adapters.cache import Cache, create_cache
from minifb.adapters.events import EventBus, create_event_bus
from minifb.adapters.secrets import SecretStore, create_secret_store
from minifb.adapters.telemetry.metrics import Metrics
from minifb.auth.passwords import PasswordHasher
from minifb.auth.revocations import Revocations
from minifb.auth.tokens import AccessTokenCodec, KeySet, load_keyset
from minifb.config import Settings
from minifb.kit import ids
from minifb.kit.db import Database
from minifb.kit.housekeeping import Housekeeper
from minifb.kit.outbox import OutboxRelay


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
    metrics: Metrics

    async def start(self) -> None:
        await self.revocations.start()
        await self.bus.start()
        await self.relay.start()
        await self.housekeeper.start()

    async def close(self) -> None:
        await self.revocations.stop()
        await self.housekeeper.stop()
        await self.relay.stop()
        await self.bus.close()
        await self.cache.close()
        await self.db.dispose()
        self.passwords.close()


async def build_container(settings: Settings, *, metrics: Metrics | None = None) -> Container:
    """Build the adapters the settings name; nothing here runs at import time."""
    ids.configure(settings.resolved_worker_id)
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
    bus = create_event_bus(settings.events_url)
    secrets = create_secret_store(settings.secrets_url)
    dev_keys = settings.var_dir / "keys" if settings.environment != "production" else None
    keyset = await load_keyset(secrets, dev_key_dir=dev_keys)
    tokens = AccessTokenCodec(
        keyset,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.access_token_ttl,
    )
    return Container(
        settings=settings,
        db=db,
        cache=cache,
        bus=bus,
        relay=OutboxRelay(db, bus),
        housekeeper=Housekeeper(db),
        secrets=secrets,
        keyset=keyset,
        tokens=tokens,
        passwords=PasswordHasher(),
        # The database is the record of ended logins; a minute past the token
        # lifetime covers clocks that disagree a little.
        revocations=Revocations(db, keep_seconds=settings.access_token_ttl + 60),
        metrics=metrics or Metrics(),
    )
