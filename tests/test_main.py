"""App assembly: what a server process sets up beyond the app itself."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import minifb
from minifb.adapters.telemetry.logging import ConsoleFormatter, JsonFormatter
from minifb.config import Settings
from minifb.kit.db import Database
from minifb.kit.process_lock import AlreadyServing
from minifb.main import (
    create_app,
    single_process_lock,
    started_line,
    tune_collector,
    warm_database,
)
from tests.fixtures.app import AppFactory


@pytest.fixture
def collector() -> Iterator[None]:
    """Give the collector back as it was: thresholds, and nothing left frozen."""
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


class TestTuneCollector:
    def test_sets_the_thresholds_and_freezes_what_start_up_built(self, collector: None) -> None:
        tune_collector((50_000, 20, 100))
        assert gc.get_threshold() == (50_000, 20, 100)
        assert gc.get_freeze_count() > 0

    def test_off_leaves_the_collector_alone(self, collector: None) -> None:
        before = gc.get_threshold()
        tune_collector(None)
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0


class TestWarmDatabase:
    """A server opens its pools' connections as it starts; never a reason not to start."""

    async def test_sqlite_says_nothing(
        self, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'warm.db'}")
        try:
            await warm_database(db, settings)
        finally:
            await db.dispose()
        assert not caplog.records

    async def test_a_database_that_is_down_is_one_warning_within_the_bound(
        self, settings: Settings, caplog: pytest.LogCaptureFixture
    ) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/minifb")
        try:
            async with asyncio.timeout(settings.database_connect_timeout + 2):
                await warm_database(db, settings)
        finally:
            await db.dispose()
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warnings == [
            f"opened 0 of the {settings.database_pool_warm} database connections wanted ahead"
        ]
        assert db.breaker.state == "closed"


class TestOneServerProcessOnTheInProcessCache:
    """A second server process over the same database is refused while the first serves:
    each would keep a cache the other's writes never invalidate."""

    def settings(
        self, tmp_path: Path, cache_url: str = "memory://", database: str = "one.db"
    ) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="test",
            database_url=f"sqlite+aiosqlite:///{tmp_path / database}",
            cache_url=cache_url,
            var_dir=tmp_path / "var",
        )

    def test_the_second_is_refused_naming_the_first_and_why(self, tmp_path: Path) -> None:
        first = single_process_lock(self.settings(tmp_path))
        assert first is not None
        try:
            with pytest.raises(AlreadyServing, match=f"process {os.getpid()} is already serving"):
                single_process_lock(self.settings(tmp_path))
            # In another process too: the lock is the kernel's, not this process's.
            script = (
                "import sys; from minifb.main import single_process_lock; "
                "from minifb.config import Settings; "
                "single_process_lock(Settings(_env_file=None, database_url=sys.argv[1], "
                "var_dir=sys.argv[2]))"
            )
            other = subprocess.run(  # noqa: S603 - our own interpreter and arguments
                [
                    sys.executable,
                    "-c",
                    script,
                    self.settings(tmp_path).database_url,
                    str(tmp_path / "var"),
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert other.returncode != 0
            assert "embedded tier serves from one process" in other.stderr
        finally:
            first.release()
        # Once the first has stopped, a new one may serve.
        again = single_process_lock(self.settings(tmp_path))
        assert again is not None
        again.release()

    def test_another_var_dir_over_the_same_database_is_refused_too(self, tmp_path: Path) -> None:
        first = single_process_lock(self.settings(tmp_path))
        assert first is not None
        try:
            elsewhere = self.settings(tmp_path).model_copy(update={"var_dir": tmp_path / "v2"})
            with pytest.raises(AlreadyServing):
                single_process_lock(elsewhere)
        finally:
            first.release()

    def test_a_shared_cache_needs_no_lock(self, tmp_path: Path) -> None:
        assert single_process_lock(self.settings(tmp_path, "redis://127.0.0.1:6379/0")) is None

    def test_another_database_is_another_lock(self, tmp_path: Path) -> None:
        first = single_process_lock(self.settings(tmp_path))
        other = single_process_lock(self.settings(tmp_path, database="two.db"))
        assert first is not None
        assert other is not None
        first.release()
        other.release()


class TestTheStartUpLine:
    def test_names_every_adapter_with_credentials_hidden(self, tmp_path: Path) -> None:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="test",
            database_url="postgresql://app:db-secret@db.internal:5432/minifb",
            cache_url="rediss://:cache-token@cache.internal:6379/0",
            storage_url="s3://media?secret_access_key=storage-secret",
            var_dir=tmp_path / "var",
        )
        line = started_line(settings, 321)
        assert line == (
            f"started minifb {minifb.__version__}: "
            "database=postgresql+asyncpg://app:***@db.internal:5432/minifb "
            "cache=rediss://:***@cache.internal:6379/0 events=memory:// "
            "storage=s3://media?secret_access_key=*** search=database:// secrets=env:// "
            "worker_id=321"
        )
        assert started_line(settings, None).endswith(" worker_id=none yet")

    async def test_one_line_per_process_start(
        self, make_client: AppFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="minifb.main")
        await make_client()
        started = [r.getMessage() for r in caplog.records if r.name == "minifb.main"]
        assert len(started) == 1
        assert started[0].startswith("started minifb")

    @pytest.mark.parametrize(
        ("environment", "log_format", "formatter"),
        [
            ("development", None, ConsoleFormatter),
            ("production", None, JsonFormatter),
            ("production", "console", ConsoleFormatter),
            ("development", "json", JsonFormatter),
        ],
    )
    def test_the_app_logs_in_the_configured_format(
        self,
        tmp_path: Path,
        environment: str,
        log_format: str | None,
        formatter: type[logging.Formatter],
    ) -> None:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            create_app(
                Settings(
                    _env_file=None,  # type: ignore[call-arg]
                    environment=environment,
                    log_format=log_format,
                    database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
                    var_dir=tmp_path / "var",
                )
            )
            [ours] = [h for h in root.handlers if type(h).__name__ == "_OurHandler"]
            assert type(ours.formatter) is formatter
        finally:
            root.handlers = handlers
            root.setLevel(level)
