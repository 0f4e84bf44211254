"""Soak: ten minutes of mixed load on two server processes and the workers, minute by minute.

Over the broker tier of bench/run.py (PostgreSQL, Redis, RabbitMQ; the same
data, seeded if missing), two `minifb serve` processes (granian, one worker
each) and the tier's worker processes (the feed's, the other consumers') take
an open-loop load at a fixed offered rate, spread over both servers: reads of
the feed, new posts, comments and reactions on the posts the run made, and
messages between people holding tokens. Each minute gives its requests,
non-2xx answers, p50 and p99 (from when each request was due, so a stall shows
as latency, not as fewer requests); every process's RSS is sampled every 10 s.
The verdict compares each process's RSS at the end with its RSS after the
first minutes.

    python bench/soak.py                         # 10 minutes at 100 requests a second
    python bench/soak.py --minutes 2 --rate 100  # a short try

Only 127.0.0.1 is loaded; the data is bench/run.py's (`minifb_bench`, kept
with --keep), and the broker's queues under `minifb-bench-` are deleted at
the end. The raw figures go to `bench/data/soak-*.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from run import (
    DATA,
    HOST,
    WORKERS,
    cleanup_tier,
    group_pids,
    prepare_tier,
    started,
    tier_env,
    warm_up,
)
from stream import rss_kb

TIER = "broker"
PORTS = {"granian-a": 8131, "granian-b": 8132}
SERVERS = list(PORTS)
# What a request is, and how often it comes (out of 100).
MIX = {"feed": 55, "post": 15, "comment": 10, "reaction": 10, "message": 10}
REACTIONS = ["like", "love", "haha", "wow"]
SAMPLE_EVERY = 10.0  # seconds between RSS samples
SETTLE_MINUTES = 2  # memory may grow while pools, caches and feeds fill up
TIMEOUT = 10.0
LATE = 1.0  # seconds behind its schedule at which the driver counts a request late
# Requests waiting for their answers, at most: past it, a request due is dropped and
# counted rather than queued, so a stall of the servers cannot pile up thousands of
# requests in the driver's connection pools (whose queue costs grow with its length).
IN_FLIGHT = 400


@dataclass
class Minute:
    minute: int
    requests: int = 0
    non_2xx: int = 0
    errors: int = 0
    late: int = 0  # sent over `LATE` seconds after they were due: the driver fell behind
    dropped: int = 0  # not sent: `IN_FLIGHT` requests were waiting for answers already
    latencies: list[float] = field(default_factory=list)
    rss_kb: dict[str, int] = field(default_factory=dict)  # at the minute's end

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies) or [0.0]
        return {
            "minute": self.minute,
            "requests": self.requests,
            "non_2xx": self.non_2xx,
            "errors": self.errors,
            "late": self.late,
            "dropped": self.dropped,
            "p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            "rss_kb": self.rss_kb,
        }


@dataclass
class Cast:
    tokens: list[str]
    ids: list[int]
    conversations: list[tuple[str, int]]  # (a member's token, conversation id)


async def cast_of(tokens: list[str], port: int, pairs: int) -> Cast:
    """The token holders' ids, and `pairs` direct conversations between two of them."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=30) as client:
        people = tokens[: pairs * 2]
        ids = []
        for token in people:
            me = await client.get("/api/v1/users/me", headers=_auth(token))
            me.raise_for_status()
            ids.append(int(me.json()["id"]))
        for token in people:  # messages from anyone, so any two may talk
            answer = await client.patch(
                "/api/v1/users/me",
                json={"settings": {"messages_from": "everyone"}},
                headers=_auth(token),
            )
            answer.raise_for_status()
        conversations = []
        for k in range(pairs):
            answer = await client.post(
                "/api/v1/conversations",
                json={"participant_ids": [str(ids[2 * k + 1])]},
                headers=_auth(people[2 * k]),
            )
            answer.raise_for_status()
            conversations.append((people[2 * k], int(answer.json()["id"])))
    return Cast(tokens, ids, conversations)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Load:
    """The open-loop load: one request due every 1/rate seconds, each on its own task."""

    def __init__(self, cast: Cast, rate: float, seconds: float) -> None:
        self.cast = cast
        self.rate = rate
        self.seconds = seconds
        self.minutes: dict[int, Minute] = {}
        self.posts: deque[str] = deque(maxlen=500)  # the run's newest posts
        self.rng = random.Random(7)
        kinds, weights = zip(*MIX.items(), strict=True)
        self.kinds: list[str] = list(kinds)
        self.weights: list[int] = list(weights)

    async def run(self, clients: list[httpx.AsyncClient]) -> None:
        """Until the wall clock says the time is up: a driver that falls behind its
        schedule (this process short of CPU) sends less, and says so (`late`); a request
        due while `IN_FLIGHT` wait for their answers is not sent (`dropped`)."""
        began = time.monotonic()
        end = began + self.seconds
        tasks: set[asyncio.Task[None]] = set()
        n = 0
        while (due := began + n / self.rate) < end and time.monotonic() < end:
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                await asyncio.sleep(0)  # behind: the requests in flight go on meanwhile
                if wait < -LATE:
                    self.minute_of(due, began).late += 1
            if len(tasks) >= IN_FLIGHT:
                self.minute_of(due, began).dropped += 1
                n += 1
                continue
            kind = self.rng.choices(self.kinds, self.weights)[0]
            task = asyncio.create_task(self.one(clients[n % len(clients)], kind, due, began))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        if tasks:
            await asyncio.wait(tasks, timeout=TIMEOUT * 2)

    def minute_of(self, due: float, began: float) -> Minute:
        minute = int((due - began) // 60)
        return self.minutes.setdefault(minute, Minute(minute))

    async def one(self, client: httpx.AsyncClient, kind: str, due: float, began: float) -> None:
        minute = self.minute_of(due, began)
        token = self.rng.choice(self.cast.tokens)
        try:
            response = await self.send(client, kind, token)
        except httpx.HTTPError:
            minute.errors += 1
            return
        minute.requests += 1
        minute.latencies.append(time.monotonic() - due)
        if not 200 <= response.status_code < 300:
            minute.non_2xx += 1
        elif kind == "post":
            self.posts.append(response.json()["id"])

    async def send(self, client: httpx.AsyncClient, kind: str, token: str) -> httpx.Response:
        headers = _auth(token)
        post = self.rng.choice(self.posts) if self.posts else None
        if kind == "comment" and post is not None:
            return await client.post(
                f"/api/v1/posts/{post}/comments", json={"text": "soak comment"}, headers=headers
            )
        if kind == "reaction" and post is not None:
            reaction = {"type": self.rng.choice(REACTIONS)}
            return await client.put(
                f"/api/v1/posts/{post}/reaction", json=reaction, headers=headers
            )
        if kind == "message":
            member, conversation = self.rng.choice(self.cast.conversations)
            return await client.post(
                f"/api/v1/conversations/{conversation}/messages",
                json={"text": "soak message"},
                headers=_auth(member),
            )
        if kind in ("post", "comment", "reaction"):  # nothing to comment on yet: a post
            body = {"text": "soak post", "visibility": "public", "media_ids": []}
            return await client.post("/api/v1/posts", json=body, headers=headers)
        return await client.get("/api/v1/feed?limit=20", headers=headers)


def rss_of(procs: dict[str, Any]) -> dict[str, int]:
    """kB resident of every process of each group: a granian server is a supervisor and
    the worker it forked."""
    found = {}
    for name, proc in procs.items():
        for pid in group_pids(proc.pid):
            role = "" if name in WORKERS else " supervisor" if pid == proc.pid else " worker"
            found[f"{name}{role}"] = rss_kb(pid)
    return found


async def sample_rss(
    procs: dict[str, Any], load: Load, began: float, samples: list[dict[str, Any]]
) -> None:
    while True:
        rss = rss_of(procs)
        elapsed = time.monotonic() - began
        samples.append({"t": round(elapsed, 1), "rss_kb": rss})
        minute = load.minutes.get(int(elapsed // 60))
        if minute is not None:
            minute.rss_kb = rss
        await asyncio.sleep(SAMPLE_EVERY)


async def soak(procs: dict[str, Any], cast: Cast, args: argparse.Namespace) -> dict[str, Any]:
    load = Load(cast, args.rate, args.minutes * 60)
    samples: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    clients = [
        httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=TIMEOUT, limits=limits)
        for port in PORTS.values()
    ]
    began = time.monotonic()
    sampler = asyncio.create_task(sample_rss(procs, load, began, samples))
    try:
        await load.run(clients)
    finally:
        sampler.cancel()
        for client in clients:
            await client.aclose()
    samples.append({"t": round(time.monotonic() - began, 1), "rss_kb": rss_of(procs)})
    return {
        "minutes": [load.minutes[m].summary() for m in sorted(load.minutes)],
        "rss_samples": samples,
    }


def table(minutes: list[dict[str, Any]]) -> str:
    names = sorted({name for m in minutes for name in m["rss_kb"]})
    lines = [
        "| minute | requests | non-2xx | errors | sent late | dropped | p50 ms | p99 ms | "
        + " | ".join(f"RSS MB {n}" for n in names)
        + " |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(names),
    ]
    for m in minutes:
        rss = " | ".join(f"{m['rss_kb'].get(n, 0) / 1024:.1f}" for n in names)
        lines.append(
            f"| {m['minute'] + 1} | {m['requests']:,} | {m['non_2xx']} | {m['errors']} "
            f"| {m['late']} | {m['dropped']} "
            f"| {m['p50_ms']:.1f} | {m['p99_ms']:.1f} | {rss} |"
        )
    return "\n".join(lines)


def verdict(samples: list[dict[str, Any]]) -> list[str]:
    """Each process's RSS at the end against its RSS once the first minutes are over."""
    settled = next((s for s in samples if s["t"] >= SETTLE_MINUTES * 60), samples[0])
    end = samples[-1]
    lines = []
    for name, kb in end["rss_kb"].items():
        before = settled["rss_kb"].get(name)
        if not before:
            continue
        lines.append(
            f"{name}: {before / 1024:.1f} MB at {settled['t']:.0f} s, {kb / 1024:.1f} MB at "
            f"the end ({(kb - before) / before:+.1%})"
        )
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=100.0, help="requests a second, in all")
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--posts-per-user", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--fresh", action="store_true", help="drop the data and seed again")
    parser.add_argument("--keep", action="store_true", help="keep minifb_bench for the next run")
    args = parser.parse_args(argv)
    args.tiers = TIER  # what bench/run.py's data helpers read
    if not 1 <= args.minutes <= 120 or not 1 <= args.rate <= 5000:
        parser.error("minutes must be 1..120 and rate 1..5000")
    return args


def main() -> None:
    args = parse_args()
    env = tier_env(TIER)
    tokens_file = prepare_tier(TIER, env, args)
    tokens = [t for t in tokens_file.read_text().splitlines() if t]
    try:
        ports: dict[str, int] = {**PORTS, **dict.fromkeys(WORKERS, 0)}
        with started([*SERVERS, *WORKERS], env, DATA / "soak" / "logs", ports) as procs:
            first = PORTS[SERVERS[0]]
            statuses = asyncio.run(warm_up(SERVERS[0], tokens, ports=PORTS))
            print(f"warm-up {statuses}", flush=True)
            cast = asyncio.run(cast_of(tokens, first, args.conversations))
            print(
                f"soak: {args.minutes} min at {args.rate:.0f} requests/s over {SERVERS}, mix {MIX}",
                flush=True,
            )
            figures = asyncio.run(soak(procs, cast, args))
    finally:
        cleanup_tier(TIER, args)
    print(table(figures["minutes"]))
    for line in verdict(figures["rss_samples"]):
        print(line)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = DATA / f"soak-{stamp}.json"
    out.write_text(json.dumps({"args": vars(args), **figures}, indent=2, default=str))
    print(f"raw figures: {out}")


if __name__ == "__main__":
    main()
