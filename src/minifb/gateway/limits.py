"""Request body size limit: refuse big bodies before, or while, they are read."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minifb.kit.errors import PayloadTooLarge, problem

# The media service takes multipart uploads far above the JSON limit and
# enforces its own limit. Everywhere else a multipart body is limited like any
# other: FastAPI reads the whole body of a JSON endpoint whatever its
# Content-Type, so skipping multipart everywhere would let anyone post
# gigabytes to /posts just by labelling them multipart.
MULTIPART_PREFIXES: tuple[str, ...] = ("/api/v1/media",)
# A direct upload to local storage (`PUT /api/v1/media/files/...`) is limited by the
# size its signed URL allows, whatever its Content-Type; the route counts it itself.
SIGNED_UPLOAD_PREFIXES: tuple[str, ...] = ("/api/v1/media/files/",)


def _detail(limit: int) -> str:
    return f"The request body is larger than the {limit} bytes allowed."


# Both bases declare `headers` (a dict vs an optional Mapping); the dict that
# AppError sets satisfies both at run time.
class RequestBodyTooLarge(PayloadTooLarge, StarletteHTTPException):  # type: ignore[misc]
    """Raised from `receive` once a streamed body passes the limit.

    An HTTPException, because FastAPI's body reader re-raises those and turns
    anything else into a 400; a PayloadTooLarge, because the app's AppError
    handler then renders the same problem as a refusal by Content-Length.
    """

    def __init__(self, limit: int) -> None:
        PayloadTooLarge.__init__(self, _detail(limit))
        self.status_code = 413


class BodySizeLimitMiddleware:
    """Answer 413 when a request body is larger than `max_bytes`.

    A declared Content-Length over the limit is refused before the app runs; a
    body of unknown length (chunked, or HTTP/2 without Content-Length) is
    counted as the app reads it and cut off past the limit.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        multipart_prefixes: Sequence[str] = MULTIPART_PREFIXES,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.multipart_prefixes = tuple(multipart_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: int | None = None
        content_type = b""
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None  # servers refuse these; count the stream anyway
            elif name == b"content-type":
                content_type = value
            elif name == b"transfer-encoding":
                chunked = True
        if length is None and not chunked and scope.get("http_version", "1.1").startswith("1"):
            # HTTP/1 without either header has no body (RFC 9112 §6.3): the
            # common GET needs no counting. HTTP/2 frames bodies itself, so
            # there a missing Content-Length proves nothing.
            await self.app(scope, receive, send)
            return
        if (
            content_type.lower().startswith(b"multipart/form-data")
            and scope["path"].startswith(self.multipart_prefixes)
        ) or (scope["method"] == "PUT" and scope["path"].startswith(SIGNED_UPLOAD_PREFIXES)):
            await self.app(scope, receive, send)
            return
        if length is not None:
            if length > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            # The server holds the client to its Content-Length; nothing to count.
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_bytes
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise RequestBodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except RequestBodyTooLarge:
            # Normally the app's error handlers answer; this covers an app
            # without them. Once a response has begun it cannot be replaced.
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, _detail(self.max_bytes), code=PayloadTooLarge.code)
        await response(scope, receive, send)
