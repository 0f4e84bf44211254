"""Ops endpoints: /health (liveness), /ready (every adapter), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from minifb.gateway import ops
from tests.gateway.helpers import FakeAdapter, build_app, client_for, container_of


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
        async with client_for(build_app()) as client:
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
