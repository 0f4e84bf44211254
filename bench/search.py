"""Search at bench size: queries per second and latency of `GET /search`'s service call,
on each SQL backend (FTS5 on SQLite, full text on PostgreSQL).

Seeds the bench network (10,000 people, 500,000 posts; `bench/generate.py`'s
`ensure_data`, reused when present), builds the index (`minifb search
reindex`'s `reindex`, unless it is full already), then runs the same mix of
queries for random readers, one at a time on one connection, in process: what
one worker spends per search, without HTTP in the way.

    MINIFB_DATABASE_URL=sqlite+aiosqlite:///./var/bench-search/minifb.db python bench/search.py
    MINIFB_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1/minifb_bench python bench/search.py
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

import asyncpg

# Run as a script, bench/ is on the path: the generator is a sibling module.
from generate import POSTS_PER_USER, USERS, ensure_data
from sqlalchemy import func, make_url, select, text

from minifb.adapters.cache import create_cache
from minifb.bootstrap import create_search_index, worker_id_lease
from minifb.cli import phase_progress
from minifb.config import Settings
from minifb.kit.db import Database
from minifb.migrations import upgrade
from minifb.models import Post, User
from minifb.search import service
from minifb.seed.content import WORDS


def queries(rng: random.Random, n: int) -> list[tuple[str, service.SearchType]]:
    """The mix: people typeahead (1 to 3 prefixes), posts by one or two words, and `all`."""
    mix: list[tuple[str, service.SearchType]] = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.4:
            q = rng.choice(
                ["dem", "demo pers", f"person {rng.randint(1, 999)}", f"demo_{rng.randint(1, 99)}"]
            )
            mix.append((q, service.SearchType.users))
        elif kind < 0.8:
            q = " ".join(rng.sample(WORDS, rng.choice([1, 2])))
            mix.append((q, service.SearchType.posts))
        else:
            mix.append((rng.choice(WORDS), service.SearchType.all))
    return mix


async def indexed_posts(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(text("SELECT count(*) FROM search_posts")) or 0)


async def main_async(args: argparse.Namespace) -> None:
    settings = Settings()
    if settings.is_sqlite:
        Path(settings.database_url.split(":///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
    else:
        await create_database(settings.database_url)
    await asyncio.to_thread(upgrade, settings.database_url)
    db = Database(settings.database_url, ca_cert=settings.database_ca_cert, pool_size=2)
    lease = worker_id_lease(settings, db)
    index = create_search_index(settings)
    cache = create_cache("memory://")
    try:
        if await lease.start() is None:
            sys.exit(f"no worker id to mint the new rows' ids: {lease.problem}")
        _, posts = await ensure_data(
            db, users=args.users, posts_per_user=args.posts_per_user, rng_seed=args.seed
        )
        if await indexed_posts(db) < posts:
            started = time.monotonic()
            with phase_progress() as advance:
                expected: dict[str, int] = {}

                def totals(people: int, posts_: int) -> None:
                    expected.update(people=people, posts=posts_)

                await service.reindex(
                    db,
                    index,
                    batch=5000,
                    totals=totals,
                    progress=lambda kind, n: advance(kind, n, expected[kind]),
                )
            print(f"indexed in {time.monotonic() - started:.0f} s", flush=True)
        async with db.session() as session:
            readers = list(await session.scalars(select(User.id).limit(2000)))
            total_posts = await session.scalar(select(func.count()).select_from(Post))
        rng = random.Random(args.seed)
        mix = queries(rng, args.queries)
        timings: dict[str, list[float]] = {t.value: [] for t in service.SearchType}
        # Warm-up: the first queries load pages from disk.
        for q, type_ in mix[: args.queries // 10]:
            async with db.session() as session:
                await service.search(
                    session, cache, index, rng.choice(readers), q, type_=type_, limit=20
                )
        wall = time.perf_counter()
        for q, type_ in mix:
            viewer = rng.choice(readers)
            started = time.perf_counter()
            async with db.session() as session:
                await service.search(session, cache, index, viewer, q, type_=type_, limit=20)
            timings[type_.value].append(time.perf_counter() - started)
        wall = time.perf_counter() - wall
    finally:
        await lease.stop()
        await db.dispose()
    backend = "SQLite FTS5" if settings.is_sqlite else "PostgreSQL full text"
    rate = len(mix) / wall
    print(f"\n{backend}: {total_posts} posts, {len(mix)} queries in {wall:.1f} s = {rate:.0f}/s")
    print(f"{'type':<6} {'n':>5} {'q/s':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for type_, samples in timings.items():
        if not samples:
            continue
        samples.sort()
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        print(
            f"{type_:<6} {len(samples):>5} {len(samples) / sum(samples):>7.0f} "
            f"{statistics.median(samples) * 1000:>8.1f} {p99 * 1000:>8.1f}"
        )


async def create_database(url: str) -> None:
    """Create the PostgreSQL database `url` names unless it exists (kept between runs:
    seeding 500,000 posts takes minutes)."""
    target = make_url(url)
    server = target.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", target.database):
            await conn.execute(f'CREATE DATABASE "{target.database}"')
            print(f"created database {target.database}", flush=True)
    finally:
        await conn.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--posts-per-user", type=int, default=POSTS_PER_USER)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42, help="seed of the random generator")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main_async(parse_args()))
