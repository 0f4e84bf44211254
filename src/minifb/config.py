"""Settings: one URL per adapter, read from `MINIFB_*` and the seed's variable names."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, quote, urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


# Driverless schemes, as the seed and PaaS write them, and the async driver each runs on.
_ASYNC_SCHEMES = {
    "postgresql://": "postgresql+asyncpg://",
    "postgres://": "postgresql+asyncpg://",
    "sqlite://": "sqlite+aiosqlite://",
}


def _async_database_url(url: str) -> str:
    """`url` with its driverless scheme replaced by the async driver's; the rest kept as written.

    libpq's TLS parameters (`sslmode`, `sslrootcert`, ...) are refused: asyncpg
    takes no such keywords, so the first connection would fail long after start.
    """
    for plain, driver in _ASYNC_SCHEMES.items():
        if url.startswith(plain):
            url = driver + url[len(plain) :]
            break
    if url.startswith("postgresql"):
        ssl_keys = sorted({k for k, _ in parse_qsl(urlsplit(url).query) if k.startswith("ssl")})
        if ssl_keys:
            raise ValueError(
                f"the database URL's {', '.join(ssl_keys)} is not supported: remove it and "
                "set MINIFB_DATABASE_CA_CERT to the CA file (TLS with the chain and host "
                "name verified)"
            )
    return url


class Settings(BaseSettings):
    """Everything the app reads from its environment.

    Each adapter is picked by one URL. The seed's names (`DATABASE_URL`,
    `RDS_*`, `REDIS_URL`, `ELASTICACHE_*`, ...) are accepted as well, so its
    manifests work unchanged; a `MINIFB_*` name wins over a seed name.
    """

    model_config = SettingsConfigDict(
        env_prefix="MINIFB_",
        # Read from ./.env too; a variable set in the environment wins over the file.
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    environment: Literal["development", "production", "test"] = "development"
    var_dir: Path = Path("var")

    # Adapters: one URL each (DESIGN §1).
    database_url: str = Field(
        "sqlite+aiosqlite:///./var/minifb.db",
        validation_alias=_alias("MINIFB_DATABASE_URL", "DATABASE_URL"),
    )
    database_pool_size: int = Field(20, ge=1)
    database_pool_warm: int = Field(10, ge=0)
    """Connections a server process opens in each pool as it starts (at most the pool
    size), so that its first busy second does not open them on the request path."""
    database_connect_timeout: float = Field(2.0, gt=0, le=60)
    """Seconds to open a connection before the database counts as unreachable (DESIGN §8)."""
    database_pool_timeout: float = Field(2.0, gt=0, le=60)
    """Seconds a request waits for a pooled connection before it answers 503."""
    database_ca_cert: str | None = Field(
        None, validation_alias=_alias("MINIFB_DATABASE_CA_CERT", "RDS_CA_CERT")
    )
    cache_url: str = Field("memory://", validation_alias=_alias("MINIFB_CACHE_URL", "REDIS_URL"))
    cache_prefix: str = "minifb:"
    cache_timeout: float = Field(0.5, gt=0, le=30)
    """Seconds a call to a remote cache may take before it counts as failed (DESIGN §8)."""
    events_url: str = Field("memory://", pattern=r"^(memory://|amqps?://)")
    """`memory://` (in process) or RabbitMQ's `amqp://USER:PASSWORD@HOST:5672/VHOST`
    (`amqps://` for TLS)."""
    server_consumers: Annotated[list[str] | None, NoDecode] = None
    """What of the event consumers and housekeeping a server process runs
    (comma-separated names of `minifb worker`, or `all`; empty: none). Unset: all
    of them on the in-process bus; with a broker only `stream` (which pushes to the
    sockets the servers hold), the rest running as `minifb worker NAME`."""
    events_prefix: str = Field("mini-facebook-", pattern=r"^[A-Za-z0-9._-]*$")
    """What the broker's exchange and queues are named after (`{prefix}events`,
    `{prefix}{consumer}`), so that several deployments can share a virtual host."""
    storage_url: str = ""
    """`file://PATH` or `s3://BUCKET[/PREFIX]`; unset, `media` under the var dir."""
    search_url: str = Field(
        "database://",
        validation_alias=_alias("MINIFB_SEARCH_URL", "OPENSEARCH_ENDPOINT", "ELASTICSEARCH_URL"),
    )
    """The search index: `database://` (or `auto`), the database's own full-text search
    (SQLite FTS5, PostgreSQL tsvector + GIN); `opensearch+https://host` for OpenSearch,
    SigV4-signed when the host is under `.amazonaws.com` (docs/decisions/0124)."""
    search_index_prefix: str = Field("minifb", pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$")
    """Names OpenSearch's indexes (`<prefix>-people`, `<prefix>-posts`); the
    database's own search index ignores it. SigV4 signing uses `aws_region`."""
    secrets_url: str = "env://"
    aws_region: str = Field("us-east-1", validation_alias=_alias("MINIFB_AWS_REGION", "AWS_REGION"))

    # Seed-style parts, composed into the URLs above when no URL is given.
    rds_hostname: str | None = Field(None, validation_alias="RDS_HOSTNAME")
    rds_proxy_endpoint: str | None = Field(None, validation_alias="RDS_PROXY_ENDPOINT")
    rds_port: int = Field(5432, validation_alias="RDS_PORT")
    rds_db_name: str | None = Field(None, validation_alias="RDS_DB_NAME")
    rds_username: str | None = Field(None, validation_alias="RDS_USERNAME")
    rds_password: str | None = Field(None, validation_alias="RDS_PASSWORD")
    elasticache_endpoint: str | None = Field(None, validation_alias="ELASTICACHE_ENDPOINT")
    elasticache_auth_token: str | None = Field(None, validation_alias="ELASTICACHE_AUTH_TOKEN")
    elasticache_cluster_mode: bool = Field(False, validation_alias="ELASTICACHE_CLUSTER_MODE")
    s3_bucket_name: str | None = Field(None, validation_alias="S3_BUCKET_NAME")

    # auth
    jwt_issuer: str = "minifb"
    jwt_audience: str = "minifb-api"
    access_token_ttl: int = Field(900, ge=60, le=3600)
    refresh_token_ttl: int = Field(30 * 24 * 3600, ge=3600)
    auth_throttle: bool = True

    # news feed (DESIGN §5)
    feed_size: int = Field(800, ge=1, le=10_000)
    """How many post ids each person's feed keeps (older ones fall off; a rebuild reads as many)."""
    feed_fanout_limit: int = Field(5000, ge=0)
    """Authors with more followers are not fanned out: their posts are merged in at read time."""
    feed_merge_authors: int = Field(100, ge=0, le=1000)
    """At most this many such followed authors are merged into one feed read."""

    # the real-time stream (docs/decisions/0121)
    stream_queue_size: int = Field(256, ge=1, le=100_000)
    """Frames waiting for one socket; a socket whose queue is full is closed (4000)."""
    stream_max_frame: int = Field(4096, ge=64, le=1024 * 1024)
    """The largest frame a client may send, in bytes; a bigger one closes the socket (1009)."""
    stream_ping_interval: float = Field(25.0, gt=0, le=3600)
    """A socket quiet this many seconds gets a `ping` frame."""
    stream_ping_timeout: float = Field(20.0, gt=0, le=3600)
    """A pinged socket that sends nothing for this many more seconds is closed (4001)."""
    presence_ttl: float = Field(60.0, ge=3, le=3600)
    """A process's word that someone is online lasts this long unless renewed (a third of it)."""
    presence_grace: float = Field(10.0, ge=0, le=3600)
    """Someone whose last stream socket closed stays online this long (a reload, a reconnect)."""

    # events (DESIGN §4)
    event_retention_days: int = Field(7, ge=1)
    """Published events and the marks of handled ones are removed after this many days."""

    # API documentation
    docs: bool | None = None
    """Serve /docs, /redoc and /openapi.json; unset, they are served except in production."""

    # gateway
    rate_limit: str = Field("2000/5m", pattern=r"^(off|\d+/\d+[smh])$")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = 1024 * 1024
    log_level: str = "INFO"
    log_format: Literal["console", "json"] | None = None
    """One readable line per record (`console`, coloured on a terminal) or one JSON
    object (`json`); unset, JSON in production and the console format elsewhere."""
    metrics_token: SecretStr | None = None
    """The bearer token `/metrics` asks for; unset, it is served only to callers on
    this host, and never in production (docs/decisions/0116)."""
    worker_id_lease: Literal["auto", "database", "redis", "file"] = "auto"
    """Where each process leases its Snowflake worker id (docs/decisions/0115): "auto" is
    the database on PostgreSQL and lock files beside a SQLite database; "redis" needs a
    Redis cache (its URL and prefix); "file" suits processes on one host only."""
    worker_id_lease_ttl: float = Field(60.0, ge=1.0, le=3600.0)
    """Seconds a worker id lease lasts unrenewed; renewed every sixth of it, and ids stop
    being minted a sixth of it before it would lapse."""
    # media (docs/decisions/0123); the storage itself is `storage_url` above
    storage_endpoint_url: str | None = Field(
        None, validation_alias=_alias("MINIFB_STORAGE_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    """An S3-compatible endpoint of its own (MinIO, a VPC endpoint); unset, AWS's for the region."""
    storage_kms_key_id: str | None = None
    """With an s3:// storage, objects are encrypted with this KMS key (aws:kms); unset, AES256."""
    media_url_ttl: int = Field(3600, ge=60, le=7 * 24 * 3600)
    """Seconds a media URL (presigned on S3, HMAC-signed on local disk) stays valid."""
    media_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    """The largest upload, in bytes; a bigger one is 413 before the rest of it is read."""
    media_max_pixels: int = Field(33_000_000, ge=10_000, le=200_000_000)
    """The most pixels an image may have; a bigger one is refused before it is decoded."""
    media_workers: int = Field(1, ge=1, le=64)
    """Threads that decode and re-encode images; more uploads at once wait their turn. One
    leaves the other core of a 2-core machine to the event loop (docs/performance.md)."""
    gc_threshold: str = Field("50000,20,100", pattern=r"^(off|\d+,\d+,\d+)$")
    """A server process's garbage-collector thresholds, set once it has started (with
    what start-up built frozen out of collection); "off" keeps Python's 700,10,10."""

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, data: Any) -> Any:
        # Lists come from the environment as comma-separated strings.
        if isinstance(data, dict):
            for name in ("trusted_proxies", "cors_origins", "server_consumers"):
                for key in (name, f"MINIFB_{name.upper()}"):
                    value = data.get(key)
                    if isinstance(value, str):
                        data[key] = [p.strip() for p in value.split(",") if p.strip()]
        return data

    @field_validator("metrics_token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (e.g. `openssl rand -hex 32`)")
        return token

    @field_validator("database_url")
    @classmethod
    def _use_async_driver(cls, url: str) -> str:
        return _async_database_url(url)

    @model_validator(mode="after")
    def _compose_seed_urls(self) -> Settings:
        given = self.model_fields_set
        host = self.rds_proxy_endpoint or self.rds_hostname
        if "database_url" not in given and host and self.rds_db_name:
            user = quote(self.rds_username or "postgres", safe="")
            password = f":{quote(self.rds_password, safe='')}" if self.rds_password else ""
            url = f"postgresql+asyncpg://{user}{password}@{host}:{self.rds_port}/{self.rds_db_name}"
            object.__setattr__(self, "database_url", url)
        if "cache_url" not in given and self.elasticache_endpoint:
            scheme = "rediss+cluster" if self.elasticache_cluster_mode else "rediss"
            token = self.elasticache_auth_token
            auth = f":{quote(token, safe='')}@" if token else ""
            endpoint = self.elasticache_endpoint
            if ":" not in endpoint:
                endpoint += ":6379"
            object.__setattr__(self, "cache_url", f"{scheme}://{auth}{endpoint}")
        if "storage_url" not in given and self.s3_bucket_name:
            object.__setattr__(self, "storage_url", f"s3://{self.s3_bucket_name}")
        if not self.storage_url:
            object.__setattr__(self, "storage_url", f"file://{self.var_dir.resolve() / 'media'}")
        return self

    @model_validator(mode="after")
    def _lease_where_it_can(self) -> Settings:
        # After the seed's URLs are composed: ELASTICACHE_ENDPOINT makes a Redis cache too.
        if self.worker_id_lease == "redis" and not self.cache_url.startswith("redis"):
            raise ValueError(
                "MINIFB_WORKER_ID_LEASE=redis leases worker ids in the cache's Redis: "
                "set MINIFB_CACHE_URL to a redis://, rediss:// or redis+cluster:// URL"
            )
        return self

    @property
    def in_process_events(self) -> bool:
        return self.events_url.startswith("memory://")

    @property
    def consumers_in_server(self) -> list[str] | None:
        """The names `server_consumers` gives (None: all of them), its default filled in."""
        if self.server_consumers is None:
            return None if self.in_process_events else ["stream"]
        if "all" in self.server_consumers:
            return None
        return list(self.server_consumers)

    @property
    def gc_thresholds(self) -> tuple[int, int, int] | None:
        """`gc_threshold` as the three numbers `gc.set_threshold` takes, or None when off."""
        if self.gc_threshold == "off":
            return None
        first, second, third = (int(n) for n in self.gc_threshold.split(","))
        return first, second, third

    @property
    def serves_docs(self) -> bool:
        """Whether /docs, /redoc and /openapi.json are served (`docs`, else not in production)."""
        return self.docs if self.docs is not None else self.environment != "production"

    @property
    def rate_limit_rule(self) -> tuple[int, int] | None:
        """The per-IP limit as (requests, window seconds), or None when off."""
        if self.rate_limit == "off":
            return None
        count, window = self.rate_limit.split("/")
        seconds = int(window[:-1]) * {"s": 1, "m": 60, "h": 3600}[window[-1]]
        return int(count), seconds

    @property
    def resolved_log_format(self) -> Literal["console", "json"]:
        """`log_format`, or the environment's default when it is unset."""
        if self.log_format is not None:
            return self.log_format
        return "json" if self.environment == "production" else "console"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
