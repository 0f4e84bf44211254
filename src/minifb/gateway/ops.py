"""Operations endpoints at the root: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal, Protocol

import orjson
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response
from starlette.types import Scope

from minifb.adapters.telemetry.metrics import Metrics
from minifb.kit.client_ip import parse_address
from minifb.kit.errors import (
    PROBLEM_JSON,
    NotFound,
    Problem,
    ServiceUnavailable,
    Unauthorized,
    problem,
)
from minifb.kit.openapi import problems
from minifb.kit.outages import NotKnownYet, is_outage
from minifb.kit.schema import SchemaOutdated

log = logging.getLogger("minifb.gateway")

router = APIRouter(tags=["ops"])

# Readiness must answer well inside a probe's own timeout (1 s by default in
# Kubernetes), so one hung adapter cannot make the whole probe time out.
READY_TIMEOUT = 0.8

Ping = Callable[[], Awaitable[object]]
# "outdated": the database's schema is not at the newest migration (kit.schema).
CheckResult = Literal["ok", "down", "timeout", "outdated"]


class Probed(Protocol):
    """What readiness reads of the container (`bootstrap.Container` provides it)."""

    def probes(self) -> Mapping[str, Ping]:
        """Each adapter to check, by its name in the answer."""
        ...


class HealthRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"]


class ReadyRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ready", "checks": {"database": "ok", "cache": "ok", "events": "ok"}}
            ]
        }
    )

    status: Literal["ready"]
    checks: dict[str, CheckResult] = Field(description="Each adapter, by name, and its answer.")


class NotReadyProblem(Problem):
    """A 503 of readiness: the problem, and each adapter's answer."""

    checks: dict[str, CheckResult] = Field(description="Each adapter, by name, and its answer.")


_NOT_READY_EXAMPLE = {
    "type": f"https://minifb.dev/problems/{ServiceUnavailable.code}",
    "title": "Service Unavailable",
    "status": 503,
    "detail": "Not ready: cache unavailable.",
    "checks": {"database": "ok", "cache": "timeout", "events": "ok"},
}


@router.get(
    "/health",
    response_model=HealthRead,
    name="get_health",
    summary="Liveness: the process answers",
    response_description="The process is up.",
)
async def health() -> HealthRead:
    """Answers 200 as long as the process serves requests; it checks nothing else, so a
    slow database never gets a healthy process restarted."""
    return HealthRead(status="ok")


async def _check(name: str, ping: Ping) -> tuple[CheckResult, str | None]:
    """The check's result, and the reason the caller may read when there is one."""
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await ping()
    except TimeoutError:
        log.warning("readiness: %s did not answer within %.1f s", name, READY_TIMEOUT)
        return "timeout", None
    except NotKnownYet:
        # The lease and the ended logins log their own failures, once each; a probe a
        # second would repeat them.
        return "down", None
    except SchemaOutdated as exc:
        # Said once in the log at start-up; every probe until the upgrade would repeat it.
        return "outdated", str(exc)
    except Exception as exc:
        # The reason goes to the log, not to the (unauthenticated) caller; a known
        # outage (the breaker open, a refused connection) needs no traceback.
        log.warning("readiness: %s is down: %r", name, exc, exc_info=not is_outage(exc))
        return "down", None
    return "ok", None


def _not_ready(detail: str, checks: dict[str, CheckResult]) -> Response:
    status = HTTPStatus.SERVICE_UNAVAILABLE
    body = {
        "type": f"https://minifb.dev/problems/{ServiceUnavailable.code}",
        "title": status.phrase,
        "status": int(status),
        "detail": detail,
        "checks": checks,
    }
    return Response(orjson.dumps(body), int(status), media_type=PROBLEM_JSON)


@router.get(
    "/ready",
    response_model=ReadyRead,
    name="get_readiness",
    summary="Readiness: every configured adapter answers, the schema is migrated",
    response_description="Every adapter answered.",
    responses={
        503: {
            "model": NotReadyProblem,
            "description": "Starting, or an adapter is down or too slow.",
            "content": {PROBLEM_JSON: {"example": _NOT_READY_EXAMPLE}},
        }
    },
)
async def ready(request: Request) -> ReadyRead | Response:
    """Checks every adapter the process uses, at once, each within 0.8 s: 200 when all
    answer, else 503 naming each one's state (for a load balancer or Kubernetes)."""
    # The lifespan puts the container on the app once it has started.
    container: Probed | None = getattr(request.app.state, "container", None)
    if container is None:
        return _not_ready("The service is still starting.", {})
    pings = list(container.probes().items())
    # Concurrently: the probe waits for the slowest adapter, not their sum.
    results = await asyncio.gather(*(_check(name, ping) for name, ping in pings))
    checks: dict[str, CheckResult] = {}
    reasons: list[str] = []
    for (name, _), (result, reason) in zip(pings, results, strict=True):
        checks[name] = result
        if reason is not None:
            reasons.append(reason)
    down = [name for name, result in checks.items() if result in ("down", "timeout")]
    if down:
        reasons.insert(0, f"{', '.join(down)} unavailable")
    if reasons:
        return _not_ready(f"Not ready: {'; '.join(reasons)}.", checks)
    return ReadyRead(status="ready", checks=checks)


_BEARER_NEEDED = "Metrics need the bearer token set in MINIFB_METRICS_TOKEN."
_NOT_SERVED = "Metrics are served with MINIFB_METRICS_TOKEN set, to callers bearing it."


@dataclass(frozen=True, slots=True)
class MetricsAccess:
    """Who may scrape `/metrics`: the bearer of `token` when one is set; without a
    token, a caller on this host (`loopback`, never in production), or nobody.

    Put on `app.state` by `install_gateway`, from `MINIFB_METRICS_TOKEN`
    (docs/decisions/0116).
    """

    token: bytes | None = None
    loopback: bool = False

    def refusal(self, scope: Scope) -> Response | None:
        """The answer to a caller who may not scrape, or None for one who may."""
        if self.token is not None:
            given = _bearer(scope)
            # Compared in constant time: the answer's timing must not spell the token.
            if given is None or not hmac.compare_digest(given, self.token):
                return problem(
                    401,
                    _BEARER_NEEDED,
                    code=Unauthorized.code,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
            return None
        if self.loopback and _from_this_host(scope):
            return None
        return problem(404, _NOT_SERVED, code=NotFound.code)


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" else None
    return None


# Headers by which a proxy on this host says it speaks for someone else.
_FORWARDING = frozenset({b"x-forwarded-for", b"forwarded", b"x-real-ip"})


def _from_this_host(scope: Scope) -> bool:
    """The socket peer is a loopback address and no proxy forwarded the request: a
    sidecar or proxy on this host relays the whole world from 127.0.0.1."""
    peer = scope.get("client")
    address = parse_address(str(peer[0])) if peer else None
    if address is None or not address.is_loopback:
        return False
    return not any(name in _FORWARDING for name, _ in scope.get("headers", ()))


@router.get(
    "/metrics",
    name="get_metrics",
    summary="Prometheus metrics of every server process",
    response_class=Response,
    response_description="The Prometheus text format.",
    responses={
        200: {
            "content": {
                CONTENT_TYPE_LATEST: {
                    "schema": {"type": "string"},
                    "example": "minifb_http_requests_total"
                    '{route="/health",method="GET",status="200"} 3.0\n',
                }
            }
        },
        **problems(
            (401, "A token is set (MINIFB_METRICS_TOKEN) and the request did not bear it."),
            (404, "No token is set and the caller is not on this host."),
            (503, "The process is still starting."),
        ),
    },
)
async def metrics(request: Request) -> Response:
    """Request counts and latencies by route, and the process's own figures, merged
    across the server's processes, for a Prometheus scrape. Served to the bearer of
    `MINIFB_METRICS_TOKEN`; without one set, only to a caller on this host, and never
    in production."""
    access: MetricsAccess = getattr(request.app.state, "metrics_access", MetricsAccess())
    refusal = access.refusal(request.scope)
    if refusal is not None:
        return refusal
    # Put there by `install_gateway`, which is handed the process's metrics.
    source: Metrics | None = getattr(request.app.state, "metrics", None)
    if source is None:
        return problem(503, "The service is still starting.", code=ServiceUnavailable.code)
    return Response(source.render(), media_type=CONTENT_TYPE_LATEST)
