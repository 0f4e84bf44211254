"""`minifb serve | worker | db | seed | events | search | openapi | --version`."""

from __future__ import annotations

import asyncio
import enum
import json
import os
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import AliasChoices, ValidationError
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

import minifb
from minifb.config import Settings
from minifb.kit.malloc import settle_malloc

if TYPE_CHECKING:
    from minifb.adapters.events.rabbitmq import RabbitMQEventBus

app = typer.Typer(help="mini-facebook: the backend of a small Facebook.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
events_app = typer.Typer(help="Events consumers could not handle.", no_args_is_help=True)
app.add_typer(events_app, name="events")
search_app = typer.Typer(help="The search index of people and posts.", no_args_is_help=True)
app.add_typer(search_app, name="search")


def _fail(message: str, code: int = 1) -> NoReturn:
    """End a command with one line on stderr a person can act on, not a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"minifb {minifb.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """mini-facebook: the backend of a small Facebook."""


def _load_settings() -> Settings:
    """The settings, or one line per invalid setting naming it and why."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"error: {_setting_name(error['loc'])}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


def _setting_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable a person sets for the field at `loc`."""
    field = Settings.model_fields.get(str(loc[0])) if loc else None
    if field is None:
        return ".".join(str(part) for part in loc).upper() or "settings"
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return f"MINIFB_{str(loc[0]).upper()}"


def _redacted(url: str, unreadable: str = "the configured database") -> str:
    """`url` with its password hidden (or `unreadable` for a URL that does not parse)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return unreadable


def _first_line(exc: BaseException) -> str:
    """What went wrong, in one line: the error's first line, or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _schema_revision(settings: Settings) -> str | None:
    """The database's Alembic revision (None: never migrated); exits if it is unreachable."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.exc import SQLAlchemyError

    from minifb.kit.db import Database

    sqlite_file = settings.is_sqlite and ":memory:" not in settings.database_url
    if sqlite_file and not Path(settings.database_url.split(":///", 1)[-1]).exists():
        return None  # not created yet: never migrated (and reading must not create it)

    async def read() -> str | None:
        db = Database(
            settings.database_url,
            ca_cert=settings.database_ca_cert,
            pool_size=1,
            connect_timeout=settings.database_connect_timeout,
        )
        try:
            async with db.engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await db.engine.dispose()

    try:
        return asyncio.run(read())
    except (OSError, TimeoutError, SQLAlchemyError) as exc:
        _fail(f"cannot reach the database {_redacted(settings.database_url)}: {_first_line(exc)}")
    except ImportError as exc:  # a URL naming a driver this install does not have
        _fail(f"cannot use the database URL {_redacted(settings.database_url)}: {exc}")


def _head_revision(settings: Settings) -> str | None:
    from alembic.script import ScriptDirectory

    from minifb.migrations import alembic_config

    return ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()


def _prepare_sqlite(settings: Settings) -> None:
    # A fresh checkout has no var/: make the folder the default SQLite file lives in.
    if settings.is_sqlite and ":memory:" not in settings.database_url:
        path = settings.database_url.split(":///", 1)[-1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)


class ServerKind(enum.StrEnum):
    granian = "granian"
    uvicorn = "uvicorn"


APP_FACTORY = "minifb.main:app_from_env"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    service: Annotated[
        list[str] | None,
        typer.Option("--service", help="Serve only this service's routes (repeatable)."),
    ] = None,
    server: Annotated[
        ServerKind,
        typer.Option(
            help="HTTP server: granian (measured faster, docs/performance.md) or uvicorn."
        ),
    ] = ServerKind.granian,
) -> None:
    """Run the HTTP server (every service in one process unless --service is given)."""
    from minifb.api import routers_for

    services = service or []
    try:
        routers_for(services or None)  # refuse unknown names before starting any process
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--service") from None
    os.environ["MINIFB_SERVICES"] = ",".join(services)
    settings = _load_settings()
    from minifb.workers.registry import resolve

    try:
        resolve(settings.consumers_in_server)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="MINIFB_SERVER_CONSUMERS") from None
    if workers > 1 and settings.cache_url.startswith("memory:"):
        from minifb.main import IN_PROCESS_CACHE_HINT

        raise typer.BadParameter(
            f"cannot run {workers} workers: {IN_PROCESS_CACHE_HINT}", param_hint="--workers"
        )
    _check_can_serve(settings, host, port)
    _prepare_sqlite(settings)
    with _shared_metrics_dir(workers):
        if server is ServerKind.granian:
            _serve_granian(host, port, workers, settings)
        else:
            _serve_uvicorn(host, port, workers)


@contextmanager
def _shared_metrics_dir(workers: int) -> Iterator[None]:
    """With several server processes, a fresh directory of this run through which a
    scrape merges every process's metrics (prometheus-client's multiprocess mode),
    removed when the server stops; one process keeps its metrics in memory."""
    if workers == 1:
        yield
        return
    import shutil
    import tempfile

    from minifb.adapters.telemetry.metrics import MULTIPROCESS_DIR

    directory = tempfile.mkdtemp(prefix="minifb-metrics-")
    previous = os.environ.get(MULTIPROCESS_DIR)
    # Set before the server starts its processes, which inherit it.
    os.environ[MULTIPROCESS_DIR] = directory
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_DIR, None)
        else:
            os.environ[MULTIPROCESS_DIR] = previous
        shutil.rmtree(directory, ignore_errors=True)


# Seconds a start-up check waits for the cache to answer (longer than a request's
# MINIFB_CACHE_TIMEOUT: a first connection may need DNS and a TLS handshake).
START_CHECK_TIMEOUT = 3.0


def _check_can_serve(settings: Settings, host: str, port: int) -> None:
    """Exit with one line before any server process starts if it could not serve:
    the port is taken, or the database or the Redis cache does not answer."""
    _check_port(host, port)
    _schema_revision(settings)  # exits if the database cannot be reached
    _check_cache(settings)


def _check_port(host: str, port: int) -> None:
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError) as exc:
        _fail(f"cannot listen on {host}: {_first_line(exc)}; check --host")
    with socket.socket(family, kind, proto) as probe:
        # As both servers do, so a port whose last connections linger in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                _fail(
                    f"port {port} on {host} is in use (another server?); choose another with --port"
                )
            _fail(f"cannot listen on {host} port {port}: {exc.strerror or _first_line(exc)}")


def _check_cache(settings: Settings) -> None:
    if settings.cache_url.startswith("memory:"):
        return
    from redis.exceptions import RedisClusterException, RedisError

    from minifb.adapters.cache import create_cache
    from minifb.adapters.resilience import Unavailable

    async def ping() -> None:
        cache = create_cache(
            settings.cache_url, prefix=settings.cache_prefix, timeout=START_CHECK_TIMEOUT
        )
        try:
            await cache.ping()
        finally:
            await cache.close()

    try:
        asyncio.run(ping())
    except (Unavailable, RedisError, RedisClusterException, OSError) as exc:
        # Unavailable says only "cache is unavailable"; the client's error says why.
        reason = _first_line(
            exc.__cause__ if isinstance(exc, Unavailable) and exc.__cause__ else exc
        )
        url = _redacted(settings.cache_url, "the configured cache")
        _fail(f"cannot reach the Redis cache {url}: {reason}")


def _serve_uvicorn(host: str, port: int, workers: int) -> None:
    import signal

    import uvicorn

    from minifb.main import DRAIN_WITHIN, STOP_WITHIN

    config = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # the gateway decides whom to trust (MINIFB_TRUSTED_PROXIES)
        # Stream frames are small JSON: compression saves little, costs ~40 kB a socket,
        # and kept closed sockets' memory under our collector thresholds (docs/decisions/0121).
        ws_per_message_deflate=False,
        log_config=None,
        access_log=False,
        # After the stream's drain, the requests in flight have this long before they are
        # cancelled; the rest of STOP_WITHIN is the lifespan's close (docs/decisions/0128).
        timeout_graceful_shutdown=int(STOP_WITHIN - DRAIN_WITHIN) - 2,
    )
    # What uvicorn.run does, but for the exit code and the listening socket on SIGTERM.
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        class Supervisor(Multiprocess):
            def handle_term(self) -> None:
                # Its copy of the listening socket would keep the port taking connections
                # that no worker accepts once they stop; closed, the port refuses them.
                for sock in self.sockets:
                    sock.close()
                super().handle_term()

        Supervisor(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    # uvicorn raises the signal again once it has stopped, for the handler it found:
    # this one, so that a stop on SIGTERM exits with 0 (and one before uvicorn's own
    # handler is in place still stops it).
    signal.signal(signal.SIGTERM, lambda _signum, _frame: setattr(server, "should_exit", True))
    server.run()
    if not server.started:
        raise typer.Exit(3)  # uvicorn's STARTUP_FAILURE


def _serve_granian(host: str, port: int, workers: int, settings: Settings) -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    from minifb.adapters.telemetry.logging import server_log_config
    from minifb.main import STOP_WITHIN

    level = settings.log_level.lower()
    Granian(
        APP_FACTORY,
        address=host,
        port=port,
        workers=workers,
        factory=True,
        # ASGI with lifespan: the app builds its adapters once per worker at start-up.
        interface=Interfaces.ASGI,
        # Granian reads no proxy headers; the gateway decides whom to trust.
        log_level=LogLevels(level) if level in LogLevels.__members__ else LogLevels.info,
        log_dictconfig=server_log_config(settings.resolved_log_format),
        log_access=False,
        # A worker not gone this long after SIGTERM is killed (docs/decisions/0128).
        workers_kill_timeout=STOP_WITHIN,
    ).serve()


@contextmanager
def phase_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar per phase of a long job; yields `advance(phase, step, total)`."""
    columns = (
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(phase: str, step: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], advance=step, total=total)

        yield advance


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from minifb.migrations import upgrade

    settings = _load_settings()
    _prepare_sqlite(settings)
    _schema_revision(settings)  # exits with one line if the database cannot be reached
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()] = "-1") -> None:
    """Undo migrations down to REVISION (default: one step)."""
    from minifb.migrations import downgrade

    settings = _load_settings()
    _schema_revision(settings)  # exits with one line if the database cannot be reached
    downgrade(settings.database_url, revision)
    typer.echo(f"database downgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision and whether it is the newest."""
    settings = _load_settings()
    current = _schema_revision(settings)
    head = _head_revision(settings)
    if current is None:
        typer.echo(f"database not migrated (head is {head}); run `minifb db upgrade`")
    elif current == head:
        typer.echo(f"database at {current} (head)")
    else:
        typer.echo(f"database at {current}, head is {head}; run `minifb db upgrade`")


def _migrated_database(settings: Settings) -> None:
    """Exit with one line unless the database is reachable and at the newest migration."""
    current = _schema_revision(settings)
    if current is None or current != _head_revision(settings):
        _fail(
            f"the database schema is {'missing' if current is None else 'at ' + current}, "
            "not at the newest migration: run `minifb db upgrade` first"
        )


@app.command()
def seed(
    users: Annotated[int, typer.Option(min=1, help="How many demo people to add.")] = 100,
    friends: Annotated[int, typer.Option(min=1, help="Average friends a newcomer adds.")] = 8,
    posts_per_user: Annotated[
        int, typer.Option(min=0, help="Average posts per person (the bench uses 50).")
    ] = 5,
    celebrities: Annotated[
        int | None,
        typer.Option(min=0, help="People followed by many (default: one per 2,000 people)."),
    ] = None,
    rng_seed: Annotated[int, typer.Option("--seed", help="Seed of the random generator.")] = 42,
) -> None:
    """Add demo people, friends, posts, comments, reactions (password: minifb-demo-password)."""
    import random

    from minifb.kit.db import Database
    from minifb.seed import DEMO_PASSWORD
    from minifb.seed import seed as seed_demo

    settings = _load_settings()
    _migrated_database(settings)

    async def run() -> None:
        db = Database(settings.database_url, ca_cert=settings.database_ca_cert)
        try:
            with phase_progress() as advance:
                result = await seed_demo(
                    db,
                    users,
                    friends_per_person=friends,
                    posts_per_user=posts_per_user,
                    celebrities=celebrities,
                    rng=random.Random(rng_seed),  # noqa: S311 - demo data, not secrets
                    progress=advance,
                )
        finally:
            await db.dispose()
        typer.echo(
            f"added {result.users} people and {result.friendships} friendships "
            f"(+{result.follows} celebrity follows), {result.posts} posts, "
            f"{result.comments} comments, {result.reactions} reactions; "
            f"log in as demo_0 .. with password {DEMO_PASSWORD!r}"
        )

    asyncio.run(run())


@app.command()
def worker(
    names: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME...",
            help="feed, notifications, search-indexer, housekeeping, stream, or all "
            "(every one but stream, which runs in the servers).",
        ),
    ],
) -> None:
    """Run event consumers and housekeeping in this process, on the broker's queues,
    until SIGTERM or SIGINT (then drain: the event in hand finished, the rest returned)."""
    from minifb import worker as worker_process
    from minifb.workers.registry import WORKERS, resolve

    settings = _load_settings()
    if settings.in_process_events:
        _fail(
            "a worker takes events from a broker: set MINIFB_EVENTS_URL to an amqp:// URL "
            "(on the in-process bus, `minifb serve` runs every consumer itself)"
        )
    chosen = [n for n in WORKERS if n != "stream"] if "all" in names else names
    try:
        resolve(chosen)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="NAME") from None
    _migrated_database(settings)
    settle_malloc()
    asyncio.run(worker_process.run(settings, chosen))


@events_app.command("dead-letters")
def events_dead_letters(
    include_retried: Annotated[
        bool, typer.Option("--all", help="Also list database dead letters already sent back.")
    ] = False,
) -> None:
    """List the events a consumer parked after its last attempt, oldest first: those in
    the database and, with MINIFB_EVENTS_URL=amqp://..., those in the broker's dead-letter
    queues (each section says how to send one back)."""
    from minifb.kit import dead_letters
    from minifb.kit.db import Database

    settings = _load_settings()
    _migrated_database(settings)

    async def run() -> list[str]:
        db = Database(settings.database_url, ca_cert=settings.database_ca_cert, pool_size=1)
        try:
            letters = await dead_letters.list_parked(db, include_retried=include_retried)
        finally:
            await db.dispose()
        lines = []
        for letter in letters:
            retried = "" if letter.retried_at is None else f" retried={letter.retried_at:%FT%TZ}"
            lines.append(
                f"{letter.id} consumer={letter.consumer} event={letter.event_id} "
                f"type={letter.event_type} attempts={letter.attempts} "
                f"failed={letter.failed_at:%FT%TZ}{retried} error={_first_line_of(letter.error)}"
            )
        return lines

    in_database = asyncio.run(run())
    if settings.in_process_events:
        typer.echo("\n".join(in_database) if in_database else "no dead letters")
        return
    from minifb.workers.registry import BUS_CONSUMERS

    in_broker = [
        f"consumer={letter.consumer} event={letter.event_id or '?'} type={letter.type or '?'} "
        f"attempts={letter.attempts} error={_first_line_of(letter.error)}"
        for letter in _on_broker(settings, lambda bus: bus.dead_letters(*BUS_CONSUMERS))
    ]
    typer.echo("in the database (send one back: minifb events retry ID):")
    typer.echo("\n".join(f"  {line}" for line in in_database) if in_database else "  none")
    typer.echo(
        f"in the broker {_redacted(settings.events_url, _BROKER)} "
        "(send one back: minifb events retry --consumer CONSUMER EVENT):"
    )
    typer.echo("\n".join(f"  {line}" for line in in_broker) if in_broker else "  none")


_BROKER = "of MINIFB_EVENTS_URL"  # what names a broker URL that does not parse


def _first_line_of(text: str) -> str:
    return text.splitlines()[0] if text else ""


_T = TypeVar("_T")


def _on_broker(
    settings: Settings, call: Callable[[RabbitMQEventBus], Coroutine[Any, Any, _T]]
) -> _T:
    """`call` on a bus of the broker of MINIFB_EVENTS_URL, subscribed to nothing; exits with
    one line if the broker does not answer."""
    import logging

    from minifb.adapters.events.rabbitmq import RabbitMQEventBus
    from minifb.adapters.resilience import Unavailable

    bus = RabbitMQEventBus(
        settings.events_url, prefix=settings.events_prefix, timeout=START_CHECK_TIMEOUT
    )
    # The client logs its failure to connect too: the one line below says it.
    client_log = logging.getLogger("aiormq")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(call(bus))
    except Unavailable as exc:
        reason = _first_line(exc.__cause__ if exc.__cause__ else exc)
        _fail(f"cannot reach the broker {_redacted(settings.events_url, _BROKER)}: {reason}")
    finally:
        client_log.setLevel(level)


@events_app.command("retry")
def events_retry(
    dead_letter_id: Annotated[
        int | None,
        typer.Argument(
            metavar="ID",
            help="The database dead letter's id; with --consumer, the event's id.",
            show_default=False,
        ),
    ] = None,
    consumer: Annotated[
        str | None,
        typer.Option(
            help="Send back a dead letter of this consumer's queue in the broker "
            "(MINIFB_EVENTS_URL=amqp://...), found by its event's id.",
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="With --consumer: every one of its dead letters.")
    ] = False,
) -> None:
    """Send a dead letter's event back to the consumer that failed on it, and to no other
    (they handled it). A database dead letter (ID): a running process publishes it again.
    A broker dead letter (--consumer NAME EVENT, or --consumer NAME --all): it goes
    straight to that consumer's queue, and leaves the dead-letter queue once the broker
    has it."""
    if consumer is not None:
        _retry_in_broker(consumer, dead_letter_id, every=every)
        return
    if every:
        raise typer.BadParameter(
            "--all sends back every dead letter of a consumer: give --consumer NAME",
            param_hint="--all",
        )
    if dead_letter_id is None:
        raise typer.BadParameter(
            "give the dead letter's ID (a broker's: --consumer NAME EVENT)", param_hint="ID"
        )
    from minifb.kit import dead_letters
    from minifb.kit.db import Database

    settings = _load_settings()
    _migrated_database(settings)

    async def run() -> None:
        db = Database(settings.database_url, ca_cert=settings.database_ca_cert, pool_size=1)
        try:
            letter = await dead_letters.send_back(db, dead_letter_id)
        finally:
            await db.dispose()
        if letter is None:
            _fail(f"no dead letter {dead_letter_id}; `minifb events dead-letters` lists them")
        typer.echo(
            f"event {letter.event_id} ({letter.event_type}) sent back to consumer {letter.consumer}"
        )

    asyncio.run(run())


def _retry_in_broker(consumer: str, event_id: int | None, *, every: bool) -> None:
    from minifb.workers.registry import BUS_CONSUMERS

    if consumer not in BUS_CONSUMERS:
        raise typer.BadParameter(
            f"no consumer named {consumer}; there are {', '.join(BUS_CONSUMERS)}",
            param_hint="--consumer",
        )
    if every == (event_id is not None):
        raise typer.BadParameter("give the event's id or --all, one of them", param_hint="ID")
    settings = _load_settings()
    if settings.in_process_events:
        _fail(
            "--consumer sends back a broker's dead letter: set MINIFB_EVENTS_URL to the "
            "amqp:// URL of the broker (the in-process bus keeps none past its process)"
        )
    wanted = None if event_id is None else str(event_id)
    try:
        sent = _on_broker(settings, lambda bus: bus.send_back(consumer, wanted))
    except LookupError as exc:
        _fail(f"cannot send back to consumer {consumer}: {exc}")
    if not sent and wanted is not None:
        _fail(
            f"no dead letter of consumer {consumer} for event {wanted} in the broker; "
            "`minifb events dead-letters` lists them"
        )
    if not sent:
        typer.echo(f"no dead letters of consumer {consumer} in the broker")
    for letter in sent:
        event, kind = letter.event_id or "?", letter.type or "?"
        typer.echo(f"event {event} ({kind}) sent back to consumer {consumer}")


@app.command()
def openapi() -> None:
    """Print the OpenAPI document."""
    from minifb.main import create_app

    typer.echo(json.dumps(create_app(_load_settings()).openapi(), indent=2))


def main() -> None:
    app()


@search_app.command("reindex")
def search_reindex(
    batch: Annotated[
        int, typer.Option(min=1, max=10_000, help="Rows read and indexed per transaction.")
    ] = 1000,
) -> None:
    """Rebuild the search index (MINIFB_SEARCH_URL) from the people and posts in the
    database: after a restore, a seed, or a change of search backend."""
    from minifb.bootstrap import create_search_index
    from minifb.kit.db import Database
    from minifb.search import service as search

    settings = _load_settings()
    _migrated_database(settings)

    async def run() -> tuple[int, int]:
        db = Database(settings.database_url, ca_cert=settings.database_ca_cert, pool_size=1)
        index = create_search_index(settings)
        expected: dict[str, int] = {}
        try:
            with phase_progress() as advance:

                def totals(people: int, posts: int) -> None:
                    expected.update(people=people, posts=posts)
                    for phase, total in expected.items():
                        advance(phase, 0, total)

                return await search.reindex(
                    db,
                    index,
                    batch=batch,
                    totals=totals,
                    progress=lambda phase, n: advance(phase, n, expected[phase]),
                )
        finally:
            await db.dispose()

    people, posts = asyncio.run(run())
    typer.echo(f"indexed {people} people and {posts} posts")
