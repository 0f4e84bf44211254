"""Telemetry: URLs made safe to log, both log formats, and metrics shared by processes."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from minifb.adapters.telemetry.logging import (
    ConsoleFormatter,
    JsonFormatter,
    configure_logging,
    make_formatter,
    redact_url,
    request_id_var,
    server_log_config,
)


class TestRedactUrl:
    @pytest.mark.parametrize(
        ("url", "safe"),
        [
            (
                "postgresql+asyncpg://postgres:s3cret@db.internal:5432/minifb",
                "postgresql+asyncpg://postgres:***@db.internal:5432/minifb",
            ),
            # A Redis AUTH token is the password of a user-less URL.
            ("rediss://:t0ken@cache.aws:6379/0", "rediss://:***@cache.aws:6379/0"),
            ("rediss+cluster://default:t0ken@node:6379", "rediss+cluster://default:***@node:6379"),
            ("redis://:tok%40en@cache:6379/0", "redis://:***@cache:6379/0"),
            # Written unescaped, the password still ends at the last "@".
            ("redis://:p#ss/w?rd@cache:6379/0", "redis://:***@cache:6379/0"),
            ("postgresql://u:p@ss@db/minifb", "postgresql://u:***@db/minifb"),
            (
                "s3://media?region=eu-west-1&secret_access_key=abc&X-Amz-Signature=def",
                "s3://media?region=eu-west-1&secret_access_key=***&X-Amz-Signature=***",
            ),
            (
                "https://search:9200/?api_key=k1;timeout=5&auth_token=t2#top",
                "https://search:9200/?api_key=***;timeout=5&auth_token=***#top",
            ),
            (
                "amqp://guest:guest@mq:5672/%2F?heartbeat=30",
                "amqp://guest:***@mq:5672/%2F?heartbeat=30",
            ),
        ],
    )
    def test_secrets_are_hidden(self, url: str, safe: str) -> None:
        assert redact_url(url) == safe

    @pytest.mark.parametrize(
        "url",
        [
            "memory://",
            "database://",
            "env://",
            "file://./var/media",
            "sqlite+aiosqlite:///./var/minifb.db",
            "postgresql+asyncpg://postgres@127.0.0.1:5432/minifb",
            "redis://cache:6379/0?socket_timeout=1",
        ],
    )
    def test_a_url_without_secrets_is_unchanged(self, url: str) -> None:
        assert redact_url(url) == url

    def test_an_odd_url_loses_more_never_less(self) -> None:
        # An "@" in the query makes the rest look like a password: hidden too.
        safe = redact_url("https://search:9200/?email=a@b.c&token=xyz")
        assert "xyz" not in safe
        assert safe.startswith("https://search:***@")


def record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("minifb.test", logging.WARNING, __file__, 1, message, args, None)
    entry.__dict__.update(extra)
    return entry


@pytest.fixture
def request_id() -> Iterator[str]:
    token = request_id_var.set("req-7")
    yield "req-7"
    request_id_var.reset(token)


class TestConsoleFormat:
    def test_one_readable_line(self, request_id: str) -> None:
        line = ConsoleFormatter().format(record("hello %s", "world", route="/x"))
        assert "\n" not in line
        assert line.endswith("WARNING minifb.test: hello world [req-7]")
        assert "\x1b" not in line
        assert "route" not in line  # extra fields are for the JSON format

    def test_colour_only_when_asked(self) -> None:
        coloured = ConsoleFormatter(colour=True).format(record())
        assert "\x1b[33mWARNING" in coloured
        assert coloured.count("\x1b[0m") == 1

    def test_an_exception_follows_its_line(self) -> None:
        try:
            raise ValueError("broken")
        except ValueError:
            entry = record()
            entry.exc_info = sys.exc_info()
        text = ConsoleFormatter().format(entry)
        first, *rest = text.splitlines()
        assert first.endswith("minifb.test: hello %s")
        assert rest[-1] == "ValueError: broken"

    def test_colour_follows_the_stream(self) -> None:
        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        on_terminal = make_formatter("console", Terminal())
        in_a_file = make_formatter("console", io.StringIO())
        assert isinstance(on_terminal, ConsoleFormatter)
        assert isinstance(in_a_file, ConsoleFormatter)
        assert on_terminal.colour
        assert not in_a_file.colour


class TestJsonFormat:
    def test_one_object_with_the_extra_fields(self, request_id: str) -> None:
        line = JsonFormatter().format(record("hello %s", "world", route="/x"))
        entry = orjson.loads(line)
        assert entry["message"] == "hello world"
        assert entry["request_id"] == "req-7"
        assert entry["route"] == "/x"
        assert entry["level"] == "WARNING"

    def test_make_formatter_picks_it(self) -> None:
        assert isinstance(make_formatter("json", io.StringIO()), JsonFormatter)


@pytest.fixture
def root_logging() -> Iterator[logging.Logger]:
    """The root logger's handlers and level given back as they were."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers = handlers
    root.setLevel(level)


class TestConfigureLogging:
    def ours(self, root: logging.Logger) -> list[logging.Handler]:
        return [h for h in root.handlers if type(h).__name__ == "_OurHandler"]

    def test_each_format_and_a_switch_between_them(self, root_logging: logging.Logger) -> None:
        configure_logging("INFO", "json")
        [handler] = self.ours(root_logging)
        assert isinstance(handler.formatter, JsonFormatter)
        configure_logging("WARNING", "console")
        assert self.ours(root_logging) == [handler]
        assert isinstance(handler.formatter, ConsoleFormatter)
        assert root_logging.level == logging.WARNING

    def test_a_default_console_handler_is_replaced_and_others_kept(
        self, root_logging: logging.Logger
    ) -> None:
        root_logging.handlers = [
            h for h in root_logging.handlers if h not in self.ours(root_logging)
        ]
        default = logging.StreamHandler(io.StringIO())
        to_a_file = logging.FileHandler("/dev/null")
        root_logging.handlers += [default, to_a_file]
        try:
            configure_logging("INFO", "console")
            assert default not in root_logging.handlers
            assert to_a_file in root_logging.handlers
            assert len(self.ours(root_logging)) == 1
        finally:
            to_a_file.close()

    def test_a_stream_token_in_a_logged_path_is_hidden(
        self, root_logging: logging.Logger, caplog: pytest.LogCaptureFixture
    ) -> None:
        configure_logging("INFO", "console")
        with caplog.at_level(logging.INFO):
            logging.getLogger("uvicorn.error").info(
                '%s - "WebSocket %s" [accepted]',
                "127.0.0.1:5000",
                "/api/v1/stream?access_token=eyJ.secret.sig&x=1",
            )
        [line] = [r.getMessage() for r in caplog.records if "WebSocket" in r.getMessage()]
        assert "secret" not in line
        assert "/api/v1/stream?access_token=***&x=1" in line


class TestServerLogConfig:
    @pytest.fixture
    def granian_logger(self) -> Iterator[logging.Logger]:
        logger = logging.getLogger("_granian")
        handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
        yield logger
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)

    def test_json(self, granian_logger: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
        logging.config.dictConfig(server_log_config("json"))
        granian_logger.info("listening on %s", "127.0.0.1:8000")
        entry = json.loads(capsys.readouterr().err)
        assert entry["message"] == "listening on 127.0.0.1:8000"
        assert entry["logger"] == "_granian"

    def test_console(
        self, granian_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
    ) -> None:
        logging.config.dictConfig(server_log_config("console"))
        granian_logger.info("listening on %s", "127.0.0.1:8000")
        line = capsys.readouterr().err
        assert line.rstrip().endswith("INFO    _granian: listening on 127.0.0.1:8000")
        assert "\x1b" not in line  # captured output is no terminal


# Run in a process of its own: which storage prometheus-client uses is chosen per process.
SHARED_METRICS = """
import os, sys
from prometheus_client import Gauge
from minifb.adapters.telemetry.metrics import Metrics

metrics = Metrics()
metrics.requests.labels("/health", "GET", "200").inc(int(sys.argv[1]))
Gauge("minifb_test_live", "A live gauge.", registry=metrics.registry,
      multiprocess_mode="livesum").set(1)
if sys.argv[2] == "close":
    metrics.close()
print(os.getpid())
"""


class TestMetricsSharedByProcesses:
    def run(self, directory: Path, count: int, then: str) -> str:
        done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-c", SHARED_METRICS, str(count), then],
            env={"PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": ":".join(sys.path)},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    def test_counts_add_up_and_a_closed_process_s_live_gauges_go(self, tmp_path: Path) -> None:
        self.run(tmp_path, 3, "close")
        alive = self.run(tmp_path, 4, "stay")
        scrape = subprocess.run(
            [
                sys.executable,
                "-c",
                "from minifb.adapters.telemetry.metrics import Metrics; "
                "print(Metrics().render().decode())",
            ],
            env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": ":".join(sys.path)},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert 'minifb_http_requests_total{method="GET",route="/health",status="200"} 7.0' in scrape
        # Only the process that did not close still has its live gauge.
        assert [p.name for p in tmp_path.glob("gauge_livesum_*.db")] == [
            f"gauge_livesum_{alive}.db"
        ]
        assert "minifb_test_live 1.0" in scrape
