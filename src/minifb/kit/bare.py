"""What a bare route (a plain ASGI app for one hot route, served past the framework by
`gateway.bare_routes`) and the layer serving it share.

A bare app answers exactly as its documented FastAPI twin would. Where matching
the twin's words would mean copying the framework (a malformed body, a path
parameter out of range: FastAPI's 422 and its list of errors), it declines
instead: it raises `Declined` before sending anything, and the gateway hands
the request, body included, to the framework, whose twin answers it.
"""

from __future__ import annotations

import re
from typing import Protocol

import orjson
from starlette.types import Receive, Scope, Send


class Declined(Exception):
    """Raised by a bare app, before it has sent anything, for a request its twin answers."""


class BareApp(Protocol):
    """A bare route's app: the methods it serves, and the ASGI call."""

    @property
    def methods(self) -> frozenset[str]: ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


# The content types a bare app reads as its twin would; any other is declined.
_JSON = re.compile(rb"application/json\s*(;.*)?", re.IGNORECASE | re.DOTALL)


def headers_of(scope: Scope, *names: bytes) -> dict[bytes, str]:
    """The first value of each of `names` (lower case) the request has, as the twin reads
    them: a header given twice counts by its first."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in names and name not in found:
            found[name] = value.decode("latin-1")
    return found


async def json_body(content_type: str | None, receive: Receive) -> object:
    """The request's body, parsed, if it says it is JSON and is; declined otherwise (a body
    the twin refuses or reads another way, or a client gone before it was all sent)."""
    if content_type is None or not _JSON.fullmatch(content_type.encode("latin-1")):
        raise Declined()
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: the twin says how
            raise Declined()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise Declined() from None


async def send_json(send: Send, status: int, content: bytes) -> None:
    """Answer `content`, JSON already, as the twin's response does."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(content)).encode()),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
