"""The gateway's middleware, seen over HTTP: ids, logs, metrics, headers, CORS, limits."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from minifb.adapters.cache.memory import MemoryCache
from minifb.adapters.telemetry.logging import JsonFormatter
from minifb.gateway import rate_limit
from tests.gateway.helpers import build_app, client_for, container_of, make_settings

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def json_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in caplog.text.splitlines() if line.startswith("{")]


@pytest.fixture
def json_caplog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog formatting with the app's JSON formatter, at emit time (inside the request)."""
    caplog.handler.setFormatter(JsonFormatter())
    caplog.set_level(logging.INFO)
    return caplog


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    """A body without Content-Length: httpx sends it chunked."""
    for part in parts:
        yield part


def assert_security_headers(headers: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name


class TestRequestId:
    async def test_generated_when_absent(self) -> None:
        async with client_for(build_app()) as client:
            first = await client.get("/items/1")
            second = await client.get("/items/1")
        assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
        assert first.headers["x-request-id"] != second.headers["x-request-id"]

    async def test_a_sane_client_id_is_echoed(self) -> None:
        async with client_for(build_app()) as client:
            response = await client.get("/items/1", headers={"X-Request-ID": "web-42.retry_1"})
        assert response.headers["x-request-id"] == "web-42.retry_1"

    @pytest.mark.parametrize("bad", ["has spaces", "x" * 129, "semi;colon", 'quote"d', ""])
    async def test_an_unsafe_client_id_is_replaced(self, bad: str) -> None:
        async with client_for(build_app()) as client:
            response = await client.get("/items/1", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])

    async def test_the_longest_allowed_id_is_kept(self) -> None:
        async with client_for(build_app()) as client:
            response = await client.get("/items/1", headers={"X-Request-ID": "a" * 128})
        assert response.headers["x-request-id"] == "a" * 128


class TestAccessLog:
    async def test_one_line_per_request_with_the_request_id(
        self, json_caplog: pytest.LogCaptureFixture
    ) -> None:
        async with client_for(build_app(), ip="5.6.7.8") as client:
            await client.get("/items/77?token=secret", headers={"X-Request-ID": "req-1"})
        access = [e for e in json_lines(json_caplog) if e["logger"] == "minifb.access"]
        assert len(access) == 1
        entry = access[0]
        assert entry["request_id"] == "req-1"
        assert entry["method"] == "GET"
        assert entry["path"] == "/items/77"  # never the query string
        assert entry["route"] == "/items/{item_id}"
        assert entry["status"] == 200
        assert entry["client_ip"] == "5.6.7.8"
        assert isinstance(entry["duration_ms"], float)
        ours = [e for e in json_lines(json_caplog) if e["logger"].startswith("minifb.")]
        assert "secret" not in orjson.dumps(ours).decode()

    async def test_the_endpoints_own_logs_carry_the_same_id(
        self, json_caplog: pytest.LogCaptureFixture
    ) -> None:
        async with client_for(build_app()) as client:
            response = await client.get("/items/5")
        rid = response.headers["x-request-id"]
        inner = [e for e in json_lines(json_caplog) if e["logger"] == "minifb.test"]
        assert [e["request_id"] for e in inner] == [rid]


class TestMetrics:
    async def test_requests_are_counted_by_route_template(self) -> None:
        app = build_app()
        async with client_for(app) as client:
            await client.get("/items/123")
            await client.get("/items/456")
        registry = container_of(app).metrics.registry
        labels = {"route": "/items/{item_id}", "method": "GET", "status": "200"}
        assert registry.get_sample_value("minifb_http_requests_total", labels) == 2
        routes = {
            sample.labels["route"]
            for family in registry.collect()
            for sample in family.samples
            if "route" in sample.labels
        }
        assert routes == {"/items/{item_id}"}

    async def test_latency_is_observed_per_template(self) -> None:
        app = build_app()
        async with client_for(app) as client:
            await client.get("/items/1")
            await client.get("/items/2")
        registry = container_of(app).metrics.registry
        labels = {"route": "/items/{item_id}", "method": "GET"}
        assert registry.get_sample_value("minifb_http_request_duration_seconds_count", labels) == 2
        total = registry.get_sample_value("minifb_http_request_duration_seconds_sum", labels)
        assert total is not None
        assert total > 0

    async def test_unmatched_paths_share_one_label(self) -> None:
        app = build_app()
        async with client_for(app) as client:
            await client.get("/no/such/1")
            await client.get("/no/such/2")
        registry = container_of(app).metrics.registry
        labels = {"route": "<unmatched>", "method": "GET", "status": "404"}
        assert registry.get_sample_value("minifb_http_requests_total", labels) == 2

    async def test_made_up_methods_share_one_label(self) -> None:
        app = build_app()
        async with client_for(app) as client:
            for method in ("FROB", "XYZZY"):
                assert (await client.request(method, "/items/1")).status_code == 405
        registry = container_of(app).metrics.registry
        labels = {"route": "/items/{item_id}", "method": "OTHER", "status": "405"}
        assert registry.get_sample_value("minifb_http_requests_total", labels) == 2

    async def test_failures_are_counted_as_500(self) -> None:
        app = build_app()
        async with client_for(app) as client:
            await client.get("/boom")
        registry = container_of(app).metrics.registry
        labels = {"route": "/boom", "method": "GET", "status": "500"}
        assert registry.get_sample_value("minifb_http_requests_total", labels) == 1


class TestSecurityHeaders:
    async def test_on_success(self) -> None:
        async with client_for(build_app()) as client:
            response = await client.get("/items/1")
        assert response.status_code == 200
        assert_security_headers(response.headers)
        assert "strict-transport-security" not in response.headers

    async def test_on_not_found(self) -> None:
        async with client_for(build_app()) as client:
            response = await client.get("/nothing-here")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert_security_headers(response.headers)

    async def test_on_a_refused_body(self) -> None:
        app = build_app(make_settings(rate_limit="off", max_body_bytes=10))
        async with client_for(app) as client:
            response = await client.post("/echo", content=b'{"text": "far too long"}')
        assert response.status_code == 413
        assert_security_headers(response.headers)
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])

    async def test_on_an_unhandled_error(self, json_caplog: pytest.LogCaptureFixture) -> None:
        async with client_for(build_app()) as client:
            response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert "the endpoint failed" not in response.text  # no internals leak
        assert response.headers["x-request-id"] == "boom-1"
        assert_security_headers(response.headers)
        errors = [e for e in json_lines(json_caplog) if e["logger"] == "minifb.errors"]
        assert len(errors) == 1
        assert errors[0]["request_id"] == "boom-1"
        assert "the endpoint failed" in errors[0]["exception"]

    async def test_an_endpoints_own_cache_control_is_kept(self) -> None:
        async with client_for(build_app()) as client:
            response = await client.get("/cached")
        assert response.headers["cache-control"] == "public, max-age=60"

    async def test_hsts_over_https(self) -> None:
        async with client_for(build_app(), base_url="https://testserver") as client:
            response = await client.get("/items/1")
        assert response.headers["strict-transport-security"].startswith("max-age=")


class TestCors:
    ORIGIN = "https://app.example.com"

    def app_with_origins(self, *origins: str) -> Any:
        return build_app(make_settings(rate_limit="off", cors_origins=list(origins)))

    async def test_an_allowed_origin_gets_the_headers(self) -> None:
        async with client_for(self.app_with_origins(self.ORIGIN)) as client:
            response = await client.get("/items/1", headers={"Origin": self.ORIGIN})
        assert response.headers["access-control-allow-origin"] == self.ORIGIN
        assert response.headers["access-control-allow-credentials"] == "true"
        exposed = {
            h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
        }
        assert {"x-request-id", "x-ratelimit-remaining", "retry-after"} <= exposed

    async def test_a_preflight_from_an_allowed_origin(self) -> None:
        async with client_for(self.app_with_origins(self.ORIGIN)) as client:
            response = await client.options(
                "/echo",
                headers={
                    "Origin": self.ORIGIN,
                    "Access-Control-Request-Method": "PATCH",
                    "Access-Control-Request-Headers": "Authorization, Idempotency-Key",
                },
            )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == self.ORIGIN
        assert "PATCH" in response.headers["access-control-allow-methods"]
        assert "idempotency-key" in response.headers["access-control-allow-headers"].lower()
        assert_security_headers(response.headers)

    async def test_another_origin_gets_none(self) -> None:
        async with client_for(self.app_with_origins(self.ORIGIN)) as client:
            response = await client.get("/items/1", headers={"Origin": "https://evil.example"})
            preflight = await client.options(
                "/echo",
                headers={
                    "Origin": "https://evil.example",
                    "Access-Control-Request-Method": "POST",
                },
            )
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-origin" not in preflight.headers

    async def test_unconfigured_sends_no_cors_header_at_all(self) -> None:
        async with client_for(build_app()) as client:
            response = await client.get("/items/1", headers={"Origin": self.ORIGIN})
            preflight = await client.options(
                "/echo",
                headers={"Origin": self.ORIGIN, "Access-Control-Request-Method": "POST"},
            )
        for answer in (response, preflight):
            assert not [h for h in answer.headers if h.startswith("access-control-")]


class TestBodySize:
    LIMIT = 64

    def limited_app(self, **kwargs: Any) -> Any:
        return build_app(make_settings(rate_limit="off", max_body_bytes=self.LIMIT), **kwargs)

    async def test_a_body_at_the_limit_passes(self) -> None:
        body = orjson.dumps({"t": "x" * (self.LIMIT - 8)})
        assert len(body) == self.LIMIT
        async with client_for(self.limited_app()) as client:
            response = await client.post(
                "/echo", content=body, headers={"Content-Type": "application/json"}
            )
        assert response.status_code == 200

    async def test_content_length_over_the_limit_is_refused_unread(self) -> None:
        app = self.limited_app()
        body = orjson.dumps({"t": "x" * self.LIMIT})
        async with client_for(app) as client:
            response = await client.post(
                "/echo", content=body, headers={"Content-Type": "application/json"}
            )
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/payload-too-large")
        assert app.state.echo_calls == 0

    async def test_a_chunked_body_is_cut_off_past_the_limit(self) -> None:
        app = self.limited_app()
        async with client_for(app) as client:
            response = await client.post(
                "/echo",
                content=chunks(b'{"t": "', b"x" * 40, b"x" * 40, b'"}'),
                headers={"Content-Type": "application/json"},
            )
        assert "content-length" not in response.request.headers
        assert response.status_code == 413
        assert response.json()["type"].endswith("/payload-too-large")
        assert app.state.echo_calls == 0

    async def test_a_small_chunked_body_passes(self) -> None:
        async with client_for(self.limited_app()) as client:
            response = await client.post(
                "/echo",
                content=chunks(b'{"t": ', b'"short"}'),
                headers={"Content-Type": "application/json"},
            )
        assert response.status_code == 200
        assert response.json() == {"t": "short"}

    async def test_a_chunked_body_is_refused_without_the_problem_handlers(self) -> None:
        # The refusal is an HTTPException too, so an app's default handler still says 413.
        app = self.limited_app(error_handlers=False)
        async with client_for(app) as client:
            response = await client.post(
                "/echo",
                content=chunks(b"x" * 50, b"x" * 50),
                headers={"Content-Type": "application/json"},
            )
        assert response.status_code == 413

    async def test_multipart_uploads_to_the_media_service_are_left_to_it(self) -> None:
        async with client_for(self.limited_app()) as client:
            response = await client.post(
                "/api/v1/media", files={"file": ("a.jpg", b"j" * 1000, "image/jpeg")}
            )
        assert response.status_code == 200
        assert response.json()["received"] > 1000

    async def test_multipart_elsewhere_is_limited_like_any_body(self) -> None:
        app = self.limited_app()
        async with client_for(app) as client:
            response = await client.post(
                "/echo", files={"file": ("a.jpg", b"j" * 1000, "image/jpeg")}
            )
        assert response.status_code == 413


class FrozenClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """Wall time frozen 44.5 s before the end of a one-minute window."""
    frozen = FrozenClock(1_200_015.5)
    monkeypatch.setattr(rate_limit, "wall_clock", frozen)
    return frozen


class TestRateLimit:
    @staticmethod
    def limited_app(rule: str = "3/1m", **kwargs: Any) -> Any:
        return build_app(make_settings(rate_limit=rule), **kwargs)

    async def test_headers_count_down(self, clock: FrozenClock) -> None:
        async with client_for(self.limited_app()) as client:
            answers = [await client.get("/items/1") for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
        assert {r.headers["x-ratelimit-limit"] for r in answers} == {"3"}
        assert {r.headers["x-ratelimit-reset"] for r in answers} == {"45"}

    async def test_the_request_past_the_limit_gets_429(self, clock: FrozenClock) -> None:
        app = self.limited_app()
        async with client_for(app) as client:
            for _ in range(3):
                await client.get("/items/1")
            response = await client.get("/items/1")
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/too-many-requests")
        assert response.headers["retry-after"] == "45"
        assert response.headers["x-ratelimit-remaining"] == "0"
        assert_security_headers(response.headers)
        assert "x-request-id" in response.headers

    async def test_a_new_window_restores_the_budget(self, clock: FrozenClock) -> None:
        async with client_for(self.limited_app()) as client:
            for _ in range(4):
                await client.get("/items/1")
            clock.now += 45
            response = await client.get("/items/1")
        assert response.status_code == 200
        assert response.headers["x-ratelimit-remaining"] == "2"
        assert response.headers["x-ratelimit-reset"] == "60"

    async def test_the_limit_holds_across_processes_sharing_the_cache(
        self, clock: FrozenClock
    ) -> None:
        shared = MemoryCache()
        first, second = self.limited_app(cache=shared), self.limited_app(cache=shared)
        async with client_for(first) as a, client_for(second) as b:
            assert (await a.get("/items/1")).status_code == 200
            assert (await b.get("/items/1")).status_code == 200
            assert (await a.get("/items/1")).status_code == 200
            refused = await b.get("/items/1")
        assert refused.status_code == 429

    async def test_separate_caches_count_separately(self, clock: FrozenClock) -> None:
        first, second = self.limited_app(), self.limited_app()
        async with client_for(first) as a, client_for(second) as b:
            for _ in range(3):
                await a.get("/items/1")
            response = await b.get("/items/1")
        assert response.status_code == 200

    async def test_each_address_has_its_own_budget(self, clock: FrozenClock) -> None:
        app = self.limited_app()
        async with client_for(app, ip="1.1.1.1") as one, client_for(app, ip="2.2.2.2") as two:
            for _ in range(4):
                await one.get("/items/1")
            response = await two.get("/items/1")
        assert response.status_code == 200
        assert response.headers["x-ratelimit-remaining"] == "2"

    async def test_ipv6_addresses_of_one_slash_64_share_a_budget(self, clock: FrozenClock) -> None:
        app = self.limited_app("1/1m")
        async with (
            client_for(app, ip="2001:db8:1:2::1") as one,
            client_for(app, ip="2001:db8:1:2::ffff") as same_net,
            client_for(app, ip="2001:db8:1:3::1") as other_net,
        ):
            assert (await one.get("/items/1")).status_code == 200
            assert (await same_net.get("/items/1")).status_code == 429
            assert (await other_net.get("/items/1")).status_code == 200

    async def test_off_means_no_headers_and_no_limit(self) -> None:
        async with client_for(self.limited_app("off")) as client:
            answers = [await client.get("/items/1") for _ in range(10)]
        assert {r.status_code for r in answers} == {200}
        assert not [h for r in answers for h in r.headers if h.startswith("x-ratelimit")]

    @pytest.mark.parametrize("path", ["/health", "/ready", "/metrics"])
    async def test_probes_are_exempt(self, clock: FrozenClock, path: str) -> None:
        # From this host: without a token, /metrics is served to no one else.
        async with client_for(self.limited_app("1/1m"), ip="127.0.0.1") as client:
            probes = [await client.get(path) for _ in range(3)]
            first_real = await client.get("/items/1")
        assert {r.status_code for r in probes} == {200}
        assert not [h for r in probes for h in r.headers if h.startswith("x-ratelimit")]
        # The probes did not spend the budget either.
        assert first_real.status_code == 200

    async def test_a_cache_outage_fails_open(
        self, clock: FrozenClock, caplog: pytest.LogCaptureFixture
    ) -> None:
        class DownCache(MemoryCache):
            async def incr(self, key: str, amount: int = 1, *, ttl: float) -> tuple[int, float]:
                raise ConnectionError("cache unreachable")

        app = self.limited_app("1/1m", cache=DownCache())
        with caplog.at_level(logging.WARNING, logger="minifb.gateway"):
            async with client_for(app) as client:
                answers = [await client.get("/items/1") for _ in range(3)]
        assert {r.status_code for r in answers} == {200}
        assert "x-ratelimit-limit" not in answers[0].headers
        warnings = [r for r in caplog.records if r.name == "minifb.gateway"]
        assert len(warnings) == 1  # one warning, not one per request
        assert warnings[0].levelno == logging.WARNING

    async def test_a_trusted_proxy_does_not_share_one_budget(self, clock: FrozenClock) -> None:
        app = build_app(make_settings(rate_limit="1/1m", trusted_proxies=["10.0.0.0/8"]))
        async with client_for(app, ip="10.0.0.5") as proxy:
            first = await proxy.get("/items/1", headers={"X-Forwarded-For": "7.7.7.7"})
            second = await proxy.get("/items/1", headers={"X-Forwarded-For": "8.8.8.8"})
            again = await proxy.get("/items/1", headers={"X-Forwarded-For": "7.7.7.7"})
        assert [first.status_code, second.status_code, again.status_code] == [200, 200, 429]
