"""Messages and the real-time stream: send → recipient socket latency, and a socket's memory.

1. **Latency.** 200 people hold a socket each on `/api/v1/stream`, 100 on each
   of two `minifb serve` processes (granian, one worker each) sharing
   PostgreSQL and Redis; 50 senders POST `/api/v1/conversations/{id}/messages`
   to both processes at a fixed offered rate (open loop), each message into a
   direct conversation with one of the 200. Latency = when the recipient's
   socket got the `message.created` frame minus when the send was due, both on
   this process's clock. Lost = answered 2xx but no frame within 5 s of the
   step's end. The rate steps up (25, 50, 100, 250, 500, 1000, ... a second),
   for several rounds: a round stops at the first step whose p99 passes 100 ms
   (past it, higher rates only queue more), except that the first round goes
   on up to 1,000 a second; then one round on ONE process for reference.
   Before the rounds, freshly started servers take 3 s at 50 a second, then
   3 s at the highest rate: that second step is the servers' cold start (their
   pools grow, each connection prepares its statements), reported apart as
   round 0 and left out of the rounds' medians, which are the steady state.
2. **A reader that never reads**, on one process: 4,000-character messages to a
   group of a sender, a socket that never reads and one that does; the
   server's RSS and the slow socket's TCP state are sampled meanwhile, and the
   normal reader's latency taken.
3. **10,000 idle sockets** on one process (10,000 people, a token each), on
   granian (which does not negotiate permessage-deflate) and on uvicorn with
   and without it: the server's RSS before, with them open, and after, twice.

    python bench/stream.py                       # everything, 3 rounds of the steps
    python bench/stream.py --rates 500,1000 --rounds 1 --skip-memory

Only 127.0.0.1 is loaded. It uses its own database (`minifb_bench_stream`,
created by the run, dropped at the end unless --keep) and its own Redis key
prefix (`minifb-bench-stream:`, deleted key by key at the end; never FLUSHDB).
The raw figures go to `bench/data/stream-*.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import statistics
import string
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop
from generate import issue_tokens
from run import (
    DATA,
    _pg,
    _pg_exists,
    clear_redis_prefix,
    group_cpu_seconds,
    group_pids,
    process_stats,
    started,
    tier_env,
    wait_quiet,
)
from sqlalchemy import select, update
from stream_client import (
    HOST,
    Book,
    Pool,
    Sent,
    clock,
    open_socket,
    pace,
    percentile,
    receive,
)
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from minifb.bootstrap import worker_id_lease
from minifb.config import Settings
from minifb.kit.db import Database
from minifb.migrations import upgrade
from minifb.models import User
from minifb.models.user import MessagesPolicy
from minifb.seed import seed

PG_DATABASE = "minifb_bench_stream"
REDIS_PREFIX = "minifb-bench-stream:"
HOME = DATA / "stream"
PORTS = {"granian-a": 8121, "granian-b": 8122, "uvicorn-a": 8123}
RECIPIENTS = 200
SENDERS = 50
IDLE_SOCKETS = 10_000
LOST_AFTER = 5.0  # seconds after a step's last answer
SEND_TIMEOUT = 300.0  # seconds from a step's last send to its last answer
TARGET_RATE, TARGET_P99, KNEE_P99 = 1000, 50.0, 100.0


@dataclass
class Cast:
    """Who is who: recipients hold the sockets, senders write, the rest idle sockets."""

    ids: list[int]
    tokens: list[str]
    conversations: list[int] = field(default_factory=list)  # recipient k's, with sender k % 50
    group: int = 0  # a sender, a reader that never reads and one that does

    def recipient(self, k: int) -> str:
        return self.tokens[k]

    def sender(self, k: int) -> str:
        return self.tokens[RECIPIENTS + k % SENDERS]

    @property
    def slow(self) -> int:
        return RECIPIENTS + SENDERS

    @property
    def normal(self) -> int:
        return RECIPIENTS + SENDERS + 1


@dataclass
class Step:
    processes: int
    round: int
    rate: int
    seconds: float
    sent: int
    ok: int
    http_errors: int
    achieved_per_s: float
    frames: int
    lost: int
    duplicates: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    answer_p50_ms: float
    answer_p99_ms: float
    client_lag_p99_ms: float
    cores: dict[str, float]
    errors: dict[str, int] = field(default_factory=dict)  # status or exception: how many
    retried: int = 0  # sent again because the server had closed the idle connection
    # The slowest HTTP answer of each second of the step (by when the sends were due):
    # whether the tail is spread over the step or gathered in a moment.
    answer_max_by_second_ms: list[float] = field(default_factory=list)


# --- data ------------------------------------------------------------------------------


def server_env(args: argparse.Namespace) -> dict[str, str]:
    env = tier_env("selfhosted")  # the feed bench's settings, on our own database and prefix
    base = env["MINIFB_DATABASE_URL"].rpartition("/")[0]
    env |= {
        "MINIFB_DATABASE_URL": f"{base}/{PG_DATABASE}",
        "MINIFB_CACHE_PREFIX": REDIS_PREFIX,
        "MINIFB_VAR_DIR": str(HOME / "var"),
        "MINIFB_STORAGE_URL": f"file://{HOME / 'var' / 'media'}",
    }
    return env


async def create_people(count: int) -> Cast:
    """`count` people who accept messages from everyone, and a token for each."""
    settings = Settings()
    await asyncio.to_thread(upgrade, settings.database_url)
    db = Database(settings.database_url)
    lease = worker_id_lease(settings, db)
    try:
        if await lease.start() is None:
            raise SystemExit(f"no worker id: {lease.problem}")
        # A few friendships come with it; the messages need none (everyone is accepted).
        await seed(db, count, friends_per_person=1, posts_per_user=0, celebrities=0)
        async with db.transaction() as session:
            await session.execute(update(User).values(messages_from=MessagesPolicy.everyone))
            ids = list(await session.scalars(select(User.id).order_by(User.id)))
        tokens = await issue_tokens(db, settings, ids, ttl=3600)
    finally:
        await lease.stop()
        await db.dispose()
    return Cast(ids, tokens)


async def create_conversations(port: int, cast: Cast) -> None:
    """Through the API: recipient k's direct conversation with sender k % 50, and the group."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30) as client:

        async def start(token: str, people: list[int]) -> int:
            response = await client.post(
                "/api/v1/conversations",
                json={"participant_ids": [str(p) for p in people]},
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()
            return int(response.json()["id"])

        limit = asyncio.Semaphore(16)

        async def direct(k: int) -> int:
            async with limit:
                return await start(cast.sender(k), [cast.ids[k]])

        cast.conversations = list(await asyncio.gather(*(direct(k) for k in range(RECIPIENTS))))
        cast.group = await start(cast.sender(0), [cast.ids[cast.slow], cast.ids[cast.normal]])


# --- measuring the machine -------------------------------------------------------------


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def server_rss(proc: subprocess.Popen[bytes]) -> dict[str, int]:
    """kB resident of each process of a server's group (granian's supervisor and worker)."""
    return {str(pid): rss_kb(pid) for pid in group_pids(proc.pid)}


def cpu_seconds(servers: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    """CPU seconds used so far by each server, PostgreSQL, Redis, this process, the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    totals = {name: group_cpu_seconds(proc.pid) for name, proc in servers.items()}
    for _, command, fields in process_stats():
        key = {"postgres": "postgresql", "redis-server": "redis"}.get(command)
        if key is not None:
            totals[key] = totals.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    totals["load generator"] = time.process_time()
    cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    totals["machine"] = (sum(map(int, cpu)) - int(cpu[3]) - int(cpu[4])) / tick
    return totals


def tcp_end(local_port: int, remote_port: int) -> tuple[str, int]:
    """One end of a loopback TCP connection: its state ("01" established, "08" close-wait:
    the peer has closed it; "" gone) and the bytes in its send queue (Linux /proc)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (
            int(fields[1].rpartition(":")[2], 16) == local_port
            and int(fields[2].rpartition(":")[2], 16) == remote_port
        ):
            return fields[3], int(fields[4].partition(":")[0], 16)
    return "", 0


def load_average() -> str:
    return Path("/proc/loadavg").read_text().strip()


# --- 1. latency ------------------------------------------------------------------------


class LatencyLoad:
    """The sockets and senders of one topology (one or two server processes)."""

    def __init__(self, cast: Cast, servers: dict[str, subprocess.Popen[bytes]]) -> None:
        self.cast = cast
        self.servers = servers
        self.ports = [PORTS[name] for name in servers]
        self.book = Book()
        self.pools = [Pool(port, 64) for port in self.ports]
        self.sockets: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        for pool in self.pools:
            await pool.open()
        self.sockets = await asyncio.gather(
            *(
                open_socket(self.ports[k % len(self.ports)], self.cast.recipient(k))
                for k in range(RECIPIENTS)
            )
        )
        self.readers = [asyncio.create_task(receive(ws, lambda: self.book)) for ws in self.sockets]

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets))
        await asyncio.gather(*self.readers, return_exceptions=True)
        for pool in self.pools:
            pool.close()

    async def send(self, tag: str, i: int, due: float) -> None:
        k = i % RECIPIENTS
        cid = f"{tag}-{i}"
        sent = self.book.sent[cid] = Sent(due, expected=1)
        body = orjson.dumps({"text": f"bench message {i} of {tag}", "client_message_id": cid})
        # Consecutive messages alternate between the processes, and so do each
        # conversation's (message i is conversation i % 200's (i // 200)th).
        pool = self.pools[(i + i // RECIPIENTS) % len(self.pools)]
        path = f"/api/v1/conversations/{self.cast.conversations[k]}/messages"
        await pool.post(path, self.cast.sender(k), body, sent)

    async def step(self, tag: str, rate: int, seconds: float) -> tuple[Book, dict[str, float]]:
        """Offer `rate` messages a second for `seconds`; the step's book and CPU use."""
        self.book = book = Book()
        before, began = cpu_seconds(self.servers), clock()
        tasks = await pace(rate, round(rate * seconds), lambda i, due: self.send(tag, i, due))
        _, late = await asyncio.wait(tasks, timeout=SEND_TIMEOUT)
        for task in late:  # never answered: counted as HTTP errors, and not left running
            task.cancel()
        wall = clock() - began
        after = cpu_seconds(self.servers)
        # A frame may still be on its way: wait for every 2xx's frames, or LOST_AFTER.
        for _ in range(round(LOST_AFTER / 0.05)):
            if all(
                len(s.received) >= s.expected for s in book.sent.values() if 200 <= s.status < 300
            ):
                break
            await asyncio.sleep(0.05)
        return book, {k: (after[k] - before.get(k, 0.0)) / wall for k in after}


def summarise(
    book: Book, cores: dict[str, float], *, processes: int, round_no: int, rate: int
) -> Step:
    sent = list(book.sent.values())
    ok = [s for s in sent if 200 <= s.status < 300]
    latencies = sorted(1000 * (t - s.due) for s in ok for t in s.received)
    answers = sorted(1000 * (s.answered - s.due) for s in ok)
    lags = sorted(1000 * (s.sent - s.due) for s in sent)
    span = max((s.answered for s in ok), default=0.0) - min((s.due for s in sent), default=0.0)
    return Step(
        processes=processes,
        round=round_no,
        rate=rate,
        seconds=round(span, 2),
        sent=len(sent),
        ok=len(ok),
        http_errors=len(sent) - len(ok),
        achieved_per_s=round(len(ok) / span, 1) if span > 0 else 0.0,
        frames=len(latencies),
        lost=sum(1 for s in ok if len(s.received) < s.expected),
        duplicates=sum(max(0, len(s.received) - s.expected) for s in ok),
        p50_ms=round(percentile(latencies, 0.50), 2),
        p90_ms=round(percentile(latencies, 0.90), 2),
        p99_ms=round(percentile(latencies, 0.99), 2),
        max_ms=round(latencies[-1], 2) if latencies else 0.0,
        answer_p50_ms=round(percentile(answers, 0.50), 2),
        answer_p99_ms=round(percentile(answers, 0.99), 2),
        client_lag_p99_ms=round(percentile(lags, 0.99), 2),
        cores={k: round(v, 2) for k, v in cores.items()},
        errors=dict(Counter(s.error or str(s.status) for s in sent if not 200 <= s.status < 300)),
        retried=sum(s.retried for s in sent),
        answer_max_by_second_ms=_slowest_by_second(ok),
    )


def _slowest_by_second(ok: list[Sent]) -> list[float]:
    if not ok:
        return []
    start = min(s.due for s in ok)
    slowest: dict[int, float] = {}
    for s in ok:
        second = int(s.due - start)
        slowest[second] = max(slowest.get(second, 0.0), 1000 * (s.answered - s.due))
    return [round(slowest.get(i, 0.0), 1) for i in range(max(slowest) + 1)]


async def latency_phase(
    cast: Cast,
    servers: dict[str, subprocess.Popen[bytes]],
    args: argparse.Namespace,
    rounds: int,
    *,
    to_target: bool,
) -> list[Step]:
    load = LatencyLoad(cast, servers)
    await load.open()
    n = len(servers)
    steps: list[Step] = []

    async def measured(label: str, name: str, rate: int, seconds: float, round_no: int) -> Step:
        """One step summed up and printed; then the servers are left to go idle."""
        book, cores = await load.step(name, rate, seconds)
        step = summarise(book, cores, processes=n, round_no=round_no, rate=rate)
        steps.append(step)
        print(
            f"{n} process(es), {label} {rate}/s: "
            f"{step.achieved_per_s:.0f}/s answered 2xx, p50 {step.p50_ms} p99 "
            f"{step.p99_ms} max {step.max_ms} ms, lost {step.lost}, http errors "
            f"{step.http_errors} {step.errors}, resent {step.retried}, cores {step.cores}; "
            f"slowest answer each second {step.answer_max_by_second_ms} ms",
            flush=True,
        )
        for proc in servers.values():
            await asyncio.to_thread(wait_quiet, proc, timeout=120)
        return step

    try:
        await load.step(f"warm{n}", 50, 3)
        await measured("cold start at", f"cold{n}", max(args.rates), 3, 0)
        for round_no in range(rounds):
            for rate in args.rates:
                step = await measured(
                    f"round {round_no + 1},",
                    f"p{n}r{round_no}x{rate}",
                    rate,
                    args.seconds,
                    round_no + 1,
                )
                # Past the knee, higher rates only queue more (and take long to drain):
                # the first round goes on up to the target rate, the others stop there.
                if step.p99_ms > KNEE_P99 and (round_no or rate >= TARGET_RATE or not to_target):
                    break
    finally:
        await load.close()
    return steps


# --- 2. a reader that never reads ------------------------------------------------------


async def slow_reader(
    cast: Cast, server: subprocess.Popen[bytes], port: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Large messages to a socket that never reads and to one that does, on one process;
    the server's RSS sampled meanwhile."""
    book = Book()
    normal = await open_socket(port, cast.tokens[cast.normal])
    reader = asyncio.create_task(receive(normal, lambda: book))
    # Never read: the client stops taking frames off the connection at once, and its
    # kernel buffer is kept small so that the server feels it within seconds.
    slow = await open_socket(port, cast.tokens[cast.slow], max_queue=1, receive_buffer=65536)
    pool = Pool(port, 16)
    await pool.open()
    rng = random.Random(11)
    alphabet = string.ascii_letters + string.digits + " "
    texts = ["".join(rng.choices(alphabet, k=args.slow_chars)) for _ in range(64)]
    samples: list[tuple[float, int, int, str, str, int]] = []
    began = clock()
    local_port = slow.local_address[1]

    async def sample() -> None:
        # (seconds, server kB, frames the normal reader got, the slow socket's TCP state
        # at the client and at the server, and the bytes in the server's send queue)
        while True:
            received = sum(1 for s in book.sent.values() if s.received)
            client_state, _ = tcp_end(local_port, port)
            server_state, unsent = tcp_end(port, local_port)
            rss = sum(server_rss(server).values())
            at = round(clock() - began, 1)
            samples.append((at, rss, received, client_state, server_state, unsent))
            await asyncio.sleep(0.5)

    async def send(i: int, due: float) -> None:
        cid = f"slow-{i}"
        sent = book.sent[cid] = Sent(due, expected=1)
        body = orjson.dumps({"text": texts[i % len(texts)], "client_message_id": cid})
        path = f"/api/v1/conversations/{cast.group}/messages"
        await pool.post(path, cast.sender(0), body, sent)

    sampler = asyncio.create_task(sample())
    count = round(args.slow_rate * args.slow_seconds)
    await asyncio.wait(await pace(args.slow_rate, count, send), timeout=SEND_TIMEOUT)
    await asyncio.sleep(args.slow_linger)  # still not reading: does the server let go?
    sampler.cancel()
    # Now read what reached the slow socket, to its end: how many frames, and how it ended.
    frames = 0
    try:
        async with asyncio.timeout(30):
            async for _ in slow:
                frames += 1
    except ConnectionClosed:
        pass
    except TimeoutError:
        pass
    server_closed_at = next((t for t, _, _, state, _, _ in samples if state != "01"), None)
    closed = {
        "code": slow.close_code,
        "reason": slow.close_reason,
        "frames_read_after": frames,
        "server_closed_at_s": server_closed_at,
    }
    await normal.close()
    await asyncio.gather(reader, return_exceptions=True)
    pool.close()
    step = summarise(book, {}, processes=1, round_no=1, rate=args.slow_rate)
    return {
        "messages": count,
        "characters": args.slow_chars,
        "rate": args.slow_rate,
        "normal_reader": asdict(step),
        "slow_socket": closed,
        "rss_kb": samples,
    }


# --- 3. idle sockets -------------------------------------------------------------------


async def idle_sockets(
    cast: Cast, server: subprocess.Popen[bytes], port: int, compression: str | None
) -> dict[str, Any]:
    """10,000 sockets of 10,000 people on one process: its RSS before, with them open, and
    after they close; twice, so that memory kept for reuse is told from memory lost."""
    await asyncio.sleep(2)
    before = server_rss(server)
    limit = asyncio.Semaphore(100)
    book = Book()

    async def one(k: int) -> ClientConnection:
        async with limit:
            return await open_socket(port, cast.tokens[k], compression=compression, max_queue=4)

    async def wave() -> dict[str, Any]:
        client_before = rss_kb(os.getpid())
        began = clock()
        sockets = await asyncio.gather(*(one(k) for k in range(IDLE_SOCKETS)))
        opened = clock() - began
        readers = [asyncio.create_task(receive(ws, lambda: book)) for ws in sockets]
        await asyncio.sleep(5)
        cpu0 = group_cpu_seconds(server.pid)
        await asyncio.sleep(5)
        idle_cores = (group_cpu_seconds(server.pid) - cpu0) / 5
        held = server_rss(server)
        response = sockets[0].response
        client_after = rss_kb(os.getpid())
        open_now = sum(1 for ws in sockets if ws.close_code is None)
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.sleep(3)
        return {
            "negotiated": response.headers.get("Sec-WebSocket-Extensions") if response else None,
            "sockets": len(sockets),
            "open_at_the_end": open_now,
            "seconds_to_open": round(opened, 1),
            "server_rss_kb_open": held,
            "server_rss_kb_closed": server_rss(server),
            "server_idle_cores": round(idle_cores, 3),
            "client_kb_per_socket": round((client_after - client_before) / len(sockets), 1),
        }

    waves = [await wave(), await wave()]
    grew = sum(waves[0]["server_rss_kb_open"].values()) - sum(before.values())
    return {
        "compression": compression or "none",
        "server_rss_kb_before": before,
        "server_kb_per_socket": round(grew / IDLE_SOCKETS, 1),
        "waves": waves,
    }


# --- the run ---------------------------------------------------------------------------


@contextmanager
def servers(names: list[str], env: dict[str, str]) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    with started(names, env, HOME / "logs", PORTS) as procs:
        yield procs


def table(steps: list[Step]) -> str:
    """Medians over the rounds of each (processes, offered rate); lost and errors summed.
    The cold starts (round 0) have lines of their own, under the rounds'."""
    lines = [
        "| processes | offered /s | answered 2xx /s | rounds | p50 ms | p90 ms | p99 ms | max ms "
        "| lost | HTTP errors | HTTP answer p99 ms | client lag p99 ms | server CPU ms/msg "
        "| cores: servers, PostgreSQL, Redis, load generator, other jobs |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    keys = sorted(
        {(s.processes, s.round == 0, s.rate) for s in steps}, key=lambda k: (-k[0], *k[1:])
    )
    for processes, cold, rate in keys:
        runs = [s for s in steps if (s.processes, s.round == 0, s.rate) == (processes, cold, rate)]

        def med(attr: str, runs: list[Step] = runs) -> float:
            return float(statistics.median(getattr(s, attr) for s in runs))

        def core(name: str, runs: list[Step] = runs) -> float:
            return float(statistics.median(s.cores.get(name, 0.0) for s in runs))

        names = [n for n in PORTS if n in runs[0].cores]
        ours = [*names, "postgresql", "redis", "load generator"]
        others = statistics.median(
            s.cores.get("machine", 0.0) - sum(s.cores.get(n, 0.0) for n in ours) for s in runs
        )
        per_message = statistics.median(
            1000 * sum(s.cores.get(n, 0.0) for n in names) / s.achieved_per_s
            for s in runs
            if s.achieved_per_s
        )
        lines.append(
            f"| {processes} | {rate:,} | {med('achieved_per_s'):,.0f} "
            f"| {'cold start' if cold else len(runs)} "
            f"| {med('p50_ms'):.1f} | {med('p90_ms'):.1f} | {med('p99_ms'):.1f} "
            f"| {med('max_ms'):,.0f} | {sum(s.lost for s in runs)} "
            f"| {sum(s.http_errors for s in runs)} | {med('answer_p99_ms'):,.1f} "
            f"| {med('client_lag_p99_ms'):,.1f} | {per_message:.1f} "
            f"| {'+'.join(f'{core(n):.2f}' for n in names)}, {core('postgresql'):.2f}, "
            f"{core('redis'):.2f}, {core('load generator'):.2f}, {max(0.0, others):.2f} |"
        )
    return "\n".join(lines)


def verdict(steps: list[Step]) -> list[str]:
    lines = [
        f"{s.processes} process(es), cold start at {s.rate}/s: p99 {s.p99_ms:.1f} ms, "
        f"max {s.max_ms:.0f} ms, {s.lost + s.http_errors} lost or refused"
        for s in steps
        if s.round == 0
    ]
    steps = [s for s in steps if s.round]
    for processes in sorted({s.processes for s in steps}, reverse=True):
        mine = [s for s in steps if s.processes == processes]
        at_target = [s for s in mine if s.rate == TARGET_RATE]
        if at_target:
            p99 = statistics.median(s.p99_ms for s in at_target)
            lost = sum(s.lost + s.http_errors for s in at_target)
            met = p99 < TARGET_P99 and lost == 0
            lines.append(
                f"{processes} process(es) at {TARGET_RATE}/s: median p99 {p99:.1f} ms, "
                f"{lost} lost or refused: target {'met' if met else 'NOT met'}"
            )
        rates = sorted({s.rate for s in mine})
        knee = next(
            (
                r
                for r in rates
                if statistics.median(s.p99_ms for s in mine if s.rate == r) > KNEE_P99
            ),
            None,
        )
        lines.append(
            f"{processes} process(es): p99 first passes {KNEE_P99:.0f} ms at "
            + (f"{knee}/s" if knee else f"none of the rates tried (up to {rates[-1]}/s)")
        )
    return lines


async def measure(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    began = time.monotonic()
    cast = await create_people(max(IDLE_SOCKETS, RECIPIENTS + SENDERS + 2))
    print(f"{len(cast.ids)} people and tokens in {time.monotonic() - began:.0f} s", flush=True)
    result: dict[str, Any] = {}
    steps: list[Step] = []
    with servers(["granian-a", "granian-b"], env) as procs:
        await create_conversations(PORTS["granian-a"], cast)
        # The cast (10,000 people, their tokens) lives to the end: out of the collector's
        # sight, so a full collection of this process never stalls its sends mid-step.
        gc.collect()
        gc.freeze()
        if not args.skip_latency:
            steps += await latency_phase(cast, procs, args, args.rounds, to_target=True)
    if args.reference_rounds and not args.skip_latency:
        with servers(["granian-a"], env) as procs:
            steps += await latency_phase(cast, procs, args, args.reference_rounds, to_target=False)
    result["steps"] = [asdict(s) for s in steps]
    if not args.skip_memory:
        with servers(["granian-a"], env) as procs:
            result["slow_reader"] = await slow_reader(
                cast, procs["granian-a"], PORTS["granian-a"], args
            )
            print(f"slow reader: {json.dumps(result['slow_reader']['slow_socket'])}", flush=True)
        result["idle"] = []
        # granian (the default) does not negotiate permessage-deflate; uvicorn does.
        for name, compression in (
            ("granian-a", "deflate"),
            ("uvicorn-a", "deflate"),
            ("uvicorn-a", None),
        ):
            with servers([name], env) as procs:
                idle = await idle_sockets(cast, procs[name], PORTS[name], compression)
                idle["server"] = name.partition("-")[0]
                result["idle"].append(idle)
                print(f"idle sockets: {json.dumps(idle)}", flush=True)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--rates",
        type=lambda text: [int(r) for r in text.split(",") if r],
        default=env("BENCH_STREAM_RATES", "25,50,100,250,500,1000,1500,2000"),
    )
    parser.add_argument("--seconds", type=float, default=float(env("BENCH_STREAM_SECONDS", "12")))
    parser.add_argument("--rounds", type=int, default=int(env("BENCH_STREAM_ROUNDS", "3")))
    parser.add_argument("--reference-rounds", type=int, default=1, help="rounds on one process")
    parser.add_argument("--slow-rate", type=int, default=50)
    parser.add_argument("--slow-seconds", type=float, default=60)
    parser.add_argument("--slow-chars", type=int, default=4000)
    parser.add_argument("--slow-linger", type=float, default=30, help="seconds, after the sends")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args(argv)
    if isinstance(args.rates, str):
        args.rates = [int(r) for r in args.rates.split(",") if r]
    if not 1 <= args.rounds <= 10 or not 1 <= args.seconds <= 120:
        parser.error("rounds must be 1..10 and seconds 1..120")
    return args


def main() -> None:
    args = parse_args()
    # 10,000 sockets: this process and the servers it starts (which inherit it) need the fds.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    env = server_env(args)
    os.environ.update(env)  # the data is made with the servers' settings (signing key, database)
    load_before = load_average()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    print(f"{stamp}: load average {load_before}; fd limit {hard}", flush=True)
    if asyncio.run(_pg_exists(PG_DATABASE)):
        asyncio.run(_pg(f'DROP DATABASE "{PG_DATABASE}" WITH (FORCE)'))
    asyncio.run(_pg(f'CREATE DATABASE "{PG_DATABASE}"'))
    print(f"cleared {asyncio.run(clear_redis_prefix(REDIS_PREFIX))} keys under {REDIS_PREFIX!r}")
    try:
        result = uvloop.run(measure(args, env))
    finally:
        print(
            f"cleared {asyncio.run(clear_redis_prefix(REDIS_PREFIX))} keys under {REDIS_PREFIX!r}"
        )
        if not args.keep:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
            print(f"dropped database {PG_DATABASE}")
    result |= {
        "started": stamp,
        "ended": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "args": vars(args),
    }
    steps = [Step(**s) for s in result["steps"]]
    print()
    print(table(steps))
    print("\n".join(verdict(steps)))
    print(f"load average before {load_before}, after {result['load_average_after']}")
    out = DATA / f"stream-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"raw figures: {out}")


if __name__ == "__main__":
    main()
