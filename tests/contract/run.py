"""`make api-check`: schemathesis against a live server's own /openapi.json.

Starts `minifb serve` on a free port over a fresh SQLite database (the rate
limit and the login throttles off: the run sends thousands of requests from
one address), waits for /ready, and runs schemathesis from its own
environment (`.venv-schemathesis`, requirements/schemathesis.in) on every
operation with every check, as a person `hooks.py` signs up. The exit status
is schemathesis's. Arguments are passed on to `st run` (e.g.
`--include-operation-id createPost` to look at one operation).

Run with the app's Python (the Makefile's `.venv/bin/python`): `minifb` is
taken from beside it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCHEMATHESIS = Path(os.environ.get("SCHEMATHESIS", ROOT / ".venv-schemathesis" / "bin" / "st"))
MINIFB = Path(sys.executable).parent / "minifb"
READY_WITHIN = 60.0

# Every check, at least 100 examples per operation, and a fixed seed only when asked
# (`--seed N` in the arguments) so that each run may find something new. One worker:
# with two, hypothesis's parsing of its lambdas' source in two threads at once met
# Python 3.11's `ast` error "AST constructor recursion depth mismatch" (an error of
# the tool, not of the API; one worker never did), and two were not faster on two
# cores that also run the server.
ST_ARGS = [
    "--checks",
    "all",
    "--max-examples",
    "100",
    "--workers",
    "1",
    "--request-timeout",
    "20",
    "--generation-database",
    "none",
    "--no-color",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"the server was not ready within {READY_WITHIN:.0f} s")


def main(extra: list[str]) -> int:
    if not SCHEMATHESIS.exists():
        raise SystemExit(f"{SCHEMATHESIS} is missing: run `make api-check` to install it")
    with tempfile.TemporaryDirectory(prefix="minifb-api-check-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "MINIFB_ENVIRONMENT": "development",
            "MINIFB_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'minifb.db'}",
            "MINIFB_CACHE_URL": "memory://",
            "MINIFB_VAR_DIR": str(work / "var"),
            "MINIFB_RATE_LIMIT": "off",
            "MINIFB_AUTH_THROTTLE": "false",
            "MINIFB_DOCS": "true",
            "MINIFB_LOG_LEVEL": "WARNING",
        }
        # The server runs in the scratch directory, so no .env of the checkout applies.
        subprocess.run([MINIFB, "db", "upgrade"], cwd=work, env=env, check=True)  # noqa: S603
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = work / "server.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(  # noqa: S603
                [MINIFB, "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=work,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = time.monotonic()
        try:
            wait_ready(url, server)
            st_env = {
                **os.environ,
                "SCHEMATHESIS_HOOKS": str(HERE / "hooks.py"),
                "MINIFB_CONTRACT_URL": url,
            }
            command = [
                SCHEMATHESIS,
                "--config-file",
                HERE / "schemathesis.toml",
                "run",
                f"{url}/openapi.json",
                *ST_ARGS,
                *extra,
            ]
            # In the scratch directory: schemathesis keeps its example database there.
            status = subprocess.run(command, cwd=work, env=st_env, check=False).returncode  # noqa: S603
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        took = time.monotonic() - started
        server_log = log_path.read_text(errors="replace")
        if "Traceback" in server_log:
            print(f"--- the server logged errors ---\n{server_log[-20000:]}", file=sys.stderr)
            status = status or 1
        print(f"api-check: schemathesis exited with {status} after {took:.0f} s")
        return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
