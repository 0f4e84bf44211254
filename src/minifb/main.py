"""create_app(settings): the lifespan builds the adapters once and mounts the routers."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

from fastapi import FastAPI
from sqlalchemy import make_url

from minifb import __version__
from minifb.adapters.aio import cancel_and_wait
from minifb.adapters.telemetry.logging import configure_logging, redact_url
from minifb.adapters.telemetry.metrics import Metrics
from minifb.api import PREFIX, bare_routes_for, routers_for
from minifb.auth.deps import AuthPorts
from minifb.bootstrap import Container, build_container, start_when_migrated
from minifb.config import Settings
from minifb.gateway import install_gateway
from minifb.gateway.docs import install_docs
from minifb.gateway.ops import Probed
from minifb.gateway.ops import router as ops_router
from minifb.gateway.rate_limit import EXEMPT_PATHS as RATE_LIMIT_EXEMPT_PATHS
from minifb.gateway.rate_limit import CacheHolder
from minifb.kit.db import Database
from minifb.kit.deps import Ports
from minifb.kit.errors import install_error_handlers
from minifb.kit.openapi import install_openapi, operation_id
from minifb.kit.process_lock import ProcessLock
from minifb.notifications.hub import Hub
from minifb.notifications.stream import CLOSE_TIMEOUT, StreamPorts
from minifb.posts.feed_endpoints import FeedPorts
from minifb.workers.registry import run_in_process

log = logging.getLogger("minifb.main")

STOP_WITHIN = 10  # seconds from SIGTERM to a server's exit, at most (cli.py gives the servers)
# Of which the stream's close frames take at most: a client that does not read is given
# up on after CLOSE_TIMEOUT.
DRAIN_WITHIN = CLOSE_TIMEOUT + 1.0


class AppPorts(Ports, AuthPorts, FeedPorts, Probed, CacheHolder, StreamPorts, Protocol):
    """Everything the app's parts read of the container, each part through its own
    Protocol; a new one joins here. `attach` takes this type, so mypy checks that
    `bootstrap.Container` provides it all."""


def attach(app: FastAPI, container: AppPorts) -> None:
    """Hand the started container to the app: the dependencies, the bare routes and
    the gateway read it from `app.state`, per request (the app is assembled before
    the lifespan builds it)."""
    app.state.container = container


def create_app(
    settings: Settings | None = None,
    *,
    services: Iterable[str] | None = None,
    container: Container | None = None,
    server: bool = False,
    bare_routes: bool = True,
) -> FastAPI:
    """Assemble the app; `services` limits it to those services' routes (default: all).

    A prebuilt `container` may be passed (tests, workers); it is then owned by
    the caller and not closed at shutdown. `server` marks the app of a server
    process, whose garbage collector is tuned once it has started. Without
    `bare_routes` the hottest routes go through the framework like the others
    (the same answers, slower: tests compare the two).
    """
    settings = settings or (container.settings if container else Settings())
    configure_logging(settings.log_level, settings.resolved_log_format)
    metrics = container.metrics if container else Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if container is not None:
            attach(app, container)
            yield
            return
        lock = single_process_lock(settings) if server else None
        built = await build_container(settings, metrics=metrics)
        # Embedded tier: every consumer runs in this process, off the request path; on
        # a broker, those the settings name (the rest run as `minifb worker`).
        run_in_process(built, settings.consumers_in_server)
        attach(app, built)
        starting = await start_when_migrated(built)
        if server:
            await warm_database(built.db, settings)
        log.info("%s", started_line(settings, built.worker_ids.worker_id))
        if server:
            tune_collector(settings.gc_thresholds)
        undo_drain = drain_on_sigterm(built.hub) if server else None
        try:
            yield
        finally:
            if undo_drain is not None:
                undo_drain()
            if starting is not None:
                await cancel_and_wait(starting)
            await built.close()
            metrics.close()
            if lock is not None:
                lock.release()

    docs = settings.serves_docs
    app = FastAPI(
        title="mini-facebook",
        version=__version__,
        summary="The backend of a small Facebook.",
        description=API_DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        generate_unique_id_function=operation_id,
        openapi_url=OPENAPI_URL if docs else None,
        # Served offline by `install_docs` instead of FastAPI's pages, which load from a CDN.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_openapi(app, rate_limit_exempt=RATE_LIMIT_EXEMPT_PATHS)
    if docs:
        install_docs(app, OPENAPI_URL)
    names = None if services is None else list(services)
    install_gateway(
        app, settings, metrics, bare_routes=bare_routes_for(names) if bare_routes else {}
    )
    prefixed, root = routers_for(names)
    for router in prefixed:
        app.include_router(router, prefix=PREFIX)
    for router in root:
        app.include_router(router)
    app.include_router(ops_router)
    return app


def started_line(settings: Settings, worker_id: int | None) -> str:
    """The one start-up line of a process: each adapter it uses, credentials hidden."""
    adapters = {
        "database": settings.database_url,
        "cache": settings.cache_url,
        "events": settings.events_url,
        "storage": settings.storage_url,
        "search": settings.search_url,
        "secrets": settings.secrets_url,
    }
    named = " ".join(f"{name}={redact_url(url)}" for name, url in adapters.items())
    # The worker id it mints under; none yet while its lease waits (for the migrations,
    # or for the store to answer).
    leased = "none yet" if worker_id is None else worker_id
    return f"started minifb {__version__}: {named} worker_id={leased}"


OPENAPI_URL = "/openapi.json"
API_DESCRIPTION = """\
People sign up, befriend and follow each other, post, comment and react, and
read a news feed of what the people they follow wrote.

**Authentication.** Register or log in (`/api/v1/auth/...`) for an access
token and send it as `Authorization: Bearer <token>`; it lasts
`expires_in` seconds, and the refresh token gets a new pair.

**Ids** are numeric strings (they pass 2^53). **Lists** are pages:
`{"items": [...], "next_cursor": ...}`; pass `next_cursor` back as `?cursor=`
for the next page, until it is null.

**Errors** are RFC 9457 problem details (`application/problem+json`): `type`
ends in a stable code, `detail` says what went wrong in words, and a 422
lists each invalid part in `errors`. Over the rate limit the answer is 429,
and while a service a request needs is down, 503; both say `Retry-After`.
"""
OPENAPI_TAGS = [
    {"name": "auth", "description": "Accounts, logins, tokens and passwords."},
    {"name": "users", "description": "Profiles, friend requests, friends, follows and blocks."},
    {"name": "posts", "description": "Posts, comments and reactions."},
    {"name": "feed", "description": "The news feed: what the people you follow posted."},
    {"name": "messages", "description": "Conversations, messages and read receipts."},
    {"name": "notifications", "description": "What others did that concerns you."},
    {"name": "media", "description": "Images: uploads, renditions and who may see them."},
    {
        "name": "presence",
        "description": "Which friends are online now, and when the others were last active; "
        "the stream (`/api/v1/stream`, a WebSocket: see the README) pushes the changes.",
    },
    {"name": "search", "description": "Finding people and posts you may see."},
    {"name": "ops", "description": "Liveness, readiness and metrics, for operators."},
]


def app_from_env() -> FastAPI:
    """Factory for server workers (granian, `uvicorn --factory`): services come from
    `MINIFB_SERVICES`."""
    services = [s for s in os.environ.get("MINIFB_SERVICES", "").split(",") if s]
    return create_app(services=services or None, server=True)


IN_PROCESS_CACHE_HINT = (
    "the in-process cache (MINIFB_CACHE_URL=memory://) lives in one process, so the "
    "embedded tier serves from one process; to run more, share a Redis cache "
    "(MINIFB_CACHE_URL=redis://...)"
)


def single_process_lock(settings: Settings) -> ProcessLock | None:
    """With the in-process cache, hold the lock that keeps a second server process off
    the same database (a stale cache per process would serve what it must not)."""
    if not settings.cache_url.startswith("memory:"):
        return None
    database = make_url(settings.database_url).database
    if settings.is_sqlite and database and database != ":memory:":
        # Beside the file itself, so that no other var dir gets around it.
        path = Path(f"{database}.server.lock")
    else:
        digest = hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]
        path = settings.var_dir / f"server-{digest}.lock"
    lock = ProcessLock(path)
    lock.acquire(IN_PROCESS_CACHE_HINT)
    return lock


async def warm_database(db: Database, settings: Settings) -> None:
    """Open a server's pooled connections before its first requests (`Database.warm`),
    bounded: a database that does not answer now delays the start by at most a
    connect timeout and a second, and is found by the first request instead."""
    wanted = min(settings.database_pool_warm, settings.database_pool_size)
    if db.dialect != "postgresql" or wanted == 0:
        return
    try:
        async with asyncio.timeout(settings.database_connect_timeout + 1):
            opened = await db.warm(wanted)
    except Exception as exc:  # best effort: the start goes on
        log.warning("the database's connections could not be opened ahead: %r", exc)
        return
    if opened < wanted:
        log.warning("opened %d of the %d database connections wanted ahead", opened, wanted)


def drain_on_sigterm(hub: Hub) -> Callable[[], None] | None:
    """On SIGTERM, close the stream's sockets (1001) before the server's own shutdown
    begins, then hand the signal on to the server; returns what undoes this (None when
    this thread cannot take signals).

    Both servers then stop accepting, let the requests in flight finish and run the
    lifespan's shutdown, but they end the open WebSockets first, uvicorn with 1012 and
    granian with no close frame at all, so the lifespan comes too late for them
    (docs/decisions/0128). The signal goes back to uvicorn's own handler (a Python one:
    restored, then raised again) or, as SIGINT, to granian's: its worker handles SIGINT
    and SIGTERM with one handler on the event loop, which cannot be read back.
    """
    loop = asyncio.get_running_loop()
    server_handler = signal.getsignal(signal.SIGTERM)
    try:
        on_loop = loop.remove_signal_handler(signal.SIGTERM)
        draining: list[asyncio.Task[None]] = []

        def undo() -> None:
            loop.remove_signal_handler(signal.SIGTERM)
            if not on_loop:
                signal.signal(signal.SIGTERM, server_handler or signal.SIG_DFL)

        async def drain_then_hand_over() -> None:
            try:
                open_, left = hub.count(), await hub.drain(DRAIN_WITHIN)
                log.info(
                    "stopping: closed %d stream sockets with 1001 (%d not in time)", open_, left
                )
            finally:
                if on_loop:
                    signal.raise_signal(signal.SIGINT)
                else:
                    undo()
                    signal.raise_signal(signal.SIGTERM)

        def on_sigterm() -> None:
            if not draining:  # a second SIGTERM changes nothing
                draining.append(loop.create_task(drain_then_hand_over(), name="stream-drain"))

        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    except (ValueError, RuntimeError) as exc:  # not the main thread: the server's way only
        log.warning("SIGTERM will not close the stream's sockets with 1001: %s", exc)
        return None
    return undo


def tune_collector(threshold: tuple[int, int, int] | None) -> None:
    """Freeze what start-up built and collect less often (PERFORMANCE notes in
    docs/performance.md): with Python's defaults a full collection walks every
    long-lived object of the framework, the ORM and the models, and under load
    those pauses set the p99."""
    if threshold is None:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(*threshold)
