"""A worker killed (SIGKILL) in the middle of its events: a new one takes them over, and
each event has its effect once.

A `minifb serve` process on RabbitMQ (running only the stream) and `minifb worker feed
notifications` processes, over the test's PostgreSQL database, a shared Redis and the
test's own prefix on the run's broker. Someone with FOLLOWERS followers writes POSTS
posts and their followers COMMENTS comments while no worker runs (the queues keep them,
as through a deploy); a worker then works through them and is killed once it has
handled some of both kinds and not all; a new worker handles the rest. A message is
acknowledged once its transaction has committed, so what the dead worker had in hand,
or had committed and not yet acknowledged, comes again: each post must be in each feed,
each comment make one notification, each event be marked handled once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from minifb.adapters.cache import Cache
from minifb.kit.db import Database
from minifb.models import Notification, NotificationType, ProcessedEvent
from tests.factories import Person, follow, register, register_many
from tests.fixtures import kills
from tests.fixtures.deadline import bounded
from tests.fixtures.kills import amqp_prefix, broker_env, cache, db, redis_server, shared_cache_url
from tests.fixtures.servers import Server, Worker, needs_services

# The fixtures, imported for the test below.
__all__ = ["amqp_prefix", "broker_env", "cache", "db", "redis_server", "shared_cache_url"]

pytestmark = needs_services

FOLLOWERS = 20
POSTS = 600  # under a feed's size (800): every post stays in every feed
EVERY = 3  # a comment on every third post, by the followers in turn
COMMENTS = POSTS // EVERY
AT_ONCE = 8  # requests in flight while the backlog is made
# The worker is killed once it has handled this many of each: once each consumer has
# committed its first batch (of up to 100), with hundreds more held unacknowledged.
KILL_AFTER_POSTS = 1
KILL_AFTER_COMMENTS = 1
# The workers' consumers, and the types of the test's events each handles.
CONSUMED = {
    "feed": ("follow.created", "post.created"),
    "notifications": ("post.created", "comment.created"),
}
CONSUMERS = tuple(CONSUMED)
START_AND_HANDLE = 60.0  # seconds for a worker to start and reach the kill's threshold
TAKEN_OVER_WITHIN = 60.0  # seconds for the new worker to handle everything left
SWEPT_WITHIN = 20.0  # seconds for a relay to sweep what the dead worker left (grace: 5 s)


@bounded(150)
async def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(
    broker_env: dict[str, str], db: Database, cache: Cache, tmp_path: Path
) -> None:
    logs = kills.Logs()
    server = Server(broker_env, tmp_path / "server")
    logs.add("server", server.log)
    workers: list[Worker] = []

    def start_worker() -> Worker:
        worker = Worker(broker_env, tmp_path / f"worker-{len(workers) + 1}", *CONSUMERS)
        workers.append(worker)
        logs.add(f"worker {len(workers)}", worker.log)
        return worker

    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            await server.until_ready(client)
            # The first worker declares the queues (an event nobody's queue is bound to is
            # dropped), takes the follows, and stops cleanly: the backlog builds up.
            first = start_worker()
            await first.until_running()
            author = await register(client)
            followers = await register_many(client, FOLLOWERS)
            for follower in followers:
                await follow(client, follower, author)
            assert first.stop(timeout=15) == 0, f"the first worker's exit{logs}"

            post_ids, comment_ids = await backlog(client, author, followers)
            assert await kills.handled(db, "feed", "post.created") == 0, f"no worker ran{logs}"

            began = time.monotonic()
            doomed = start_worker()

            async def done() -> tuple[int, int]:
                """(posts, comments) the workers have handled."""
                return (
                    await kills.handled(db, "feed", "post.created"),
                    await kills.handled(db, "notifications", "comment.created"),
                )

            async def progress() -> str:
                posts, comments = await done()
                return f"{posts}/{POSTS} posts, {comments}/{COMMENTS} comments handled"

            async def mid_batch() -> bool:
                posts, comments = await done()
                return posts >= KILL_AFTER_POSTS and comments >= KILL_AFTER_COMMENTS

            await kills.within(
                START_AND_HANDLE, mid_batch, "the second worker handling", logs, progress
            )
            doomed.kill()
            killed = time.monotonic()
            # What it had done when it died: some of each, not all.
            posts_done, comments_done = await done()
            fanned = len(await kills.in_feed(cache, followers[0]))
            assert 0 < posts_done < POSTS, f"{posts_done} posts handled at the kill{logs}"
            assert 0 < comments_done < COMMENTS, f"{comments_done} comments handled{logs}"
            assert 0 < fanned < POSTS, f"{fanned} posts in a feed at the kill{logs}"

            last = start_worker()

            async def all_handled() -> bool:
                return await done() == (POSTS, COMMENTS)

            await kills.within(
                TAKEN_OVER_WITHIN, all_handled, "the new worker taking over", logs, progress
            )
            taken_over = time.monotonic()

            # Nothing lost: every post in every feed (the author's too), as fan-out put it.
            everyone = [author, *followers]
            missing = await kills.missing_from_feeds(cache, everyone, set(post_ids))
            assert missing == {}, f"posts missing from feeds: {missing}{logs}"
            # Every event of the consumers' marked handled, once (the mark is the key).
            for consumer, types in CONSUMED.items():
                left = await kills.unhandled(db, consumer, *types)
                assert left == [], f"{consumer} never handled events {left}{logs}"
            assert await marks_twice(db) == [], f"events marked twice{logs}"
            # Nothing applied twice: one notification per comment, for the post's author.
            told = await notified_comments(db, author)
            assert sorted(told) == sorted(comment_ids), (
                f"{len(told)} comment notifications for {len(comment_ids)} comments, "
                f"{len(told) - len(set(told))} twice{logs}"
            )
            assert await kills.dead_letters(db) == [], f"events given up on{logs}"

            # The notifications' own events (for the stream) the dead worker committed
            # and had not published go out through another relay's sweep.
            async def all_published() -> bool:
                return await kills.unpublished(db) == 0

            await kills.within(SWEPT_WITHIN, all_published, "the outbox emptied", logs)
            # And read through the API: each post once, newest first.
            for person in (author, followers[0], followers[-1]):
                assert await kills.whole_feed(client, person) == post_ids[::-1], (
                    f"{person.username}'s feed{logs}"
                )
            redelivered = last.log.read_text().count("already handled")
            print(  # the timings, for the run's log (pytest -s)
                f"kill after {killed - began:.2f} s of work ({posts_done}/{POSTS} posts, "
                f"{comments_done}/{COMMENTS} comments handled); the new worker took over in "
                f"{taken_over - killed:.2f} s, skipping {redelivered} redelivered events"
            )
    finally:
        for worker in workers:
            worker.kill()
        server.stop()


async def backlog(
    client: httpx.AsyncClient, author: Person, followers: list[Person]
) -> tuple[list[str], list[str]]:
    """POSTS posts by `author` and COMMENTS comments on them, AT_ONCE requests at a time,
    so the two kinds of event come mixed; the post ids oldest first (ids are
    time-ordered), and the comment ids."""
    gate = asyncio.Semaphore(AT_ONCE)
    comment_ids: list[str] = []

    async def write(n: int) -> str:
        async with gate:
            post = await kills.created(client, "/posts", author, {"text": f"post {n}"})
            if n % EVERY == 0:
                who = followers[n // EVERY % FOLLOWERS]
                path = f"/posts/{post['id']}/comments"
                said = await kills.created(client, path, who, {"text": f"on {n}"})
                comment_ids.append(str(said["id"]))
            return str(post["id"])

    post_ids = sorted(await asyncio.gather(*(write(n) for n in range(POSTS))), key=int)
    assert len(comment_ids) == COMMENTS
    return post_ids, comment_ids


async def marks_twice(db: Database) -> list[tuple[str, int]]:
    """(consumer, event id) pairs marked handled more than once."""
    async with db.transaction() as session:
        rows = await session.execute(
            select(ProcessedEvent.consumer, ProcessedEvent.event_id)
            .group_by(ProcessedEvent.consumer, ProcessedEvent.event_id)
            .having(func.count() > 1)
        )
    return [(r.consumer, r.event_id) for r in rows]


async def notified_comments(db: Database, author: Person) -> list[str]:
    """The comment of each comment notification `author` got, one entry per notification."""
    async with db.transaction() as session:
        ids = await session.scalars(
            select(Notification.comment_id).where(
                Notification.user_id == int(author.id),
                Notification.type == NotificationType.post_comment,
            )
        )
    return [str(i) for i in ids]
