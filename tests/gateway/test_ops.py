"""Ops endpoints: /health (liveness), /ready (every adapter), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import hmac
import logging

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from minifb.gateway import ops
from minifb.kit.errors import PROBLEM_JSON
from minifb.migrations import upgrade
from tests.factories import register
from tests.fixtures.app import AppFactory
from tests.fixtures.deadline import bounded
from tests.fixtures.http import API
from tests.gateway.helpers import FakeAdapter, build_app, client_for, container_of, make_settings


class TestHealth:
    async def test_ok(self) -> None:
        async with client_for(build_app()) as client:
            response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_does_no_io(self) -> None:
        app = build_app()
        container = container_of(app)
        container.db = FakeAdapter(error=ConnectionError("database down"))
        async with client_for(app) as client:
            response = await client.get("/health")
        assert response.status_code == 200
        assert container.db.pings == 0


class TestReady:
    async def test_every_adapter_up(self) -> None:
        async with client_for(build_app()) as client:
            response = await client.get("/ready")
        assert response.status_code == 200
        assert response.json() == {
            "status": "ready",
            "checks": {"database": "ok", "cache": "ok", "events": "ok"},
        }

    async def test_the_cache_down_is_named(self) -> None:
        app = build_app()

        async def broken_ping() -> None:
            raise ConnectionError("redis://:secret@cache:6379 refused")

        container_of(app).cache.ping = broken_ping  # type: ignore[method-assign]
        async with client_for(app) as client:
            response = await client.get("/ready")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["status"] == 503
        assert "cache" in body["detail"]
        assert "database" not in body["detail"]
        assert body["checks"] == {"database": "ok", "cache": "down", "events": "ok"}
        assert "secret" not in response.text  # the reason stays in the log

    async def test_several_down_are_all_named(self) -> None:
        app = build_app()
        container_of(app).db = FakeAdapter(error=OSError("no route"))
        container_of(app).bus = FakeAdapter(error=OSError("no route"))
        async with client_for(app) as client:
            response = await client.get("/ready")
        assert response.status_code == 503
        assert "database" in response.json()["detail"]
        assert "events" in response.json()["detail"]

    async def test_a_hung_adapter_times_out(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(ops, "READY_TIMEOUT", 0.05)

        class Hung:
            async def ping(self) -> None:
                await asyncio.Event().wait()

        app = build_app()
        container_of(app).bus = Hung()
        async with client_for(app) as client:
            response = await client.get("/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["events"] == "timeout"

    async def test_adapters_are_checked_concurrently(self) -> None:
        # Each ping waits for the other to have started: run one after the
        # other, the first would time out.
        database_started, events_started = asyncio.Event(), asyncio.Event()

        class Database:
            async def ping(self) -> None:
                database_started.set()
                await events_started.wait()

        class Events:
            async def ping(self) -> None:
                events_started.set()
                await database_started.wait()

        app = build_app()
        container_of(app).db = Database()
        container_of(app).bus = Events()
        async with client_for(app) as client:
            response = await client.get("/ready")
        assert response.status_code == 200

    async def test_not_started_is_not_ready(self) -> None:
        app = build_app()
        del app.state.container
        async with client_for(app) as client:
            response = await client.get("/ready")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"


class TestMetricsEndpoint:
    async def test_prometheus_text_with_request_counts(self) -> None:
        async with client_for(build_app(), ip="127.0.0.1") as client:
            await client.get("/health")
            response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"] == CONTENT_TYPE_LATEST
        families = {f.name: f for f in text_string_to_metric_families(response.text)}
        samples = families["minifb_http_requests"].samples
        health = [
            s
            for s in samples
            if s.name == "minifb_http_requests_total" and s.labels["route"] == "/health"
        ]
        assert len(health) == 1
        assert health[0].labels == {"route": "/health", "method": "GET", "status": "200"}
        assert health[0].value == 1.0


TOKEN = "0123456789abcdef-metrics"


def problem_of(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert body["status"] == status
    return body


class TestMetricsWithAToken:
    """`MINIFB_METRICS_TOKEN` set: the bearer of the token scrapes, from anywhere."""

    def app(self) -> FastAPI:
        return build_app(make_settings(rate_limit="off", metrics_token=TOKEN))

    async def test_the_bearer_scrapes_from_anywhere(self) -> None:
        async with client_for(self.app(), ip="203.0.113.9") as client:
            response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert "minifb_http_requests_total" in response.text

    @pytest.mark.parametrize(
        "authorization",
        [None, f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", f"Basic {TOKEN}", TOKEN],
    )
    async def test_anything_else_is_401(self, authorization: str | None) -> None:
        headers = {"Authorization": authorization} if authorization is not None else {}
        # Even from this host: with a token set, the token is the only way in.
        async with client_for(self.app(), ip="127.0.0.1") as client:
            response = await client.get("/metrics", headers=headers)
        body = problem_of(response, 401)
        assert "MINIFB_METRICS_TOKEN" in str(body["detail"])
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "minifb_http_requests" not in response.text

    async def test_the_scheme_is_case_insensitive(self) -> None:
        async with client_for(self.app()) as client:
            response = await client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
        assert response.status_code == 200

    async def test_compared_in_constant_time(self, monkeypatch: pytest.MonkeyPatch) -> None:
        compared: list[tuple[bytes, bytes]] = []
        real = hmac.compare_digest

        def spy(given: bytes, expected: bytes) -> bool:
            compared.append((given, expected))
            return real(given, expected)

        monkeypatch.setattr(ops.hmac, "compare_digest", spy)
        async with client_for(self.app()) as client:
            await client.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert compared == [(b"guess", TOKEN.encode())]


class TestMetricsWithoutAToken:
    """No token: only a caller on this host, and never in production."""

    @pytest.mark.parametrize("ip", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
    async def test_served_on_this_host(self, ip: str) -> None:
        async with client_for(build_app(), ip=ip) as client:
            response = await client.get("/metrics")
        assert response.status_code == 200

    async def test_not_found_from_elsewhere(self) -> None:
        async with client_for(build_app(), ip="192.0.2.7") as client:
            response = await client.get("/metrics")
        body = problem_of(response, 404)
        assert "MINIFB_METRICS_TOKEN" in str(body["detail"])
        assert "minifb_http_requests" not in response.text

    @pytest.mark.parametrize(
        "header",
        [
            {"X-Forwarded-For": "198.51.100.1"},
            {"Forwarded": "for=198.51.100.1"},
            {"X-Real-IP": "198.51.100.1"},
        ],
    )
    async def test_not_through_a_proxy_on_this_host(self, header: dict[str, str]) -> None:
        # A sidecar or reverse proxy on this host relays everyone from 127.0.0.1.
        async with client_for(build_app(), ip="127.0.0.1") as client:
            response = await client.get("/metrics", headers=header)
        problem_of(response, 404)

    async def test_never_in_production(self) -> None:
        settings = make_settings(rate_limit="off", environment="production")
        async with client_for(build_app(settings), ip="127.0.0.1") as client:
            response = await client.get("/metrics")
        problem_of(response, 404)


class TestOnAnUnmigratedDatabase:
    """A server started before its migrations ran: not ready, saying why, in one log line;
    ready once they have run, without a restart."""

    @bounded(60)
    async def test_not_ready_until_migrated(
        self,
        unmigrated_database_url: str,
        make_client: AppFactory,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.WARNING)
        _, client = await make_client(database_url=unmigrated_database_url, ready=False)
        for _ in range(3):
            body = problem_of(await client.get("/ready"), 503)
            assert "database schema not migrated" in str(body["detail"])
            assert "run `minifb db upgrade`" in str(body["detail"])
            checks = body["checks"]
            assert isinstance(checks, dict)
            assert checks["schema"] == "outdated"
            assert checks["database"] == "ok"
        complaints = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(complaints) == 1
        assert complaints[0].startswith("database schema not migrated")

        await asyncio.to_thread(upgrade, unmigrated_database_url)
        # Ready without a restart, once the background work (the worker id lease, the
        # ended logins read) has started; the ended logins retry within 5 s.
        for _ in range(200):
            ready = await client.get("/ready")
            if ready.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert ready.status_code == 200
        assert set(ready.json()["checks"].values()) == {"ok"}
        assert ready.json()["checks"]["ended_logins"] == "ok"
        # Ready means a token is checked, not answered 503.
        person = await register(client)
        me = await client.get(f"{API}/users/me", headers=person.headers)
        assert me.status_code == 200


class TestOpenApi:
    async def test_ops_routes_are_documented_under_ops(self) -> None:
        async with client_for(build_app()) as client:
            schema = (await client.get("/openapi.json")).json()
        for path in ("/health", "/ready", "/metrics"):
            assert schema["paths"][path]["get"]["tags"] == ["ops"]


class TestInTheFullApp:
    """The same endpoints through `create_app`, over the real embedded adapters."""

    async def test_ready_checks_the_real_adapters(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/ready")
        assert response.status_code == 200
        checks = response.json()["checks"]
        # Adapters added later (storage, search) join the checks by themselves.
        assert {"database", "cache", "events"} <= set(checks)
        assert set(checks.values()) == {"ok"}

    async def test_gateway_headers_and_counts(self, client: httpx.AsyncClient) -> None:
        health = await client.get("/health", headers={"X-Request-ID": "probe-1"})
        assert health.headers["x-request-id"] == "probe-1"
        assert health.headers["x-content-type-options"] == "nosniff"
        assert "x-ratelimit-limit" not in health.headers  # probes are exempt
        missing = await client.get("/api/v1/no-such-thing")
        assert missing.status_code == 404
        assert missing.headers["x-ratelimit-limit"] == "2000"
        scrape = await client.get("/metrics")
        assert 'route="/health"' in scrape.text
        assert 'route="<unmatched>"' in scrape.text


class TestRouteLabelsOfTheWholeApp:
    async def test_prefixed_routes_keep_their_full_template(
        self, client: httpx.AsyncClient
    ) -> None:
        await client.get("/api/v1/users/123456")
        await client.get("/api/v1/users/654321/friends")
        scrape = (await client.get("/metrics")).text
        assert 'route="/api/v1/users/{user_id}"' in scrape
        assert 'route="/api/v1/users/{user_id}/friends"' in scrape
        assert 'route="/users/{user_id}"' not in scrape
