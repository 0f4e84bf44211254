"""`/api/v1/stream`: the WebSocket that pushes messages, read receipts and notifications.

The access token comes in the `Authorization: Bearer` header or, for browsers
(which cannot set headers on a WebSocket), the `access_token` query parameter;
without a valid one the handshake is refused (403, close code 1008). Then the
server writes `{"type", "data"}` frames from the socket's queue, and reads the
client's: `{"type": "typing", "conversation_id": ...}` and `{"type": "pong"}`
(or `ping`, answered with `pong`). A bad frame gets an `error` frame; one over
the size limit closes the socket (1009). Close codes: `hub.py`, the README.
While the server stops, a handshake is refused with a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Annotated, Any, Protocol

import orjson
from fastapi import APIRouter, Depends, Request, WebSocket

from minifb.adapters.aio import cancel_and_wait
from minifb.kit.errors import AppError, ServiceUnavailable, problem
from minifb.notifications.hub import (
    GOING_AWAY,
    INTERNAL_ERROR,
    POLICY_VIOLATION,
    SHUTTING_DOWN,
    TOO_BIG,
    TRY_AGAIN_LATER,
    Closing,
    Hub,
    Outgoing,
    Socket,
)
from minifb.notifications.presence import Presence

log = logging.getLogger("minifb.stream")
router = APIRouter(tags=["stream"])
CLOSE_TIMEOUT = 2.0  # a close frame a client does not read is given up on
TYPING_EVERY = 1.0  # seconds: at most one `typing` relayed per socket


class StreamPorts(Protocol):
    """What the stream reads of the container (`bootstrap.Container`)."""

    @property
    def hub(self) -> Hub: ...

    @property
    def presence(self) -> Presence: ...


async def get_presence(request: Request) -> Presence:
    ports: StreamPorts = request.app.state.container
    return ports.presence


PresenceDep = Annotated[Presence, Depends(get_presence)]


def bearer_token(websocket: WebSocket) -> str | None:
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return websocket.query_params.get("access_token") or None


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    ports: StreamPorts = websocket.app.state.container
    hub = ports.hub
    if hub.draining:
        await _refuse_while_stopping(websocket)
        return
    token = bearer_token(websocket)
    if token is None:
        await websocket.close(POLICY_VIOLATION, "an access token is required")
        return
    try:
        principal, expires_at = hub.logins.verify_until(token)
    except AppError as error:
        # Before accepting, a close is a 403 to the handshake; the code is for the record.
        code = POLICY_VIOLATION if error.status == 401 else TRY_AGAIN_LATER
        await websocket.close(code, error.detail or "")
        return
    await websocket.accept()
    socket = hub.add(principal, expires_at)
    ports.presence.changed(socket.user_id)
    try:
        await _serve(websocket, hub, socket)
    finally:
        hub.remove(socket)
        ports.presence.changed(socket.user_id)


async def _refuse_while_stopping(websocket: WebSocket) -> None:
    """A 503 with `Retry-After` (a client retries, and reaches another server); a server
    without the ASGI denial-response extension answers 403 to a close instead."""
    if "websocket.http.response" not in websocket.scope.get("extensions", {}):
        await websocket.close(GOING_AWAY, SHUTTING_DOWN)
        return
    refusal = problem(
        503,
        "This server is shutting down; connect again.",
        code=ServiceUnavailable.code,
        headers={"Retry-After": "1"},
    )
    await websocket.send_denial_response(refusal)


async def _serve(websocket: WebSocket, hub: Hub, socket: Socket) -> None:
    reader = asyncio.create_task(_read(websocket, hub, socket), name="stream-read")
    writer = asyncio.create_task(_write(websocket, hub, socket), name="stream-write")
    ending = asyncio.create_task(socket.closed(), name="stream-closed")
    try:
        # The writer may be stuck in a send to a client that does not read: the
        # socket's closing (its queue filled up) must not wait for that send.
        await asyncio.wait({reader, writer, ending}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, writer, ending):
            await cancel_and_wait(task)
    if socket.closing is None:  # the reader or the writer failed: a bug, logged above
        socket.close(INTERNAL_ERROR, "internal error")
    closing = socket.closing
    if closing is not None and closing.code is not None:
        # A client that stopped reading may never take the close frame.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await websocket.close(closing.code, closing.reason)


async def _write(websocket: WebSocket, hub: Hub, socket: Socket) -> None:
    while True:
        item = await socket.next()
        if isinstance(item, Closing):
            return
        try:
            await websocket.send_text(item.text)
        except Exception:
            # Each server says it its own way (WebSocketDisconnect, OSError, RuntimeError).
            socket.close(None)  # the client has gone
            return
        hub.sent(item)


async def _read(websocket: WebSocket, hub: Hub, socket: Socket) -> None:
    limit = hub.policy.max_frame
    while socket.closing is None:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            socket.close(None)
            return
        raw: str | bytes | None = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        size = len(raw.encode() if isinstance(raw, str) else raw)
        if size > limit:
            socket.close(TOO_BIG, f"frames are at most {limit} bytes")
            return
        socket.seen()
        await _handle(hub, socket, raw)


async def _handle(hub: Hub, socket: Socket, raw: str | bytes) -> None:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        _error(socket, "invalid_json", "A frame is a JSON object.")
        return
    kind = body.get("type") if isinstance(body, dict) else None
    if kind == "pong":
        return
    if kind == "ping":
        socket.offer(Outgoing('{"type":"pong","data":{}}', "pong", None))
    elif kind == "typing":
        # Each relay asks the messages service: a client that types faster is not heard.
        now = time.monotonic()
        if now - socket.typing_at >= TYPING_EVERY:
            socket.typing_at = now
            await _typing(hub, socket, body)
    else:
        _error(socket, "unknown_type", 'A frame\'s "type" is "typing", "ping" or "pong".')


async def _typing(hub: Hub, socket: Socket, body: dict[str, Any]) -> None:
    conversation = _id(body.get("conversation_id"))
    if conversation is None:
        _error(socket, "invalid_conversation_id", '"conversation_id" is a conversation id.')
        return
    if hub.membership is None:
        _error(socket, "unavailable", "Typing is not relayed by this server.")
        return
    try:
        members = await hub.membership.members_if_member(conversation, socket.user_id)
    except Exception as exc:
        log.warning("could not relay typing: %r", exc)
        _error(socket, "unavailable", "Typing could not be relayed; try again later.")
        return
    if members is None:
        _error(socket, "not_found", "No such conversation.")
        return
    others = [m for m in members if m != socket.user_id]
    data = {"conversation_id": str(conversation), "user_id": str(socket.user_id)}
    await hub.push(others, "typing", data)


def _id(value: object) -> int | None:
    """An id as the API writes it (a numeric string; a number is taken too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and 0 < value < 2**63:
        return value
    return None


def _error(socket: Socket, code: str, detail: str) -> None:
    frame = orjson.dumps({"type": "error", "data": {"code": code, "detail": detail}})
    socket.offer(Outgoing(frame.decode(), "error", None))
