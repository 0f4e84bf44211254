"""A small app with the real gateway, for the gateway's tests.

The gateway is tested on an app of its own rather than the full one: the
routes it needs (an id in the path, a JSON body, a failure, a media upload)
are fixed here, and the adapters are the real in-process cache plus fakes
whose health each test can set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Body, FastAPI, Request, Response

from minifb.adapters.cache.base import Cache
from minifb.adapters.cache.memory import MemoryCache
from minifb.adapters.telemetry.metrics import Metrics
from minifb.config import Settings
from minifb.gateway import get_client_ip, install_gateway
from minifb.gateway.ops import router as ops_router
from minifb.kit.errors import install_error_handlers

app_log = logging.getLogger("minifb.test")


@dataclass
class FakeAdapter:
    """An adapter whose ping succeeds, or raises `error` when one is set."""

    error: Exception | None = None
    pings: int = 0

    async def ping(self) -> None:
        self.pings += 1
        if self.error is not None:
            raise self.error


@dataclass
class FakeContainer:
    settings: Settings
    cache: Cache
    metrics: Metrics
    db: Any = field(default_factory=FakeAdapter)
    bus: Any = field(default_factory=FakeAdapter)

    def probes(self) -> dict[str, Any]:
        return {"database": self.db.ping, "cache": self.cache.ping, "events": self.bus.ping}


def make_settings(**overrides: Any) -> Settings:
    """Settings with the gateway's knobs overridden by field name."""
    overrides.setdefault("environment", "test")
    return Settings(_env_file=None, **overrides)


def build_app(
    settings: Settings | None = None,
    *,
    cache: Cache | None = None,
    error_handlers: bool = True,
) -> FastAPI:
    """An app with the gateway, the ops routes and a few routes to exercise them."""
    settings = settings or make_settings(rate_limit="off")
    metrics = Metrics()
    app = FastAPI()
    if error_handlers:
        install_error_handlers(app)
    install_gateway(app, settings, metrics)
    app.state.container = FakeContainer(
        settings=settings, cache=cache if cache is not None else MemoryCache(), metrics=metrics
    )
    app.state.echo_calls = 0

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        app_log.info("reading item %s", item_id)
        return {"id": item_id}

    @app.post("/echo")
    async def echo(request: Request, body: dict[str, Any] = Body()) -> dict[str, Any]:
        request.app.state.echo_calls += 1
        return body

    @app.post("/api/v1/media")
    async def upload(request: Request) -> dict[str, int]:
        # Stands in for the media service, which limits its uploads itself.
        return {"received": len(await request.body())}

    @app.get("/links")
    async def links(request: Request) -> dict[str, str]:
        # URLs built from the request, as a Location header or a link would be.
        return {"self": str(request.url), "item": str(request.url_for("item", item_id=7))}

    @app.get("/ip")
    async def ip(request: Request) -> dict[str, str]:
        return {"ip": get_client_ip(request)}

    @app.get("/cached")
    async def cached(response: Response) -> dict[str, bool]:
        response.headers["Cache-Control"] = "public, max-age=60"
        return {"cached": True}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("the endpoint failed")

    app.include_router(ops_router)
    return app


def container_of(app: FastAPI) -> FakeContainer:
    container: FakeContainer = app.state.container
    return container


def client_for(
    app: FastAPI, ip: str = "1.2.3.4", base_url: str = "http://testserver"
) -> httpx.AsyncClient:
    """A client whose requests reach `app` from the socket address `ip`."""
    transport = httpx.ASGITransport(app=app, client=(ip, 1234))
    return httpx.AsyncClient(transport=transport, base_url=base_url)
