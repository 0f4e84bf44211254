"""The gateway's outermost layer, and `install_gateway`, which stacks every layer in order.

All middleware here is pure ASGI: BaseHTTPMiddleware costs throughput on
every request (docs/performance.md), and this is the hot path.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Mapping, Sequence

from prometheus_client import Counter, Histogram
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minifb.adapters.telemetry.logging import request_id_var
from minifb.adapters.telemetry.metrics import Metrics
from minifb.config import Settings
from minifb.gateway.bare_routes import BareRoutesMiddleware
from minifb.gateway.client_ip import (
    IPNetwork,
    honour_forwarded_proto,
    parse_trusted,
    remember_client_ip,
)
from minifb.gateway.headers import with_gateway_headers
from minifb.gateway.limits import BodySizeLimitMiddleware
from minifb.gateway.ops import MetricsAccess
from minifb.gateway.rate_limit import RateLimitMiddleware
from minifb.kit.bare import BareApp
from minifb.kit.errors import app_handler_answer, problem

access_log = logging.getLogger("minifb.access")
error_log = logging.getLogger("minifb.errors")

# A client's id is kept only if it cannot forge log lines or blow up headers.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
UNMATCHED = "<unmatched>"
# The method is the client's to choose (any token is valid HTTP); anything
# else shares one label so it cannot mint new series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
CORS_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID")
CORS_EXPOSE = (
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
)


def request_id_of(scope: Scope) -> str:
    """The client's `X-Request-ID` when sane, else 32 fresh random hex digits.

    An id only has to be unique, not secret: the process's PRNG, not a syscall
    for urandom on every request as uuid4 makes.
    """
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            if _SANE_REQUEST_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return f"{random.getrandbits(128):032x}"


def route_template(scope: Scope) -> str:
    """The matched route's template ("/users/{user_id}"), never the concrete path.

    Concrete paths carry ids and would give the metrics one series per id.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    if isinstance(route, Mount):
        # A mounted non-router app (static files): everything below is one route.
        return f"{path}/{{path}}"
    return _with_prefix(scope, path)


def _with_prefix(scope: Scope, template: str) -> str:
    # FastAPI routers included with a prefix hand over the route with its own,
    # unprefixed template: take the prefix from the concrete path, whose last
    # segments are the ones the template matched.
    concrete = scope.get("path", "")
    if concrete == template or not isinstance(concrete, str):
        return template
    template_parts = template.strip("/").split("/")
    path_parts = concrete.strip("/").split("/")
    prefix = path_parts[: max(len(path_parts) - len(template_parts), 0)]
    return "/" + "/".join([*prefix, *template_parts]) if prefix else template


class GatewayMiddleware:
    """Request id, access log, metrics and security headers, in one layer.

    One layer rather than four: each pure-ASGI layer is another closure and
    another `send` hop on every request. It is the outermost layer so that
    everything inside, errors included, gets the id and the headers. An
    exception nobody handled is answered here by the app's own 500 handler
    (inside the request's context, so the error log carries the request id)
    instead of by Starlette's outer error middleware, which would send it
    without these headers.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, trusted: Sequence[IPNetwork]) -> None:
        self.app = app
        self.metrics = metrics
        self.trusted = tuple(trusted)
        # `labels()` takes a lock and builds a key on every call; the label sets
        # are few (route templates x methods x statuses), so keep the children.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # No response headers to add, but logs during the session still
            # carry an id, and throttles still see the real client address.
            remember_client_ip(scope, self.trusted)
            if self.trusted:
                honour_forwarded_proto(scope, self.trusted)
            token = request_id_var.set(request_id_of(scope))
            try:
                await self.app(scope, receive, send)
            finally:
                request_id_var.reset(token)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started_at = time.perf_counter()
        request_id = request_id_of(scope)
        ip = remember_client_ip(scope, self.trusted)
        if self.trusted:
            honour_forwarded_proto(scope, self.trusted)
        raw_id = request_id.encode("ascii")
        https = scope.get("scheme") == "https"
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = with_gateway_headers(
                    message.get("headers", ()), raw_id, https=https
                )
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if response_started:
                raise  # too late to answer; the server closes the connection
            response = await _internal_error(scope, exc)
            await response(scope, receive, send_with_headers)
        finally:
            route = route_template(scope)
            duration = time.perf_counter() - started_at
            method = scope["method"]
            counter, latency = self._series_for(
                route, method if method in KNOWN_METHODS else "OTHER", status
            )
            counter.inc()
            latency.observe(duration)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %s %.1f ms %s",
                    method,
                    scope["path"],
                    status,
                    duration * 1000,
                    ip,
                    extra={
                        "method": method,
                        # The path only: query strings may carry tokens.
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(duration * 1000, 2),
                        "client_ip": ip,
                    },
                )
            request_id_var.reset(token)

    def _series_for(self, route: str, method: str, status: int) -> tuple[Counter, Histogram]:
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            series = (
                self.metrics.requests.labels(route, method, str(status)),
                self.metrics.latency.labels(route, method),
            )
            self._series[key] = series
        return series


async def _internal_error(scope: Scope, exc: Exception) -> Response:
    """The 500 the app's own handler would give (problem+json, logged), or a plain one."""
    try:
        answer = await app_handler_answer(scope, exc, (Exception, 500))
        if answer is not None:
            return answer
    except Exception:
        error_log.exception("the 500 handler failed")
    error_log.error("unhandled error", exc_info=exc)
    return problem(500, "Something went wrong on our side; it has been logged.", code="internal")


def install_gateway(
    app: Starlette,
    settings: Settings,
    metrics: Metrics,
    *,
    bare_routes: Mapping[str, BareApp] | None = None,
) -> None:
    """Stack the gateway's middleware on `app`, outermost first:

    request id + access log + metrics + security headers, CORS, body size, rate
    limit, and the `bare_routes` (full path template -> app) past all of them.

    CORS sits outside the limits so a browser can read their 413/429 answers,
    and answers preflights itself, so they cost no rate-limit budget. The body
    limit sits outside the rate limit so an oversized body is refused without
    a cache round trip. Settings are read here, once; the cache is read from
    the app's container per request because the lifespan builds it after this
    runs. `metrics` also goes on `app.state` for the ops routes' `/metrics`, with
    who may read it.
    """
    app.state.metrics = metrics
    token = settings.metrics_token
    app.state.metrics_access = MetricsAccess(
        token=token.get_secret_value().encode() if token is not None else None,
        loopback=settings.environment != "production",
    )
    trusted = parse_trusted(settings.trusted_proxies)
    # Starlette's add_middleware puts each new layer outside the previous ones,
    # so they are added innermost first.
    if bare_routes:
        app.add_middleware(BareRoutesMiddleware, routes=bare_routes)
    rule = settings.rate_limit_rule
    if rule is not None:
        limit, window = rule
        app.add_middleware(RateLimitMiddleware, limit=limit, window=window, trusted=trusted)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            # Browsers refuse credentials with a wildcard origin anyway; asking
            # for both would make Starlette echo any origin back.
            allow_credentials="*" not in settings.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSE,
            max_age=600,
        )
    app.add_middleware(GatewayMiddleware, metrics=metrics, trusted=trusted)
