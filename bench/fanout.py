"""The feed's fan-out alone: how fast one `minifb worker feed` handles new posts.

Over the broker tier's data (bench/run.py; seeded if missing), this starts a
`minifb worker feed` process, takes the newest N `post.created` events of the
outbox, forgets that the feed consumer handled them (its marks only), and
publishes them to RabbitMQ as fast as the broker confirms; the figure is how
long from the first publish until the consumer has marked every one handled,
as posts and as feed insertions a second. No server runs and nothing else
loads the machine, so this is the consumer's own ceiling; `make bench`'s
fan-out figure is the same work beside a burst of requests.

    python bench/fanout.py --events 5000 --rounds 3

Only 127.0.0.1 is used; the data is kept for bench/run.py (`minifb_bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg
import orjson
from run import (
    AMQP_PREFIX,
    AMQP_URL,
    DATA,
    PG_DATABASE,
    PG_SERVER,
    WORKERS,
    delete_broker_names,
    prepare_tier,
    started,
    tier_env,
)

from minifb.adapters.events import Event
from minifb.adapters.events.rabbitmq import RabbitMQEventBus

TIER = "broker"
WORKER = "worker-feed"
PUBLISH_BATCH = 500


async def replay(count: int) -> tuple[int, int, float]:
    """Publish the newest `count` post.created events again; returns the posts, the feed
    insertions they ask for, and the seconds until all were handled."""
    conn = await asyncpg.connect(f"{PG_SERVER.rpartition('/')[0]}/{PG_DATABASE}")
    bus = RabbitMQEventBus(AMQP_URL, prefix=AMQP_PREFIX)
    try:
        rows = await conn.fetch(
            "SELECT id, type, occurred_at, actor_id, data FROM outbox "
            "WHERE type = 'post.created' ORDER BY id DESC LIMIT $1",
            count,
        )
        ids = [row["id"] for row in rows]
        await conn.execute(
            "DELETE FROM processed_events WHERE consumer = 'feed' AND event_id = ANY($1)", ids
        )
        insertions = len(ids) + await conn.fetchval(
            "SELECT count(*) FROM outbox o JOIN follows f "
            "ON f.followee_id = (o.data->>'author_id')::bigint WHERE o.id = ANY($1)",
            ids,
        )
        events = [
            Event(r["id"], r["type"], r["occurred_at"], r["actor_id"], orjson.loads(r["data"]))
            for r in reversed(rows)
        ]
        began = time.monotonic()
        for start in range(0, len(events), PUBLISH_BATCH):
            await bus.publish_many(events[start : start + PUBLISH_BATCH])
        handled = 0
        while handled < len(ids):  # polled: the worker is another process
            await asyncio.sleep(0.02)
            handled = await conn.fetchval(
                "SELECT count(*) FROM processed_events "
                "WHERE consumer = 'feed' AND event_id = ANY($1)",
                ids,
            )
        return len(ids), insertions, time.monotonic() - began
    finally:
        await bus.close()
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--posts-per-user", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--fresh", action="store_true", help="drop the data and seed again")
    args = parser.parse_args()
    env = tier_env(TIER)
    prepare_tier(TIER, env, args)
    rates: list[tuple[float, float]] = []
    try:
        with started([WORKER], env, DATA / "fanout" / "logs", {WORKER: 0}):
            for n in range(args.rounds):
                posts, insertions, seconds = asyncio.run(replay(args.events))
                rates.append((posts / seconds, insertions / seconds))
                print(
                    f"round {n + 1}: {posts} posts ({insertions} feed insertions) handled "
                    f"in {seconds:.2f} s: {posts / seconds:,.0f} posts/s, "
                    f"{insertions / seconds:,.0f} insertions/s",
                    flush=True,
                )
    finally:
        print(f"deleted the broker's {asyncio.run(delete_broker_names())} queues")
    print(
        f"median of {args.rounds}: {statistics.median(r[0] for r in rates):,.0f} posts/s, "
        f"{statistics.median(r[1] for r in rates):,.0f} insertions/s ({WORKERS[WORKER]} alone)"
    )


if __name__ == "__main__":
    main()
