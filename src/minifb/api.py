"""The routers of each service, so `minifb serve --service NAME` can mount a subset."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter

from minifb.auth.endpoints import router as auth_router
from minifb.auth.endpoints import well_known as auth_well_known
from minifb.kit.bare import BareApp
from minifb.media.endpoints import files_router as media_files_router
from minifb.media.endpoints import router as media_router
from minifb.messages.endpoints import BARE_ROUTES as MESSAGES_BARE_ROUTES
from minifb.messages.endpoints import router as messages_router
from minifb.notifications.endpoints import presence_router
from minifb.notifications.endpoints import router as notifications_router
from minifb.notifications.stream import router as stream_router
from minifb.posts.endpoints import BARE_ROUTES as POSTS_BARE_ROUTES
from minifb.posts.endpoints import router as posts_router
from minifb.posts.feed_endpoints import BARE_ROUTES as FEED_BARE_ROUTES
from minifb.posts.feed_endpoints import router as feed_router
from minifb.search.endpoints import router as search_router
from minifb.users.endpoints import router as users_router

PREFIX = "/api/v1"

# service name -> (routers under /api/v1, routers at the root)
# Routes are matched in this order: the feed, the hottest route, goes first.
SERVICES: dict[str, tuple[list[APIRouter], list[APIRouter]]] = {
    "posts": ([feed_router, posts_router], []),
    "auth": ([auth_router], [auth_well_known]),
    "users": ([users_router], []),
    "notifications": ([notifications_router, presence_router, stream_router], []),
    "messages": ([messages_router], []),
    "search": ([search_router], []),
    "media": ([media_files_router, media_router], []),
}


# service name -> its hottest routes as bare ASGI apps (path template below PREFIX, app),
# served by the gateway's innermost layer; each has a documented APIRoute twin.
BARE_ROUTES: dict[str, list[tuple[str, BareApp]]] = {
    "posts": [*FEED_BARE_ROUTES, *POSTS_BARE_ROUTES],
    "messages": MESSAGES_BARE_ROUTES,
}


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


def bare_routes_for(services: Iterable[str] | None) -> dict[str, BareApp]:
    """The bare routes of the named services (all when None), by full path."""
    names = list(SERVICES) if services is None else list(services)
    return {PREFIX + path: app for name in names for path, app in BARE_ROUTES.get(name, [])}
