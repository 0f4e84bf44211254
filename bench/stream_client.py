"""The load side of bench/stream.py: the senders, the sockets that receive, the pacing.

One asyncio process (uvloop) holds every socket and sends every message, so
one clock (`time.perf_counter`) times both ends. The sends go through a lean
HTTP/1.1 client over pooled keep-alive connections (one request per
connection at a time): httpx costs about a millisecond of CPU a request, which
at thousands of sends a second would make the load generator the bottleneck
on two shared cores.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

HOST = "127.0.0.1"
STREAM_PATH = "/api/v1/stream"
clock = time.perf_counter


class Connection:
    """One keep-alive HTTP/1.1 connection: a request is written, its answer read whole."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> int:
        """Write a request and read its answer; returns the status."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lower.index(b"\r\n", at + 2)
            await self.reader.readexactly(int(lower[at + 17 : end]))
        elif b"\r\ntransfer-encoding: chunked" in lower:
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readexactly(2)  # the empty trailer
        return status

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Keep-alive connections to one server; a send waits for a free one."""

    def __init__(self, port: int, size: int) -> None:
        self.port = port
        self.size = size
        self._free: asyncio.Queue[Connection] = asyncio.Queue()

    async def open(self) -> None:
        for connection in await asyncio.gather(
            *(Connection.open(self.port) for _ in range(self.size))
        ):
            self._free.put_nowait(connection)

    async def post(self, path: str, token: str, body: bytes, sent: Sent) -> None:
        """POST `body`; stamps `sent` with when it went out, its status and when answered."""
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        connection = await self._free.get()
        sent.sent = clock()
        try:
            for attempt in range(2):
                if connection.reader.at_eof():  # the server closed it while idle
                    connection.close()
                    connection = await Connection.open(self.port)
                try:
                    sent.status = await connection.exchange(request)
                    break
                except (ConnectionResetError, asyncio.IncompleteReadError):
                    # The server closed the idle keep-alive connection as the request went
                    # out (granian closes one idle for 30 s): send it once more on a new
                    # one. A duplicate is harmless: the same `client_message_id` answers
                    # the first message (200).
                    connection.close()
                    connection = await Connection.open(self.port)
                    if attempt:
                        raise
                    sent.retried = True
        except asyncio.CancelledError:
            connection.close()  # mid-answer: of no use to the next request
            raise
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            sent.error = type(exc).__name__
            connection.close()
            connection = await Connection.open(self.port)
        sent.answered = clock()
        self._free.put_nowait(connection)

    def close(self) -> None:
        while not self._free.empty():
            self._free.get_nowait().close()


@dataclass(slots=True)
class Sent:
    """One message: when it was due (the open-loop schedule), went out, was answered,
    and when each socket that should get it received its frame."""

    due: float
    expected: int
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0
    error: str = ""
    retried: bool = False  # sent again on a new connection (the first one was closed)
    received: list[float] = field(default_factory=list)


@dataclass
class Book:
    """What the sockets received, by `client_message_id`."""

    sent: dict[str, Sent] = field(default_factory=dict)
    unknown: int = 0  # frames of messages this book does not hold (a step before)
    pings: int = 0


async def open_socket(
    port: int,
    token: str,
    *,
    compression: str | None = "deflate",
    max_queue: int | None = 64,
    receive_buffer: int | None = None,
) -> ClientConnection:
    """A stream socket; `receive_buffer` caps the kernel's buffer (SO_RCVBUF) before connecting."""
    sock = None
    if receive_buffer is not None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
    return await connect(
        f"ws://{HOST}:{port}{STREAM_PATH}",
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=compression,
        ping_interval=None,  # a browser sends no protocol pings; the server pings in-band
        max_queue=max_queue,
        open_timeout=60,
        proxy=None,
        sock=sock,
    )


async def receive(ws: ClientConnection, books: Callable[[], Book]) -> None:
    """Stamp every `message.created` frame into the current book; answer the server's pings."""
    try:
        async for raw in ws:
            now = clock()
            frame = orjson.loads(raw)
            kind = frame.get("type")
            if kind == "message.created":
                book = books()
                sent = book.sent.get(frame["data"]["message"]["client_message_id"])
                if sent is None:
                    book.unknown += 1
                else:
                    sent.received.append(now)
            elif kind == "ping":
                books().pings += 1
                await ws.send('{"type":"pong"}')
    except ConnectionClosed:
        return


async def pace(
    rate: float, count: int, send: Callable[[int, float], Coroutine[Any, Any, None]]
) -> list[asyncio.Task[None]]:
    """Start `send(i, due)` for i in 0..count-1 at `rate` a second, on schedule whatever
    the answers do (open loop: a slow server makes the sends queue, and the latency,
    taken from `due`, counts the queueing)."""
    tasks: list[asyncio.Task[None]] = []
    start = clock() + 0.01
    i = 0
    while i < count:
        now = clock()
        while i < count and start + i / rate <= now:
            tasks.append(asyncio.create_task(send(i, start + i / rate)))
            i += 1
        await asyncio.sleep(max(0.0, min(0.002, start + i / rate - clock())))
    return tasks


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted `values` (0 when empty)."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, round(share * len(values) + 0.5) - 1))]
