"""The gateway's innermost layer: the hottest GET routes, served past the framework.

A bare route is a plain ASGI app for one exact path. It is reached after
every gateway layer (request id, metrics, CORS, body and rate limits), but
without the framework's exception middleware, router and request wrapper,
which were a tenth of `GET /feed`'s time. Each bare route keeps a FastAPI
twin that documents it in OpenAPI and answers the same when an app is
assembled without this layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from minifb.kit.errors import app_handler_answer


@dataclass(frozen=True, slots=True)
class BareRoute:
    """Set as `scope["route"]`, like the framework's routes, so metrics name its template."""

    path: str
    app: ASGIApp


class BareRoutesMiddleware:
    """Serves GET and HEAD on the bare routes' paths; everything else goes on to the app."""

    def __init__(self, app: ASGIApp, *, routes: Mapping[str, ASGIApp]) -> None:
        self.app = app
        self.routes = {path: BareRoute(path, route) for path, route in routes.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        try:
            await route.app(scope, receive, send)
        except Exception as exc:
            # Answered by the app's own handler for its class (a refusal, or the 503
            # of a service that is down), as the framework's exception middleware
            # would; an error with no handler of its own goes on out to the gateway's 500.
            keys = [cls for cls in type(exc).__mro__ if cls not in _CATCH_ALL]
            answer = await app_handler_answer(scope, exc, keys, receive=receive)
            if answer is None:
                raise
            await answer(scope, receive, send)


# The gateway answers these itself (its 500): its handler runs in the request's context.
_CATCH_ALL = (Exception, BaseException, object)
