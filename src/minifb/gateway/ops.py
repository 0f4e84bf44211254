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
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Scope

from minifb.adapters.telemetry.metrics import Metrics
from minifb.kit.client_ip import parse_address
from minifb.kit.errors import (
    PROBLEM_JSON,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    problem,
)
from minifb.kit.ids import WorkerIdUnavailable
from minifb.kit.outages import is_outage
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
    status: Literal["ok"]


class ReadyRead(BaseModel):
    status: Literal["ready"]
    checks: dict[str, CheckResult]


class NotReadyProblem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    checks: dict[str, CheckResult]


@router.get("/health", summary="Liveness: the process answers", response_model=HealthRead)
async def health() -> HealthRead:
    # No I/O: a slow database must not get healthy processes restarted.
    return HealthRead(status="ok")


async def _check(name: str, ping: Ping) -> tuple[CheckResult, str | None]:
    """The check's result, and the reason the caller may read when there is one."""
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await ping()
    except TimeoutError:
        log.warning("readiness: %s did not answer within %.1f s", name, READY_TIMEOUT)
        return "timeout", None
    except WorkerIdUnavailable:
        # The lease logs its own failures, once each; a probe a second would repeat them.
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
    summary="Readiness: every configured adapter answers, the schema is migrated",
    response_model=ReadyRead,
    responses={503: {"model": NotReadyProblem, "content": {PROBLEM_JSON: {}}}},
)
async def ready(request: Request) -> ReadyRead | Response:
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
                    "Metrics need the bearer token set in MINIFB_METRICS_TOKEN.",
                    code=Unauthorized.code,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
            return None
        if self.loopback and _from_this_host(scope):
            return None
        return problem(
            404,
            "Metrics are served with MINIFB_METRICS_TOKEN set, to callers bearing it.",
            code=NotFound.code,
        )


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
    summary="Prometheus metrics of every server process",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}},
        401: {"description": "A token is set and the request did not bear it."},
        404: {"description": "No token is set and the caller is not on this host."},
    },
)
async def metrics(request: Request) -> Response:
    access: MetricsAccess = getattr(request.app.state, "metrics_access", MetricsAccess())
    refusal = access.refusal(request.scope)
    if refusal is not None:
        return refusal
    # Put there by `install_gateway`, which is handed the process's metrics.
    source: Metrics | None = getattr(request.app.state, "metrics", None)
    if source is None:
        return problem(503, "The service is still starting.", code=ServiceUnavailable.code)
    return Response(source.render(), media_type=CONTENT_TYPE_LATEST)
