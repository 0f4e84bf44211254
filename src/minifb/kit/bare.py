"""What a bare route (a plain ASGI app for one hot route, served past the framework by
`gateway.bare_routes`) and the layer serving it share.

A bare app answers exactly as its documented FastAPI twin would. Where matching
the twin's words would mean copying the framework (a malformed body, a path
parameter out of range: FastAPI's 422 and its list of errors), it declines
instead: it raises `Declined` before sending anything, and the gateway hands
the request, body included, to the framework, whose twin answers it.
"""

from __future__ import annotations

from typing import Protocol

from starlette.types import Receive, Scope, Send


class Declined(Exception):
    """Raised by a bare app, before it has sent anything, for a request its twin answers."""


class BareApp(Protocol):
    """A bare route's app: the methods it serves, and the ASGI call."""

    @property
    def methods(self) -> frozenset[str]: ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...
