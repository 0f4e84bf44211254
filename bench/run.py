"""Load-test each tier: bare ASGI ceiling, GET /api/v1/feed and POST /api/v1/posts.

For each tier (embedded: SQLite + in-process cache; selfhosted: PostgreSQL +
Redis on localhost, events in process; broker: the same data, events through
RabbitMQ, the feed's fan-out in a `minifb worker feed` process and the other
consumers in another) this generates the bench data (or reuses it), starts one
worker of the app on each server (uvicorn, granian) and the bare ASGI app on
each, warms every feed up (each token's person's first read rebuilds it),
then runs interleaved rounds of `wrk -t2 -c64 -d10s --latency` and prints the
medians and each route's ratio to the bare app on uvicorn, run just before it.

On the broker tier each `POST /posts` run is also the fan-out's figure: from
the burst's end, how long until the feed consumer has handled every post the
burst made, how many feed insertions a second that was from the burst's
start, and a check that a sample of those posts is in each follower's feed.

    python bench/run.py --tiers embedded,selfhosted,broker --rounds 3

Only 127.0.0.1 is loaded. The selfhosted tier uses its own database
(`minifb_bench`, shared with the broker tier, dropped at the end unless
--keep), its own Redis key prefix (`minifb-bench:`, deleted key by key at the
end; never FLUSHDB) and its own RabbitMQ names (`minifb-bench-`, deleted at
the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import asyncpg
import httpx
import redis.asyncio as aioredis

from minifb.kit.ids import score
from minifb.workers.registry import BUS_CONSUMERS

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = BENCH / "data"
HOST = "127.0.0.1"
PG_SERVER = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "minifb_bench"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PREFIX = "minifb-bench:"
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
AMQP_PREFIX = "minifb-bench-"
# The tiers over the PostgreSQL database `minifb_bench`: seeded once, for both.
PG_TIERS = ("selfhosted", "broker")
FANOUT_SAMPLE = 200  # posts of a burst whose every follower's feed is checked
# The broker tier's worker processes: the feed's fan-out alone, the other consumers beside.
WORKERS = {
    "worker-feed": ["feed"],
    "worker-others": ["notifications", "search-indexer", "housekeeping"],
}
FEED_PATH = os.environ.get("BENCH_FEED_PATH", "/api/v1/feed?limit=20")
PORTS = {"bare-uvicorn": 8100, "bare-granian": 8101, "uvicorn": 8110, "granian": 8111}
CEILING = "bare-uvicorn"


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int = 0
    socket_errors: int = 0


@dataclass
class Row:
    tier: str
    server: str
    route: str
    rounds: list[WrkResult] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)


def _duration_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(output: str) -> WrkResult:
    """Requests/s, p50, p99 and error counts from `wrk --latency` output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and total):
        raise ValueError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=_duration_ms(p50.group(1)),
        p99_ms=_duration_ms(p99.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in sockets.groups()) if sockets else 0,
    )


def run_wrk(
    url: str, *, script: Path | None, tokens: Path | None, args: argparse.Namespace
) -> WrkResult:
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
    ]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    if tokens is not None:
        command += ["--", str(tokens)]
    done = subprocess.run(  # noqa: S603 - our own fixed command line
        command, capture_output=True, text=True, timeout=args.duration + 60, check=True
    )
    return parse_wrk(done.stdout)


# --- servers ---------------------------------------------------------------------------


def _minifb() -> str:
    beside = Path(sys.executable).parent / "minifb"
    return str(beside) if beside.exists() else "minifb"


def server_command(name: str, port: int) -> list[str]:
    """The command line of server `name`: a bare app, or the app on the server its name
    starts with (`granian`, `granian-b`, `uvicorn`)."""
    if name == "bare-uvicorn":
        return [
            sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH), "bare:app",
            "--host", HOST, "--port", str(port), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
    if name == "bare-granian":
        return [
            sys.executable, "-m", "granian", "--interface", "asgi", "--working-dir", str(BENCH),
            "--host", HOST, "--port", str(port), "--log-level", "warning", "bare:app",
        ]  # fmt: skip
    if name in WORKERS:
        return [_minifb(), "worker", *WORKERS[name]]
    kind = name.partition("-")[0]
    return [_minifb(), "serve", "--server", kind, "--host", HOST, "--port", str(port)]


@contextmanager
def started(
    names: list[str], env: dict[str, str], logs: Path, ports: Mapping[str, int] = PORTS
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start each server in a process group of its own; stop every one on the way out."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs.mkdir(parents=True, exist_ok=True)
    try:
        for name in names:
            with (logs / f"{name}.log").open("wb") as log:
                procs[name] = subprocess.Popen(  # noqa: S603 - our own fixed command line
                    server_command(name, ports.get(name, 0)),
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        for name in names:
            wait_ready(name, procs[name], logs, ports.get(name, 0))
        yield procs
    finally:
        for name, proc in procs.items():
            stop(name, proc)


def wait_ready(
    name: str, proc: subprocess.Popen[bytes], logs: Path, port: int, timeout: float = 60
) -> None:
    if name in WORKERS:  # no port: alive a few seconds after it started is ready
        time.sleep(3)
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: see {logs / (name + '.log')}")
        return
    path = "/" if name.startswith("bare") else "/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: see {logs / (name + '.log')}")
        try:
            if httpx.get(f"http://{HOST}:{port}{path}", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer within {timeout:.0f} s")


def process_stats() -> Iterator[tuple[int, str, list[str]]]:
    """(pid, command, the fields after the command) of every live process (Linux /proc):
    state, ppid, pgrp, ... utime (12th), stime (13th), in clock ticks."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        head, _, tail = text.rpartition(")")
        yield int(stat.parent.name), head.partition("(")[2], tail.split()


def group_pids(pgid: int) -> list[int]:
    """The live processes of a process group: a server and any worker it forked."""
    return [pid for pid, _, fields in process_stats() if int(fields[2]) == pgid]


def group_cpu_seconds(pgid: int) -> float:
    """CPU time used so far by every live process of a process group."""
    ticks = sum(
        int(fields[11]) + int(fields[12])
        for _, _, fields in process_stats()
        if int(fields[2]) == pgid
    )
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_quiet(proc: subprocess.Popen[bytes], *, busy: float = 0.05, timeout: float = 300) -> float:
    """Wait until a server uses under `busy` of a core over a second (its consumers have
    caught up with what the last run left them); returns the seconds waited."""
    began = time.monotonic()
    before = group_cpu_seconds(proc.pid)
    while time.monotonic() - began < timeout:
        time.sleep(1)
        now = group_cpu_seconds(proc.pid)
        if now - before < busy:
            break
        before = now
    return time.monotonic() - began


def stop(name: str, proc: subprocess.Popen[bytes]) -> None:
    # The group holds the server and any worker it forked; it was started by us.
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            print(f"{name} ignored {sig.name}", flush=True)


# --- tiers -----------------------------------------------------------------------------


def tier_env(tier: str) -> dict[str, str]:
    home = DATA / tier
    env = {
        **os.environ,
        "MINIFB_ENVIRONMENT": "development",
        "MINIFB_VAR_DIR": str(home / "var"),
        "MINIFB_STORAGE_URL": f"file://{home / 'var' / 'media'}",
        "MINIFB_EVENTS_URL": "memory://",
        "MINIFB_RATE_LIMIT": "off",
        "MINIFB_AUTH_THROTTLE": "off",
        "MINIFB_LOG_LEVEL": "WARNING",
        "MINIFB_ACCESS_TOKEN_TTL": "3600",
    }
    if tier == "embedded":
        env["MINIFB_DATABASE_URL"] = f"sqlite+aiosqlite:///{home / 'minifb.db'}"
        env["MINIFB_CACHE_URL"] = "memory://"
    elif tier in PG_TIERS:
        base = PG_SERVER.rpartition("/")[0]
        env["MINIFB_DATABASE_URL"] = (
            f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{PG_DATABASE}"
        )
        env["MINIFB_CACHE_URL"] = REDIS_URL
        env["MINIFB_CACHE_PREFIX"] = REDIS_PREFIX
        if tier == "broker":
            env["MINIFB_EVENTS_URL"] = AMQP_URL
            env["MINIFB_EVENTS_PREFIX"] = AMQP_PREFIX
    else:
        raise SystemExit(f"unknown tier {tier!r}: embedded, selfhosted or broker")
    return env


async def _pg(statement: str) -> None:
    conn = await asyncpg.connect(PG_SERVER)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _pg_exists(database: str = PG_DATABASE) -> bool:
    conn = await asyncpg.connect(PG_SERVER)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database))
    finally:
        await conn.close()


async def clear_redis_prefix(prefix: str = REDIS_PREFIX) -> int:
    """Delete our prefix's keys in bounded SCAN batches; other keys are never touched."""
    client = aioredis.from_url(REDIS_URL)
    deleted = 0
    try:
        cursor = 0
        for _ in range(100_000):  # bounded: SCAN ends when the cursor returns to 0
            cursor, keys = await client.scan(cursor=cursor, match=f"{prefix}*", count=1000)
            if keys:
                deleted += await client.unlink(*keys)
            if cursor == 0:
                break
    finally:
        await client.aclose()
    return deleted


def prepare_tier(tier: str, env: dict[str, str], args: argparse.Namespace) -> Path:
    home = DATA / tier
    if args.fresh:
        if tier == "embedded":
            for suffix in ("", "-wal", "-shm"):
                (home / f"minifb.db{suffix}").unlink(missing_ok=True)
        elif asyncio.run(_pg_exists()):
            asyncio.run(_pg(f'DROP DATABASE "{PG_DATABASE}" WITH (FORCE)'))
    if tier in PG_TIERS:
        if not asyncio.run(_pg_exists()):
            asyncio.run(_pg(f'CREATE DATABASE "{PG_DATABASE}"'))
        print(f"cleared {asyncio.run(clear_redis_prefix())} redis keys under {REDIS_PREFIX!r}")
    tokens = home / "tokens.txt"
    generate = [
        sys.executable,
        str(BENCH / "generate.py"),
        "--users",
        str(args.users),
        "--posts-per-user",
        str(args.posts_per_user),
        "--tokens",
        str(args.tokens),
        "--tokens-out",
        str(tokens),
    ]
    subprocess.run(  # noqa: S603 - our own fixed command line
        generate,
        env={**env, "MINIFB_WORKER_ID": "1000"},
        cwd=ROOT,
        check=True,
        timeout=1800,
    )
    return tokens


def cleanup_tier(tier: str, args: argparse.Namespace) -> None:
    if tier not in PG_TIERS:
        return
    print(f"cleared {asyncio.run(clear_redis_prefix())} redis keys under {REDIS_PREFIX!r}")
    if tier == "broker":
        print(f"deleted the broker's {asyncio.run(delete_broker_names())} queues")
    over_pg = [t for t in args.tiers.split(",") if t in PG_TIERS]
    if not args.keep and over_pg[-1:] == [tier]:  # the last tier over the database
        asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
        print(f"dropped database {PG_DATABASE}")


async def delete_broker_names() -> int:
    """Delete the exchange and the queues the broker tier's processes declared."""
    names = [f"{AMQP_PREFIX}{c}{end}" for c in BUS_CONSUMERS for end in ("", ".dead")]
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)
        await channel.exchange_delete(f"{AMQP_PREFIX}events")
    return len(names)


# --- the fan-out -----------------------------------------------------------------------


@dataclass
class FanOut:
    """What the feed consumer made of one burst of `POST /posts`."""

    posts: int
    insertions: int  # feed insertions the posts asked for: their authors' and followers'
    lag_s: float  # from the burst's end until every post was handled
    per_second: float  # insertions a second, from the burst's start until the last handled
    checked: int  # feed entries looked up in Redis, of a sample of the posts
    missing: int  # of those, absent from a feed (and not pushed out by newer posts)


async def _bench_pg() -> asyncpg.Connection:
    base = PG_SERVER.rpartition("/")[0]
    return await asyncpg.connect(f"{base}/{PG_DATABASE}")


async def last_event_id() -> int:
    conn = await _bench_pg()
    try:
        return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM outbox"))
    finally:
        await conn.close()


async def fan_out_after(since: int, burst: float, burst_end: float, wait: float) -> FanOut:
    """Wait until the feed consumer has handled every `post.created` after event `since`,
    then check a sample of the posts in their followers' feeds."""
    conn = await _bench_pg()
    try:
        deadline = time.monotonic() + wait
        while True:
            made = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE type = 'post.created' AND id > $1", since
            )
            handled = await conn.fetchval(
                "SELECT count(*) FROM processed_events p JOIN outbox o ON o.id = p.event_id "
                "WHERE p.consumer = 'feed' AND o.type = 'post.created' AND p.event_id > $1",
                since,
            )
            done = time.monotonic()
            if handled >= made or done > deadline:
                break
            await asyncio.sleep(0.05)
        posts = await conn.fetch(
            "SELECT (data->>'post_id')::bigint AS id, (data->>'author_id')::bigint AS author "
            "FROM outbox WHERE type = 'post.created' AND id > $1",
            since,
        )
        audience = await conn.fetchval(
            "SELECT count(*) FROM outbox o JOIN follows f "
            "ON f.followee_id = (o.data->>'author_id')::bigint "
            "WHERE o.type = 'post.created' AND o.id > $1",
            since,
        )
        insertions = len(posts) + int(audience)
        sample = random.Random(since).sample(list(posts), min(FANOUT_SAMPLE, len(posts)))
        checked, missing = await _check_feeds(conn, sample)
    finally:
        await conn.close()
    lag = done - burst_end if handled >= made else float("inf")
    return FanOut(
        len(posts), insertions, lag, insertions / (done - burst_end + burst), checked, missing
    )


async def _check_feeds(conn: asyncpg.Connection, posts: list[asyncpg.Record]) -> tuple[int, int]:
    """Each post of `posts` (all public) in its author's feed and every follower's who is
    not blocked either way, unless that feed is full of newer posts."""
    client = aioredis.from_url(REDIS_URL)
    checked = missing = 0
    try:
        for post in posts:
            readers = await conn.fetch(
                "SELECT f.follower_id FROM follows f WHERE f.followee_id = $1 AND NOT EXISTS "
                "(SELECT 1 FROM blocks b WHERE (b.blocker_id = $1 AND b.blocked_id = f.follower_id)"
                " OR (b.blocked_id = $1 AND b.blocker_id = f.follower_id))",
                post["author"],
            )
            keys = [
                f"{REDIS_PREFIX}feed:{{u{p}}}" for p in [post["author"], *(r[0] for r in readers)]
            ]
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zscore(key, str(post["id"]))
                    pipe.zrange(key, 0, 0, withscores=True)  # the oldest the feed kept
                answers = await pipe.execute()
            for found, oldest in zip(answers[::2], answers[1::2], strict=True):
                checked += 1
                pushed_out = bool(oldest) and oldest[0][1] > score(post["id"])
                if found is None and not pushed_out:
                    missing += 1
    finally:
        await client.aclose()
    return checked, missing


async def warm_up(
    server: str, tokens: list[str], concurrency: int = 16, ports: Mapping[str, int] = PORTS
) -> dict[int, int]:
    """Read every token's feed once (a cold feed is rebuilt); returns status counts."""
    statuses: dict[int, int] = {}
    queue = list(tokens)
    limits = httpx.Limits(max_connections=concurrency)
    deadline = time.monotonic() + 600
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{ports[server]}", limits=limits, timeout=30
    ) as client:

        async def worker() -> None:
            while queue and time.monotonic() < deadline:
                token = queue.pop()
                response = await client.get(FEED_PATH, headers={"Authorization": f"Bearer {token}"})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def probe_post(server: str, token: str) -> int:
    response = httpx.post(
        f"http://{HOST}:{PORTS[server]}/api/v1/posts",
        json={"text": "bench probe", "visibility": "public", "media_ids": []},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.status_code


def measure(
    tier: str, round_no: int, server: str, route: str, tokens_file: Path, args: argparse.Namespace
) -> WrkResult:
    """One wrk run of one scenario, printed as it ends."""
    port = PORTS[f"bare-{server}" if route == "bare ASGI" else server]
    url = f"http://{HOST}:{port}" + ("/" if route == "bare ASGI" else "")
    script = {"GET /feed": "feed.lua", "POST /posts": "post.lua"}.get(route)
    result = run_wrk(
        url,
        script=BENCH / "wrk" / script if script else None,
        tokens=tokens_file if script else None,
        args=args,
    )
    print(
        f"{tier} round {round_no + 1} {server:8} {route:12} "
        f"{result.rps:9.0f} req/s p50 {result.p50_ms:7.2f} ms "
        f"p99 {result.p99_ms:8.2f} ms non-2xx {result.non_2xx} "
        f"socket errors {result.socket_errors}",
        flush=True,
    )
    time.sleep(1)
    return result


def run_tier(tier: str, args: argparse.Namespace) -> tuple[list[Row], list[FanOut]]:
    env = tier_env(tier)
    tokens_file = prepare_tier(tier, env, args)
    servers = [s for s in args.servers.split(",") if s]
    # The in-process cache serves one process: on the embedded tier each app server
    # runs alone (a second one over the same database is refused at start-up).
    groups = [[s] for s in servers] if tier == "embedded" else [servers]
    rows: dict[tuple[str, str], Row] = {}
    fan_outs: list[FanOut] = []
    try:
        for group in groups:
            run_group(tier, group, env, tokens_file, args, rows, fan_outs)
    finally:
        cleanup_tier(tier, args)
    return list(rows.values()), fan_outs


def run_group(
    tier: str,
    servers: list[str],
    env: dict[str, str],
    tokens_file: Path,
    args: argparse.Namespace,
    rows: dict[tuple[str, str], Row],
    fan_outs: list[FanOut],
) -> None:
    """Start the app on `servers` beside the bare apps and run every round of their
    scenarios; on the broker tier, each burst of posts adds its fan-out to `fan_outs`."""
    tokens = [t for t in tokens_file.read_text().splitlines() if t]
    bare = [f"bare-{s}" for s in servers if f"bare-{s}" in PORTS]
    if CEILING not in bare:
        bare.insert(0, CEILING)
    # On the broker tier the consumers run in worker processes of their own.
    workers = list(WORKERS) if tier == "broker" else []
    with started(bare + servers + workers, env, DATA / tier / "logs") as procs:
        scenarios: list[tuple[str, str]] = [(b.removeprefix("bare-"), "bare ASGI") for b in bare]
        for server in servers:
            began = time.monotonic()
            statuses = asyncio.run(warm_up(server, tokens))
            print(f"{tier}/{server}: warm-up {statuses} in {time.monotonic() - began:.0f} s")
            if statuses.get(200, 0) >= len(tokens) * 0.9:
                scenarios.append((server, "GET /feed"))
            else:
                print(f"{tier}/{server}: GET {FEED_PATH} is not working; skipped")
            status = probe_post(server, tokens[0])
            if status in (200, 201):
                scenarios.append((server, "POST /posts"))
            else:
                print(f"{tier}/{server}: POST /api/v1/posts answered {status}; skipped")
        # Interleave: the same kind of run is spread over the whole run, and the order
        # turns each round, so drift of a noisy machine hits every scenario alike.
        # Each scenario is paired with a ceiling run just before it: its ratio is
        # taken to that, not to a ceiling measured a minute away on a drifting machine.
        scenarios.remove(("uvicorn", "bare ASGI"))
        scenarios.sort(key=lambda s: ("bare ASGI", "GET /feed", "POST /posts").index(s[1]))
        for round_no in range(args.rounds):
            shift = round_no % len(scenarios)
            for server, route in scenarios[shift:] + scenarios[:shift]:
                ceiling = measure(tier, round_no, "uvicorn", "bare ASGI", tokens_file, args)
                since = asyncio.run(last_event_id()) if workers and route == "POST /posts" else 0
                began = time.monotonic()
                result = measure(tier, round_no, server, route, tokens_file, args)
                if workers and route == "POST /posts":
                    ended = began + args.duration  # `measure` rests a second after wrk
                    fan = asyncio.run(fan_out_after(since, args.duration, ended, wait=120))
                    fan_outs.append(fan)
                    print(
                        f"{tier} {server}: fan-out of {fan.posts} posts "
                        f"({fan.insertions} feed insertions) done {fan.lag_s:.2f} s after "
                        f"the burst, {fan.per_second:,.0f} insertions/s; sample: "
                        f"{fan.missing} missing of {fan.checked} feed entries",
                        flush=True,
                    )
                elif route == "POST /posts":
                    # The in-process fan-out may still be working through the
                    # run's posts: the next run must not share the CPU with it.
                    lag = wait_quiet(procs[server])
                    print(f"{tier} {server}: fan-out of the run's posts done {lag:.0f} s later")
                for key, run in (
                    (("uvicorn", "bare ASGI"), ceiling),
                    ((server, route), result),
                ):
                    row = rows.setdefault(key, Row(tier, *key))
                    row.rounds.append(run)
                    row.ratios.append(run.rps / ceiling.rps if ceiling.rps else 0.0)


def table(rows: list[Row]) -> str:
    lines = [
        "| tier | server | route | req/s | p50 ms | p99 ms | ratio to bare ASGI (uvicorn) "
        "| non-2xx | socket errors |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        med = statistics.median
        lines.append(
            f"| {row.tier} | {row.server} | {row.route} "
            f"| {med(r.rps for r in row.rounds):,.0f} "
            f"| {med(r.p50_ms for r in row.rounds):.2f} "
            f"| {med(r.p99_ms for r in row.rounds):.2f} "
            f"| {med(row.ratios):.3f} "
            f"| {sum(r.non_2xx for r in row.rounds)} "
            f"| {sum(r.socket_errors for r in row.rounds)} |"
        )
    return "\n".join(lines)


def fan_out_table(fan_outs: list[FanOut]) -> str:
    """The broker tier's fan-out after each burst of posts, and the median."""
    lines = [
        "| burst | posts | feed insertions | done after the burst, s | insertions/s "
        "| sample: missing of checked |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for n, fan in enumerate(fan_outs, 1):
        lines.append(
            f"| {n} | {fan.posts:,} | {fan.insertions:,} | {fan.lag_s:.2f} "
            f"| {fan.per_second:,.0f} | {fan.missing} of {fan.checked} |"
        )
    med = statistics.median
    lines.append(
        f"| median | {med(f.posts for f in fan_outs):,.0f} "
        f"| {med(f.insertions for f in fan_outs):,.0f} | {med(f.lag_s for f in fan_outs):.2f} "
        f"| {med(f.per_second for f in fan_outs):,.0f} | |"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--tiers", default=env("BENCH_TIERS", "embedded,selfhosted,broker"))
    parser.add_argument("--servers", default=env("BENCH_SERVERS", "uvicorn,granian"))
    parser.add_argument("--rounds", type=int, default=int(env("BENCH_ROUNDS", "3")))
    parser.add_argument("--duration", type=int, default=int(env("BENCH_DURATION", "10")))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--users", type=int, default=int(env("BENCH_USERS", "10000")))
    parser.add_argument(
        "--posts-per-user", type=int, default=int(env("BENCH_POSTS_PER_USER", "50"))
    )
    parser.add_argument("--tokens", type=int, default=int(env("BENCH_TOKENS_COUNT", "2000")))
    parser.add_argument("--fresh", action="store_true", help="drop the tier's data and seed again")
    parser.add_argument(
        "--keep", action="store_true", help="keep the selfhosted database for the next run"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 20 or not 1 <= args.duration <= 120:
        parser.error("rounds must be 1..20 and duration 1..120 s")
    return args


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    all_rows: list[Row] = []
    all_fan_outs: list[FanOut] = []
    for tier in [t for t in args.tiers.split(",") if t]:
        rows, fan_outs = run_tier(tier, args)
        all_rows += rows
        all_fan_outs += fan_outs
    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency; "
        f"medians of {args.rounds} interleaved rounds; {args.users} people, "
        f"{args.users * args.posts_per_user} posts, {args.tokens} tokens"
    )
    print(table(all_rows))
    if all_fan_outs:
        print()
        print(fan_out_table(all_fan_outs))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = DATA / f"results-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    figures = {
        "routes": [asdict(r) for r in all_rows],
        "fan_outs": [asdict(f) for f in all_fan_outs],
    }
    out.write_text(json.dumps(figures, indent=2))
    print(f"raw figures: {out}")


if __name__ == "__main__":
    main()
