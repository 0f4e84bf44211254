"""Operations endpoints at the root: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Literal, Protocol

import orjson
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from minifb.adapters.telemetry.metrics import Metrics
from minifb.kit.errors import PROBLEM_JSON, Problem, ServiceUnavailable, problem, problem_body
from minifb.kit.outages import is_outage

log = logging.getLogger("minifb.gateway")

router = APIRouter(tags=["ops"])

# Readiness must answer well inside a probe's own timeout (1 s by default in
# Kubernetes), so one hung adapter cannot make the whole probe time out.
READY_TIMEOUT = 0.8

Ping = Callable[[], Awaitable[object]]
CheckResult = Literal["ok", "down", "timeout"]


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


async def _check(name: str, ping: Ping) -> CheckResult:
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await ping()
    except TimeoutError:
        log.warning("readiness: %s did not answer within %.1f s", name, READY_TIMEOUT)
        return "timeout"
    except Exception as exc:
        # The reason goes to the log, not to the (unauthenticated) caller; a known
        # outage (the breaker open, a refused connection) needs no traceback.
        log.warning("readiness: %s is down: %r", name, exc, exc_info=not is_outage(exc))
        return "down"
    return "ok"


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
    summary="Readiness: every configured adapter answers",
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
    checks: dict[str, CheckResult] = {name: r for (name, _), r in zip(pings, results, strict=True)}
    down = [name for name, result in checks.items() if result != "ok"]
    if down:
        return _not_ready(f"Not ready: {', '.join(down)} unavailable.", checks)
    return ReadyRead(status="ready", checks=checks)


_STARTING_EXAMPLE = problem_body(
    503, "The service is still starting.", code=ServiceUnavailable.code
)


@router.get(
    "/metrics",
    name="get_metrics",
    summary="Prometheus metrics of this process",
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
        503: {
            "model": Problem,
            "description": "The process is still starting.",
            "content": {PROBLEM_JSON: {"example": _STARTING_EXAMPLE}},
        },
    },
)
async def metrics(request: Request) -> Response:
    """Request counts and latencies by route, and the process's own figures, for a
    Prometheus scrape."""
    # Put there by `install_gateway`, which is handed the process's metrics.
    source: Metrics | None = getattr(request.app.state, "metrics", None)
    if source is None:
        return problem(503, "The service is still starting.", code=ServiceUnavailable.code)
    return Response(source.render(), media_type=CONTENT_TYPE_LATEST)
