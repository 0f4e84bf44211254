"""A server process killed (SIGKILL) in the middle of a burst of posts: every post it
answered 2xx is there, and reaches its author's followers' feeds, published by another
process's outbox relay.

Two `minifb serve` processes and a `minifb worker feed` process over the test's
PostgreSQL database, a shared Redis and the test's own prefix on the run's broker.
Posts go to the first server AT_ONCE at a time; it is killed (with its granian
worker) once KILL_AFTER have been answered. A post commits with its outbox row, and
the relay publishes it after the commit, from memory: the first server reaches the
broker over a link of LINK_DELAY seconds each way (`TcpRelay`), so at any moment the
commits of the last round trip wait to be published, and the kill leaves some
committed and never published (and some published and not yet marked). The relays
left (the second server's, the worker's) sweep rows still unpublished
`OutboxRelay.grace` seconds (5) after they were written, every `poll_interval` (1 s).
A request left without an answer may or may not have landed; whatever landed must be
there once, and reach the feeds like the rest.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from minifb.adapters.cache import Cache
from minifb.auth.tokens import SigningKey
from minifb.kit.db import Database
from minifb.models import Post
from tests.factories import Person, follow, register, register_many
from tests.fixtures import kills
from tests.fixtures.deadline import bounded
from tests.fixtures.http import API
from tests.fixtures.kills import amqp_prefix, broker_env, cache, db, redis_server, shared_cache_url
from tests.fixtures.servers import Server, Worker, needs_services
from tests.fixtures.tcp_relay import TcpRelay
from tests.fixtures.tiers import AMQP_URL

# The fixtures, imported for the test below.
__all__ = ["amqp_prefix", "broker_env", "cache", "db", "redis_server", "shared_cache_url"]

pytestmark = needs_services

FOLLOWERS = 5
AT_ONCE = 8  # posts in flight at the first server
KILL_AFTER = 100  # posts answered 2xx before the first server is killed
MOST = 1000  # posts the burst would make, were the server not killed
LINK_DELAY = 0.1  # seconds each way between the first server and the broker
# A post handled by the feed this long after the kill was published by a sweep: the
# worker keeps up with the burst, and what the dead server published reached it by then.
SWEPT_AFTER = 3.0
# Seconds by which every post is in every feed after the kill: the sweep's grace (5 s)
# and poll (1 s), the worker's handling, and room for a loaded machine.
IN_FEEDS_WITHIN = 30.0


@bounded(120)
async def test_posts_answered_by_a_server_killed_mid_burst_reach_every_feed(
    broker_env: dict[str, str], db: Database, cache: Cache, tmp_path: Path
) -> None:
    # One signing key: a token the first server gave is good at the second.
    env = {**broker_env, "MINIFB_JWT_SIGNING_KEY": SigningKey.generate().to_pem().decode()}
    assert AMQP_URL
    async with TcpRelay(AMQP_URL, delay=LINK_DELAY) as link:
        await burst_and_kill(env, link, db, cache, tmp_path)


async def burst_and_kill(
    env: dict[str, str], link: TcpRelay, db: Database, cache: Cache, tmp_path: Path
) -> None:
    logs = kills.Logs()
    first = Server({**env, "MINIFB_EVENTS_URL": link.url}, tmp_path / "server-1")
    second = Server(env, tmp_path / "server-2")
    worker = Worker(env, tmp_path / "worker", "feed")
    for name, log in (("server 1", first.log), ("server 2", second.log), ("worker", worker.log)):
        logs.add(name, log)
    try:
        async with (
            httpx.AsyncClient(base_url=first.url, timeout=30) as one,
            httpx.AsyncClient(base_url=second.url, timeout=30) as two,
        ):
            await first.until_ready(one)
            await second.until_ready(two)
            await worker.until_running()
            author = await register(one)
            followers = await register_many(two, FOLLOWERS)
            for follower in followers:
                await follow(two, follower, author)

            burst = await burst_until_killed(one, first, author, logs)
            answered, refused, unanswered, killed = burst
            left = await kills.unpublished(db)  # rows the dead relay had not marked
            assert len(answered) >= KILL_AFTER, f"{len(answered)} answered{logs}"
            assert first.process.poll() is not None, f"the first server lives on{logs}"

            # Every post answered 2xx is there, read through the second server.
            for text, post_id in answered.items():
                response = await two.get(f"{API}/posts/{post_id}", headers=author.headers)
                assert response.status_code == 200, f"{text} ({post_id}): {response.text}{logs}"
                assert response.json()["text"] == text
            # What landed: every answered post, and perhaps some of those left unanswered
            # (none refused with a 503), none twice.
            landed = await posts_of(db, author)
            twice = [text for text, ids in landed.items() if len(ids) > 1]
            assert twice == [], f"posts made twice: {twice}{logs}"
            assert set(answered) <= set(landed), f"answered, not in the database{logs}"
            assert set(landed) <= set(answered) | unanswered, f"posts not to be there{logs}"
            post_ids = {ids[0] for ids in landed.values()}

            # Each in every feed (the author's too) within the bound, published by a relay
            # that lives on; the worker handled each once.
            everyone = [author, *followers]

            async def in_every_feed() -> bool:
                return await kills.missing_from_feeds(cache, everyone, post_ids) == {}

            async def lacking() -> str:
                missing = await kills.missing_from_feeds(cache, everyone, post_ids)
                return f"missing from feeds: {missing}; {await kills.unpublished(db)} unpublished"

            await kills.within(
                IN_FEEDS_WITHIN, in_every_feed, "posts reaching the feeds", logs, lacking
            )
            reached = datetime.now(UTC)
            assert await kills.unpublished(db) == 0, f"rows no relay published{logs}"
            assert await kills.unhandled(db, "feed", "post.created") == [], f"unhandled{logs}"
            assert await kills.dead_letters(db) == [], f"events given up on{logs}"
            feed = await kills.whole_feed(two, followers[0])
            assert feed == sorted(post_ids, key=int, reverse=True), f"the feed{logs}"
            # The kill did leave posts committed and never published (else this test shows
            # nothing of the sweep): the feed handled them only once a relay swept them.
            late = killed + timedelta(seconds=SWEPT_AFTER)
            swept = await kills.handled(db, "feed", "post.created", since=late)
            assert swept > 0, f"no post waited for a sweep ({left} rows unmarked){logs}"
            print(  # the timings, for the run's log (pytest -s)
                f"{len(answered)} answered, {len(refused)} refused, {len(unanswered)} "
                f"unanswered ({len(landed) - len(answered)} of them landed); {left} rows "
                f"unmarked at the kill, {swept} posts swept; every post in every feed "
                f"{(reached - killed).total_seconds():.2f} s after the kill"
            )
    finally:
        worker.kill()
        second.stop()
        first.kill()


async def burst_until_killed(
    client: httpx.AsyncClient, server: Server, author: Person, logs: kills.Logs
) -> tuple[dict[str, str], set[str], set[str], datetime]:
    """Posts by `author` to `server`, AT_ONCE at a time, which is killed once KILL_AFTER
    have been answered 201. Returns the answered (text: id), the texts of those refused
    with a 503 (a loaded machine: nothing was written) and of those left without an
    answer, and when the kill came."""
    answered: dict[str, str] = {}
    refused: set[str] = set()
    unanswered: set[str] = set()
    numbers = itertools.count()
    enough = asyncio.Event()

    async def send() -> None:
        while (n := next(numbers)) < MOST:
            text = f"burst {n}"
            try:
                response = await client.post(
                    f"{API}/posts", json={"text": text}, headers=author.headers
                )
            except httpx.TransportError:
                unanswered.add(text)
                return  # the server is gone
            if response.status_code == 503:
                refused.add(text)
                continue
            assert response.status_code == 201, f"{text}: {response.text}{logs}"
            answered[text] = str(response.json()["id"])
            if len(answered) >= KILL_AFTER:
                enough.set()

    async with asyncio.TaskGroup() as group:
        for _ in range(AT_ONCE):
            group.create_task(send())
        await enough.wait()
        server.kill()
        killed = datetime.now(UTC)
    return answered, refused, unanswered, killed


async def posts_of(db: Database, author: Person) -> dict[str, list[str]]:
    """The ids of `author`'s posts in the database, by text."""
    async with db.transaction() as session:
        rows = await session.execute(
            select(Post.text, Post.id).where(Post.author_id == int(author.id)).order_by(Post.id)
        )
    found: dict[str, list[str]] = {}
    for text, post_id in rows:
        found.setdefault(text, []).append(str(post_id))
    return found
