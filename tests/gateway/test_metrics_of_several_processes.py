"""`/metrics` of a real server of two processes: one scrape counts every process's requests.

`minifb serve --workers 2` is started as a person would start it, over the
test's database and a shared Redis (the tier's, or a throwaway one). Requests
go out on fresh connections until each process has served some of them; then
every scrape, whichever process answers it, counts them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.redis_server import free_port, redis_server
from tests.fixtures.tiers import REDIS_URL

__all__ = ["redis_server"]  # the fixture, imported for the tests below

TOKEN = "a-metrics-token-of-the-test"
START_TIMEOUT = 60.0
MAX_REQUESTS = 2000


def _health_count(samples_of: list[object]) -> float:
    total = 0.0
    for family in samples_of:
        for sample in getattr(family, "samples", ()):
            if sample.name == "minifb_http_requests_total" and sample.labels["route"] == "/health":
                total += sample.value
    return total


def _per_process(directory: Path) -> dict[str, float]:
    """`/health` requests each process has counted, read from its own file."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        metrics = MultiProcessCollector.merge([str(path)], accumulate=False)
        counts[path.stem.removeprefix("counter_")] = _health_count(list(metrics))
    return counts


def _scraped_count(text: str) -> float:
    return _health_count(list(text_string_to_metric_families(text)))


class Server:
    def __init__(self, process: subprocess.Popen[bytes], url: str, tmp: Path, log: Path) -> None:
        self.process = process
        self.url = url
        self.tmp = tmp
        self.log = log

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"the server did not become ready: {self.log.read_text()[-3000:]}")

    def metrics_dir(self) -> Path:
        [directory] = self.tmp.glob("minifb-metrics-*")
        return directory

    def get(self, path: str, **headers: str) -> httpx.Response:
        # A fresh connection each time, so that each one may reach either process.
        with httpx.Client(base_url=self.url, timeout=10.0) as client:
            return client.get(path, headers=headers)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            pytest.fail("the server did not stop on SIGINT")


@pytest.fixture
def shared_redis_url(request: pytest.FixtureRequest) -> str:
    if REDIS_URL:
        return REDIS_URL
    server = request.getfixturevalue("redis_server")
    url: str = server.url
    return url


@pytest.fixture(params=["granian", "uvicorn"])
def server(
    request: pytest.FixtureRequest,
    database_url: str,
    shared_redis_url: str,
    cache_prefix: str,
    tmp_path: Path,
) -> Iterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "MINIFB_ENVIRONMENT": "development",
        "MINIFB_DATABASE_URL": database_url,
        "MINIFB_CACHE_URL": shared_redis_url,
        "MINIFB_CACHE_PREFIX": cache_prefix,
        "MINIFB_VAR_DIR": str(tmp_path / "var"),
        "MINIFB_METRICS_TOKEN": TOKEN,
        "MINIFB_RATE_LIMIT": "off",
        "MINIFB_LOG_LEVEL": "WARNING",
        "MINIFB_DATABASE_POOL_WARM": "2",
        # Where the server makes its per-run metrics directory, for the test to read.
        "TMPDIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "server.log"
    args = [sys.executable, "-c", "from minifb.cli import main; main()", "serve"]
    args += ["--workers", "2", "--port", str(port), "--server", request.param]
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            args,
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Server(process, f"http://127.0.0.1:{port}", tmp_path, log)
    try:
        running.wait_until_up()
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


class TestMetricsOfSeveralProcesses:
    def test_one_scrape_counts_the_requests_of_every_process(self, server: Server) -> None:
        directory = server.metrics_dir()
        made = 0
        while made < MAX_REQUESTS:
            assert server.get("/health").status_code == 200
            made += 1
            counts = _per_process(directory)
            if made >= 20 and len(counts) == 2 and all(counts.values()):
                break
        counts = _per_process(directory)
        assert len(counts) == 2, counts
        assert all(counts.values()), f"one process served none of {made} requests: {counts}"
        # Several scrapes on fresh connections: whichever process answers, the same total.
        for _ in range(4):
            scrape = server.get("/metrics", Authorization=f"Bearer {TOKEN}")
            assert scrape.status_code == 200
            assert _scraped_count(scrape.text) == made
        assert server.get("/metrics").status_code == 401

    def test_the_run_s_metrics_directory_is_removed_when_it_stops(self, server: Server) -> None:
        directory = server.metrics_dir()
        assert list(directory.glob("counter_*.db"))
        assert server.stop() == 0
        assert not directory.exists()
