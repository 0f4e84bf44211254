"""`minifb serve | db | seed | openapi`."""

from __future__ import annotations

import asyncio
import enum
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from minifb.config import Settings

app = typer.Typer(help="mini-facebook: the backend of a small Facebook.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


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
    settings = Settings()
    if workers > 1 and settings.cache_url.startswith("memory:"):
        from minifb.main import IN_PROCESS_CACHE_HINT

        raise typer.BadParameter(
            f"cannot run {workers} workers: {IN_PROCESS_CACHE_HINT}", param_hint="--workers"
        )
    _prepare_sqlite(settings)
    if server is ServerKind.granian:
        _serve_granian(host, port, workers, settings.log_level)
    else:
        _serve_uvicorn(host, port, workers)


def _serve_uvicorn(host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # the gateway decides whom to trust (MINIFB_TRUSTED_PROXIES)
        log_config=None,
        access_log=False,
    )


def _serve_granian(host: str, port: int, workers: int, log_level: str) -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    from minifb.adapters.telemetry.logging import SERVER_LOG_CONFIG

    level = log_level.lower()
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
        log_dictconfig=SERVER_LOG_CONFIG,
        log_access=False,
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

    settings = Settings()
    _prepare_sqlite(settings)
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()] = "-1") -> None:
    """Undo migrations down to REVISION (default: one step)."""
    from minifb.migrations import downgrade

    downgrade(Settings().database_url, revision)
    typer.echo(f"database downgraded to {revision}")


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

    from minifb.kit import ids
    from minifb.kit.db import Database
    from minifb.seed import DEMO_PASSWORD
    from minifb.seed import seed as seed_demo

    settings = Settings()
    ids.configure(settings.resolved_worker_id)

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
def openapi() -> None:
    """Print the OpenAPI document."""
    from minifb.main import create_app

    typer.echo(json.dumps(create_app(Settings()).openapi(), indent=2))


def main() -> None:
    app()
