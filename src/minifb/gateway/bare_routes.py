"""The gateway's innermost layer: the hottest routes, served past the framework.

A bare route is a plain ASGI app for one path template and its methods
(`kit.bare.BareApp`). It is reached after every gateway layer (request id,
metrics, CORS, body and rate limits), but without the framework's exception
middleware, router, dependency solving and request wrapper, which were a
tenth of `GET /feed`'s time and a fifth of sending a message's. Each bare
route keeps a FastAPI twin that documents it in OpenAPI, answers the same
when an app is assembled without this layer, and answers what the bare app
declines (`kit.bare.Declined`), with the body it had already read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minifb.kit.bare import BareApp, Declined
from minifb.kit.errors import app_handler_answer


@dataclass(frozen=True, slots=True)
class BareRoute:
    """Set as `scope["route"]`, like the framework's routes, so metrics name its template."""

    path: str
    app: BareApp


class BareRoutesMiddleware:
    """Serves the bare routes' paths and methods; everything else goes on to the app."""

    def __init__(self, app: ASGIApp, *, routes: Mapping[str, BareApp]) -> None:
        self.app = app
        self.exact: dict[str, BareRoute] = {}
        self.templated: list[tuple[re.Pattern[str], BareRoute]] = []
        for path, route in routes.items():
            if "{" in path:
                self.templated.append((_pattern(path), BareRoute(path, route)))
            else:
                self.exact[path] = BareRoute(path, route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route, params = self._match(scope["path"]) if scope["type"] == "http" else (None, None)
        if route is None or scope["method"] not in route.app.methods:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        if params is not None:
            scope["path_params"] = params
        replay = _Replay(receive)
        try:
            await route.app(scope, replay.receive, send)
        except Declined:
            await self.app(scope, replay.again, send)
        except Exception as exc:
            # Answered by the app's own handler for its class (a refusal, or the 503
            # of a service that is down), as the framework's exception middleware
            # would; an error with no handler of its own goes on out to the gateway's 500.
            keys = [cls for cls in type(exc).__mro__ if cls not in _CATCH_ALL]
            answer = await app_handler_answer(scope, exc, keys, receive=receive)
            if answer is None:
                raise
            await answer(scope, receive, send)

    def _match(self, path: str) -> tuple[BareRoute | None, dict[str, str] | None]:
        """The route serving `path`, and the values of its template's parameters."""
        route = self.exact.get(path)
        if route is not None or not self.templated:
            return route, None
        for pattern, candidate in self.templated:
            found = pattern.fullmatch(path)
            if found is not None:
                return candidate, found.groupdict()
        return None, None


def _pattern(template: str) -> re.Pattern[str]:
    """`/a/{name}/b` as a pattern whose group `name` takes one path segment."""
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    )


class _Replay:
    """A request's `receive`, keeping what it gave, so a declined request's body can be
    given again to the framework (`again`), followed by whatever is still to come."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._given: list[Message] = []

    async def receive(self) -> Message:
        message = await self._receive()
        self._given.append(message)
        return message

    async def again(self) -> Message:
        if self._given:
            return self._given.pop(0)
        return await self._receive()


# The gateway answers these itself (its 500): its handler runs in the request's context.
_CATCH_ALL = (Exception, BaseException, object)
