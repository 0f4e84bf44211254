"""The routers of each service, so `minifb serve --service NAME` can mount a subset."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Scope

from minifb.auth.endpoints import router as auth_router
from minifb.auth.endpoints import well_known as auth_well_known
from minifb.posts.endpoints import router as posts_router
from minifb.posts.feed_endpoints import FAST_ROUTES as FEED_FAST_ROUTES
from minifb.posts.feed_endpoints import router as feed_router
from minifb.users.endpoints import router as users_router

PREFIX = "/api/v1"

# service name -> (routers under /api/v1, routers at the root)
# Routes are matched in this order: the feed, the hottest route, goes first.
SERVICES: dict[str, tuple[list[APIRouter], list[APIRouter]]] = {
    "posts": ([feed_router, posts_router], []),
    "auth": ([auth_router], [auth_well_known]),
    "users": ([users_router], []),
}


# service name -> bare ASGI twins of its hottest GET routes, matched before every
# router (their APIRoute twins document them and serve an app assembled without).
FAST_ROUTES: dict[str, list[tuple[str, ASGIApp]]] = {"posts": FEED_FAST_ROUTES}


def routers_for(services: Iterable[str] | None) -> tuple[list[APIRouter], list[APIRouter]]:
    """The prefixed and root routers of the named services (all when None)."""
    names = list(SERVICES) if services is None else list(services)
    unknown = [n for n in names if n not in SERVICES and n != "gateway"]
    if unknown:
        raise ValueError(f"unknown service(s): {', '.join(unknown)}; known: {', '.join(SERVICES)}")
    prefixed: list[APIRouter] = []
    root: list[APIRouter] = []
    for name in names:
        if name in SERVICES:
            prefixed.extend(SERVICES[name][0])
            root.extend(SERVICES[name][1])
    return prefixed, root


class BareRoute(Route):
    """A route to a bare ASGI app that, like FastAPI's own, names itself in the scope
    (`scope["route"]`: the gateway labels metrics with its template)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


def fast_routes_for(services: Iterable[str] | None) -> list[BareRoute]:
    """The bare routes of the named services (all when None), under the API prefix."""
    names = list(SERVICES) if services is None else list(services)
    return [
        BareRoute(PREFIX + path, app, methods=["GET"], include_in_schema=False)
        for name in names
        for path, app in FAST_ROUTES.get(name, [])
    ]
