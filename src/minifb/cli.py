"""`minifb serve | db | seed | openapi`."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from minifb.config import Settings

app = typer.Typer(help="mini-facebook: the backend of a small Facebook.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _prepare_sqlite(settings: Settings) -> None:
    # A fresh checkout has no var/: make the folder the default SQLite file lives in.
    if settings.is_sqlite and ":memory:" not in settings.database_url:
        path = settings.database_url.split(":///", 1)[-1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    service: Annotated[
        list[str] | None,
        typer.Option("--service", help="Serve only this service's routes (repeatable)."),
    ] = None,
) -> None:
    """Run the HTTP server (every service in one process unless --service is given)."""
    import uvicorn

    from minifb.api import routers_for

    services = service or []
    try:
        routers_for(services or None)  # refuse unknown names before starting any process
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--service") from None
    os.environ["MINIFB_SERVICES"] = ",".join(services)
    _prepare_sqlite(Settings())
    uvicorn.run(
        "minifb.main:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # the gateway decides whom to trust (MINIFB_TRUSTED_PROXIES)
        log_config=None,
        access_log=False,
    )


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
) -> None:
    """Add demo people and friendships (password: minifb-demo-password)."""
    from minifb.kit import ids
    from minifb.kit.db import Database
    from minifb.seed import DEMO_PASSWORD, seed_people

    settings = Settings()
    ids.configure(settings.resolved_worker_id)

    async def run() -> None:
        db = Database(settings.database_url, ca_cert=settings.database_ca_cert)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        try:
            with Progress(*columns) as progress:
                task = progress.add_task("people", total=users)
                result = await seed_people(
                    db,
                    users,
                    friends_per_person=friends,
                    progress=lambda n: progress.advance(task, n),
                )
        finally:
            await db.dispose()
        typer.echo(
            f"added {result.users} people and {result.friendships} friendships; "
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
