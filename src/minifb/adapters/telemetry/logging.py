"""Logs: one readable line (`console`) or one JSON object (`json`) per record, with the
request id; and URLs made safe to log."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import orjson

LogFormat = Literal["console", "json"]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

# Attributes every LogRecord has; anything else was passed in `extra=` and is kept.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id and every `extra=` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


_COLOURS = {
    logging.DEBUG: "\x1b[2m",
    logging.INFO: "\x1b[32m",
    logging.WARNING: "\x1b[33m",
    logging.ERROR: "\x1b[31m",
    logging.CRITICAL: "\x1b[1;31m",
}
_RESET = "\x1b[0m"


class ConsoleFormatter(logging.Formatter):
    """`time level logger message [request id]`, local time, for a person reading along.

    The message says it all by itself (`extra=` fields are for the JSON
    format); the level is coloured only when `colour` (the stream is a
    terminal), so a file or a pipe gets no escape codes.
    """

    def __init__(self, *, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created).astimezone()
        level = f"{record.levelname:<7}"
        if self.colour:
            level = f"{_COLOURS.get(record.levelno, '')}{level}{_RESET}"
        line = f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d} {level} "
        line += f"{record.name}: {record.getMessage()}"
        request_id = request_id_var.get()
        if request_id is not None:
            line += f" [{request_id}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def make_formatter(log_format: LogFormat, stream: TextIO) -> logging.Formatter:
    """The formatter of `log_format` for records written to `stream`."""
    if log_format == "json":
        return JsonFormatter()
    isatty = getattr(stream, "isatty", None)
    return ConsoleFormatter(colour=bool(isatty and isatty()))


class _OurHandler(logging.StreamHandler[TextIO]):
    """The root handler `configure_logging` installs (found again by its class)."""


def configure_logging(level: str = "INFO", log_format: LogFormat = "console") -> None:
    """Send every log line, ours and the server's, through one handler in `log_format`."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _OurHandler)]
    if ours:
        # Set up before (an app per test, or a second app in one process): follow
        # the newest settings and the current stderr (the one it wrote to may be
        # closed by now), keeping whatever else was added since.
        for handler in ours:
            handler.stream = sys.stderr  # not setStream: it would flush the closed one
            handler.setFormatter(make_formatter(log_format, sys.stderr))
        root.setLevel(level.upper())
        return
    handler = _OurHandler(sys.stderr)
    handler.setFormatter(make_formatter(log_format, sys.stderr))
    # In place of a default console handler (`basicConfig`'s), which would print every
    # line a second time; any other handler (a file, a test's capture) is kept.
    root.handlers = [h for h in root.handlers if type(h) is not logging.StreamHandler]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    server = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideQueryCredentials) for f in server.filters):
        server.addFilter(_HideQueryCredentials())
    # The gateway writes one access line per request, with the request id and
    # route template; the server's own access log would only repeat it.
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False


class _HideQueryCredentials(logging.Filter):
    """uvicorn logs each WebSocket's path with its query, where a browser's stream token
    travels (`?access_token=`): its values are hidden like a URL's credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_PARAMETER.sub(rf"\g<1>{REDACTED}", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def server_log_config(log_format: LogFormat) -> dict[str, Any]:
    """For servers configured by dictConfig (granian): their own lines in our format too."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if log_format == "json"
        else {"()": ConsoleFormatter, "colour": sys.stderr.isatty()}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {log_format: formatter},
        "handlers": {
            "console": {
                "formatter": log_format,
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {"_granian": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }


REDACTED = "***"
# user:password@ right after the scheme; the password runs to the last "@", as
# SQLAlchemy and redis-py read it, so one written unescaped (`p#ss/w?rd`) is hidden whole.
_PASSWORD = re.compile(r"(://[^:/?#@]*:)(.*)@")
# A parameter whose name says it is a credential (`password=`, `access_key=`,
# `X-Amz-Signature=`, `auth_token=`, ...): its value, wherever it appears.
_SECRET_PARAMETER = re.compile(
    r"([?&;][^=&;#]*(?:pass|pwd|secret|token|key|auth|cred|sig|session)[^=&;#]*=)[^&;#]*",
    re.IGNORECASE,
)


def redact_url(url: str) -> str:
    """`url` safe to log: its password (a Redis AUTH token too) and the values of query
    parameters that look like credentials replaced by `***`. A URL too odd to take
    apart loses more than that, never less."""
    url = _PASSWORD.sub(rf"\g<1>{REDACTED}@", url, count=1)
    return _SECRET_PARAMETER.sub(rf"\g<1>{REDACTED}", url)
