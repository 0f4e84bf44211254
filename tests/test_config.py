"""Settings: MINIFB_ names, the seed's names, and composition of seed-style parts."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import ValidationError

from minifb.adapters.cache import GuardedCache, RedisClusterCache
from minifb.config import Settings
from minifb.main import create_app
from minifb.posts import feed
from tests.factories import register
from tests.fixtures.redis_cluster import RedisCluster, redis_cluster

__all__ = ["redis_cluster"]  # the fixture, imported for the tests below


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


class TestSettings:
    def test_defaults_are_the_embedded_tier(self) -> None:
        s = Settings(_env_file=None)  # type: ignore[call-arg]
        assert s.database_url.startswith("sqlite+aiosqlite://")
        assert s.cache_url == "memory://"
        assert s.rate_limit_rule == (2000, 300)

    def test_seed_database_url_is_accepted(self, monkeypatch: pytest.MonkeyPatch) -> None:
        s = _settings(monkeypatch, DATABASE_URL="postgresql+asyncpg://u@db/app")
        assert s.database_url == "postgresql+asyncpg://u@db/app"

    def test_minifb_name_wins_over_seed_name(self, monkeypatch: pytest.MonkeyPatch) -> None:
        s = _settings(
            monkeypatch,
            DATABASE_URL="postgresql+asyncpg://seed/x",
            MINIFB_DATABASE_URL="sqlite+aiosqlite:///a.db",
        )
        assert s.database_url == "sqlite+aiosqlite:///a.db"

    def test_rds_parts_compose_a_url_preferring_the_proxy(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        s = _settings(
            monkeypatch,
            RDS_HOSTNAME="db.internal",
            RDS_PROXY_ENDPOINT="proxy.internal",
            RDS_PORT="6432",
            RDS_DB_NAME="minifb",
            RDS_USERNAME="app",
            RDS_PASSWORD="p@ss/word",
            RDS_CA_CERT="/etc/ssl/rds.pem",
        )
        assert s.database_url == "postgresql+asyncpg://app:p%40ss%2Fword@proxy.internal:6432/minifb"
        assert s.database_ca_cert == "/etc/ssl/rds.pem"

    def test_elasticache_parts_compose_a_tls_url(self, monkeypatch: pytest.MonkeyPatch) -> None:
        s = _settings(monkeypatch, ELASTICACHE_ENDPOINT="cache.aws", ELASTICACHE_AUTH_TOKEN="t0k")
        assert s.cache_url == "rediss://:t0k@cache.aws:6379"

    def test_elasticache_cluster_mode_composes_a_tls_cluster_url(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        s = _settings(
            monkeypatch,
            ELASTICACHE_ENDPOINT="config.cache.aws:6380",
            ELASTICACHE_AUTH_TOKEN="t0k/+",
            ELASTICACHE_CLUSTER_MODE="true",
        )
        assert s.cache_url == "rediss+cluster://:t0k%2F%2B@config.cache.aws:6380"

    @pytest.mark.redis
    async def test_elasticache_cluster_mode_starts_an_app_on_the_cluster(
        self,
        monkeypatch: pytest.MonkeyPatch,
        redis_cluster: RedisCluster,
        database_url: str,
        tmp_path: Path,
    ) -> None:
        # The seed's variables, naming a node's TLS port; its certificate is
        # signed by the run's own CA, which the system trusts for this test.
        monkeypatch.setenv("ELASTICACHE_ENDPOINT", redis_cluster.tls_endpoint)
        monkeypatch.setenv("ELASTICACHE_AUTH_TOKEN", redis_cluster.password)
        monkeypatch.setenv("ELASTICACHE_CLUSTER_MODE", "true")
        monkeypatch.setenv("SSL_CERT_FILE", str(redis_cluster.ca_file))
        prefix = f"minifb-test:{uuid.uuid4().hex}:"
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="test",
            database_url=database_url,
            cache_prefix=prefix,
            var_dir=tmp_path / "var",
            auth_throttle=False,
            log_level="WARNING",
        )
        assert settings.cache_url.startswith("rediss+cluster://")
        app = create_app(settings)
        try:
            async with LifespanManager(app) as manager:
                cache = app.state.container.cache
                assert isinstance(cache, GuardedCache)
                assert isinstance(cache.inner, RedisClusterCache)
                transport = httpx.ASGITransport(app=manager.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    author = await register(client)
                    posted = await client.post(
                        "/api/v1/posts", json={"text": "on a cluster"}, headers=author.headers
                    )
                    assert posted.status_code == 201, posted.text
                    page = await client.get("/api/v1/feed", headers=author.headers)
                    assert page.status_code == 200, page.text
                    assert [p["text"] for p in page.json()["items"]] == ["on a cluster"]
                    # Read through the cluster: the feed was built there.
                    assert await cache.zcard(feed.feed_key(int(author.id))) >= 1
                    assert cache.breaker.state == "closed"
        finally:
            await redis_cluster.delete_prefixed(prefix)

    def test_redis_url_and_search_and_bucket_names(self, monkeypatch: pytest.MonkeyPatch) -> None:
        s = _settings(
            monkeypatch,
            REDIS_URL="redis://r:6379/1",
            OPENSEARCH_ENDPOINT="opensearch+https://search",
            S3_BUCKET_NAME="media-bucket",
            AWS_REGION="eu-west-1",
        )
        assert (s.cache_url, s.search_url, s.storage_url, s.aws_region) == (
            "redis://r:6379/1",
            "opensearch+https://search",
            "s3://media-bucket",
            "eu-west-1",
        )

    def test_lists_and_switches(self, monkeypatch: pytest.MonkeyPatch) -> None:
        s = _settings(
            monkeypatch,
            MINIFB_TRUSTED_PROXIES="10.0.0.1, 10.1.0.0/16",
            MINIFB_RATE_LIMIT="off",
            MINIFB_AUTH_THROTTLE="off",
        )
        assert s.trusted_proxies == ["10.0.0.1", "10.1.0.0/16"]
        assert s.rate_limit_rule is None
        assert s.auth_throttle is False

    def test_bad_rate_limit_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with pytest.raises(ValueError, match="rate_limit"):
            _settings(monkeypatch, MINIFB_RATE_LIMIT="lots")

    def test_gc_threshold_is_three_numbers_or_off(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert Settings(_env_file=None).gc_thresholds == (50_000, 20, 100)  # type: ignore[call-arg]
        assert _settings(monkeypatch, MINIFB_GC_THRESHOLD="700,10,10").gc_thresholds == (
            700,
            10,
            10,
        )
        assert _settings(monkeypatch, MINIFB_GC_THRESHOLD="off").gc_thresholds is None
        with pytest.raises(ValidationError, match="gc_threshold"):
            _settings(monkeypatch, MINIFB_GC_THRESHOLD="lots")


class TestSeedUrlForms:
    """The seed and every PaaS write plain URLs; the app runs them on its async drivers."""

    @pytest.mark.parametrize(
        ("given", "used"),
        [
            (
                "postgresql://app:p%40ss@db.internal:6432/minifb",
                "postgresql+asyncpg://app:p%40ss@db.internal:6432/minifb",
            ),
            (
                "postgres://app:secret@db.internal/minifb?target_session_attrs=read-write",
                "postgresql+asyncpg://app:secret@db.internal/minifb?target_session_attrs=read-write",
            ),
            ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
            ("sqlite:///./var/a.db", "sqlite+aiosqlite:///./var/a.db"),
            ("sqlite+aiosqlite:///./var/a.db", "sqlite+aiosqlite:///./var/a.db"),
        ],
    )
    @pytest.mark.parametrize("name", ["DATABASE_URL", "MINIFB_DATABASE_URL"])
    def test_plain_database_urls_use_the_async_driver(
        self, monkeypatch: pytest.MonkeyPatch, name: str, given: str, used: str
    ) -> None:
        assert _settings(monkeypatch, **{name: given}).database_url == used

    def test_a_url_passed_in_code_is_normalised_too(self) -> None:
        s = Settings(_env_file=None, database_url="postgres://u@db/app")  # type: ignore[call-arg]
        assert s.database_url == "postgresql+asyncpg://u@db/app"

    @pytest.mark.parametrize(
        "query", ["sslmode=require", "sslrootcert=/ca.pem&sslmode=verify-full"]
    )
    def test_libpq_ssl_parameters_are_refused_naming_the_ca_setting(
        self, monkeypatch: pytest.MonkeyPatch, query: str
    ) -> None:
        # asyncpg takes no `sslmode` keyword: passed on, it would fail at the
        # first connection instead of at start.
        with pytest.raises(ValidationError, match="MINIFB_DATABASE_CA_CERT"):
            _settings(monkeypatch, DATABASE_URL=f"postgresql://u@db/app?{query}")

    @pytest.mark.parametrize(
        "url",
        [
            "redis://:pw@r:6379/1",
            "rediss://:pw@r:6380/0",
            "redis+cluster://r:7000",
            "rediss+cluster://:pw@r:7000",
        ],
    )
    def test_redis_url_reaches_the_cache_unchanged(
        self, monkeypatch: pytest.MonkeyPatch, url: str
    ) -> None:
        assert _settings(monkeypatch, REDIS_URL=url).cache_url == url

    async def test_a_plain_url_starts_the_app(self, database_url: str, tmp_path: Path) -> None:
        # The tier's database, named as the seed would: without a driver.
        plain = database_url.replace("+asyncpg://", "://", 1).replace("+aiosqlite://", "://", 1)
        assert "+" not in plain.split("://")[0]
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="test",
            database_url=plain,
            var_dir=tmp_path / "var",
            log_level="WARNING",
        )
        app = create_app(settings)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                assert (await client.get("/ready")).status_code == 200


class TestDotEnv:
    def test_a_dotenv_file_is_read_and_the_environment_wins(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        (tmp_path / ".env").write_text(
            "DATABASE_URL=postgres://u@db/app\nMINIFB_CACHE_PREFIX=from-file:\n"
            "MINIFB_LOG_LEVEL=DEBUG\n",
            encoding="utf-8",
        )
        monkeypatch.chdir(tmp_path)
        for name in ("DATABASE_URL", "MINIFB_DATABASE_URL", "MINIFB_CACHE_PREFIX"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("MINIFB_LOG_LEVEL", "WARNING")
        s = Settings()
        assert s.database_url == "postgresql+asyncpg://u@db/app"
        assert s.cache_prefix == "from-file:"
        assert s.log_level == "WARNING"


class TestOperationsSettings:
    @pytest.mark.parametrize(
        ("env", "expected"),
        [
            ({}, "console"),
            ({"MINIFB_ENVIRONMENT": "production"}, "json"),
            ({"MINIFB_ENVIRONMENT": "production", "MINIFB_LOG_FORMAT": "console"}, "console"),
            ({"MINIFB_LOG_FORMAT": "json"}, "json"),
        ],
    )
    def test_the_log_format_follows_the_environment_unless_set(
        self, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
    ) -> None:
        assert _settings(monkeypatch, **env).resolved_log_format == expected

    def test_an_unknown_log_format_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with pytest.raises(ValidationError, match="log_format"):
            _settings(monkeypatch, MINIFB_LOG_FORMAT="xml")

    def test_the_metrics_token_is_read_and_kept_out_of_reprs(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        s = _settings(monkeypatch, MINIFB_METRICS_TOKEN="a-long-enough-metrics-token")
        assert s.metrics_token is not None
        assert s.metrics_token.get_secret_value() == "a-long-enough-metrics-token"
        assert "a-long-enough" not in repr(s)

    def test_a_short_metrics_token_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with pytest.raises(ValidationError, match="at least 16 characters"):
            _settings(monkeypatch, MINIFB_METRICS_TOKEN="short")


class TestEventsSettings:
    AMQP = "amqp://guest:guest@127.0.0.1:5672/"

    @pytest.mark.parametrize(
        ("env", "expected"),
        [
            ({}, None),  # the in-process bus: every consumer in the server
            ({"MINIFB_EVENTS_URL": AMQP}, ["stream"]),  # a broker: the rest are workers
            ({"MINIFB_EVENTS_URL": AMQP, "MINIFB_SERVER_CONSUMERS": "all"}, None),
            ({"MINIFB_EVENTS_URL": AMQP, "MINIFB_SERVER_CONSUMERS": ""}, []),
            (
                {"MINIFB_EVENTS_URL": AMQP, "MINIFB_SERVER_CONSUMERS": "stream, housekeeping"},
                ["stream", "housekeeping"],
            ),
        ],
    )
    def test_which_consumers_a_server_runs(
        self, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: list[str] | None
    ) -> None:
        assert _settings(monkeypatch, **env).consumers_in_server == expected

    @pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "kafka://x", "amqp:/x"])
    def test_a_bus_url_of_no_known_kind_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, url: str
    ) -> None:
        with pytest.raises(ValidationError, match="events_url"):
            _settings(monkeypatch, MINIFB_EVENTS_URL=url)

    def test_a_prefix_with_characters_a_queue_name_should_not_have_is_refused(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with pytest.raises(ValidationError, match="events_prefix"):
            _settings(monkeypatch, MINIFB_EVENTS_PREFIX="a b/c")
