"""Prometheus metrics of one process, in a registry of their own (tests build many apps).

When the server runs several processes (`minifb serve --workers N`), each
process writes its values to files in `PROMETHEUS_MULTIPROC_DIR` and a scrape,
answered by whichever process the connection reached, merges every process's
files (prometheus-client's multiprocess mode). A gauge added here must name
its `multiprocess_mode` (how the processes' values combine).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The directory the server's processes share their metrics through, when set."""
    return os.environ.get(MULTIPROCESS_DIR) or None


def _use_multiprocess_values() -> None:
    # prometheus-client picks how values are stored when it is first imported.
    # A server that forks its workers (granian) imported it in the parent,
    # possibly before the directory was set: pick again, before any metric of
    # ours exists, as the import would have with the directory set.
    if values.ValueClass is values.MutexValue:
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self) -> None:
        self.directory = multiprocess_dir()
        if self.directory is not None:
            _use_multiprocess_values()
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "minifb_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "minifb_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registrations = Counter(
            "minifb_registrations", "Accounts created.", registry=self.registry
        )
        self.logins = Counter("minifb_logins", "Successful logins.", registry=self.registry)
        self.messages_sent = Counter(
            "minifb_messages_sent",
            "Messages written to conversations (a resend of one counts once).",
            registry=self.registry,
        )
        self.login_failures = Counter(
            "minifb_login_failures",
            "Refused logins by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.stream_frames = Counter(
            "minifb_stream_frames",
            "Frames written to stream sockets, by type.",
            ["type"],
            registry=self.registry,
        )
        self.stream_delivery = Histogram(
            "minifb_stream_delivery_seconds",
            "From an event (a message sent) to its frame written to a socket, by type.",
            ["type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # What a scrape reads: this process's registry, or every process's files.
        self._scraped = self.registry
        if self.directory is not None:
            self._scraped = CollectorRegistry()
            MultiProcessCollector(self._scraped, path=self.directory)  # type: ignore[no-untyped-call]

    def render(self) -> bytes:
        return generate_latest(self._scraped)

    def close(self) -> None:
        """This process is ending: its live gauges stop counting (multiprocess mode only)."""
        if self.directory is not None:
            mark_process_dead(os.getpid(), self.directory)  # type: ignore[no-untyped-call]
