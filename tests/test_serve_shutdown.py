"""SIGTERM stops `minifb serve` cleanly, on granian and on uvicorn, with one process or two.

Real server processes: a stream socket is open and a request is in flight (a
sign-up whose body the client has not finished sending) when SIGTERM comes.
The socket gets a close frame with 1001, the port refuses new connections, the
request is still answered, and the process exits with 0 within `STOP_WITHIN`;
a request that never finishes does not hold the stop past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from minifb.main import STOP_WITHIN
from minifb.notifications.hub import GOING_AWAY, SHUTTING_DOWN
from tests.factories import PASSWORD, Person, register
from tests.fixtures.deadline import bounded, until_async
from tests.fixtures.http import API
from tests.fixtures.redis_server import redis_server
from tests.fixtures.servers import Server, base_env, shared_cache_url
from tests.fixtures.stream import STREAM

__all__ = ["redis_server", "shared_cache_url"]  # the fixtures, imported for the tests below

SLACK = 1.5  # seconds past STOP_WITHIN a loaded machine may take to reap the process
DRAINED = re.compile(r"stopping: closed (\d+) stream sockets with 1001 \((\d+) not in time\)")


@asynccontextmanager
async def serving(
    env: dict[str, str], directory: Path, kind: str, *options: str
) -> AsyncIterator[tuple[Server, Person]]:
    """A ready `minifb serve --server KIND`, and someone signed up on it."""
    server = Server(env, directory / kind, "--server", kind, *options)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            await server.until_ready(client)
            person = await register(client)
        yield server, person
    finally:
        server.stop()


class SlowSignUp:
    """A sign-up in flight: the headers and half the body are sent, the rest waits for
    `finish()`, so the server holds an unanswered request."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.started = asyncio.Event()
        self._finish = asyncio.Event()
        body = orjson.dumps(
            {
                "username": "late_comer",
                "email": "late_comer@example.com",
                "password": PASSWORD,
                "display_name": "Late Comer",
            }
        )
        self._halves = body[: len(body) // 2], body[len(body) // 2 :]
        self.task = asyncio.create_task(
            client.post(
                f"{API}/auth/register",
                content=self._body(),
                headers={"Content-Type": "application/json"},
            )
        )

    async def _body(self) -> AsyncIterator[bytes]:
        yield self._halves[0]
        self.started.set()  # asked for more: the first half is written
        await self._finish.wait()
        yield self._halves[1]

    def finish(self) -> None:
        self._finish.set()


async def closed_with(ws: ClientConnection) -> tuple[int, str] | None:
    """Read until the connection ends: the close frame the server sent (None: none)."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as closed:
        return None if closed.rcvd is None else (closed.rcvd.code, closed.rcvd.reason)


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def exit_after(server: Server, sent_at: float) -> tuple[int, float]:
    """The exit code, and the seconds from SIGTERM to the exit."""
    code = await asyncio.to_thread(server.process.wait, STOP_WITHIN + 10)
    return code, time.monotonic() - sent_at


def stream_url(server: Server) -> str:
    return f"ws://127.0.0.1:{server.port}{STREAM}"


@asynccontextmanager
async def open_sockets(
    server: Server, person: Person, n: int
) -> AsyncIterator[list[ClientConnection]]:
    url = stream_url(server)
    sockets = [await connect(url, additional_headers=person.headers) for _ in range(n)]
    try:
        yield sockets
    finally:
        for ws in sockets:
            await ws.close()


async def stop_and_check(server: Server, person: Person, *, sockets: int) -> None:
    """SIGTERM with `sockets` stream sockets of `person` open and a request in flight;
    everything the stop owes."""
    async with (
        open_sockets(server, person, sockets) as open_,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        sign_up = SlowSignUp(client)
        await sign_up.started.wait()
        sent_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)

        for ws in open_:
            assert await closed_with(ws) == (GOING_AWAY, SHUTTING_DOWN), server.log.read_text()
        # The port stops taking connections while the request is still in flight.
        await until_async(lambda: refused(server.port))
        assert not sign_up.task.done()
        with pytest.raises(ConnectionRefusedError):
            await connect(stream_url(server), additional_headers=person.headers)

        sign_up.finish()
        answer = await sign_up.task
        assert answer.status_code == 201, answer.text
        assert answer.json()["user"]["username"] == "late_comer"
        code, took = await exit_after(server, sent_at)
        assert code == 0, server.log.read_text()
        assert took < STOP_WITHIN, server.log.read_text()


@pytest.fixture(params=["granian", "uvicorn"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which server `minifb serve` runs."""
    return str(request.param)


@pytest.fixture
def env(database_url: str, cache_url: str, cache_prefix: str) -> dict[str, str]:
    """One server process's environment: the test's database and cache."""
    return base_env(database_url, cache_url, cache_prefix)


@bounded(60)
async def test_sigterm_closes_the_stream_with_1001_and_answers_the_request_in_flight(
    kind: str, env: dict[str, str], tmp_path: Path
) -> None:
    async with serving(env, tmp_path, kind) as (server, ana):
        await stop_and_check(server, ana, sockets=2)


@bounded(60)
async def test_sigterm_drains_every_worker_process(
    kind: str, database_url: str, shared_cache_url: str, cache_prefix: str, tmp_path: Path
) -> None:
    shared = base_env(database_url, shared_cache_url, cache_prefix, MINIFB_LOG_LEVEL="INFO")
    async with serving(shared, tmp_path, kind, "--workers", "2") as (server, ana):
        # However the two processes shared the sockets out, each closes its own.
        await stop_and_check(server, ana, sockets=8)
        drained = DRAINED.findall(server.log.read_text())
        assert len(drained) == 2, server.log.read_text()
        assert sum(int(closed) for closed, _ in drained) == 8


@bounded(60)
async def test_a_request_that_never_finishes_does_not_hold_the_stop_past_the_bound(
    kind: str, env: dict[str, str], tmp_path: Path
) -> None:
    async with (
        serving(env, tmp_path, kind) as (server, _),
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        sign_up = SlowSignUp(client)
        await sign_up.started.wait()
        sent_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code, took = await exit_after(server, sent_at)
        assert code == 0, server.log.read_text()
        assert took < STOP_WITHIN + SLACK, server.log.read_text()
        sign_up.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sign_up.task
