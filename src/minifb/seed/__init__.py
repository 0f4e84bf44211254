"""Demo data: people, an uneven friend graph, posts, comments and reactions, written in bulk.

Everything is dated in the past and every id is the snowflake of its row's
own `created_at` millisecond, so ids sort by time exactly as live ones do.
The work is split by concern: `bulk` (ids for past moments, bulk insert),
`graph` (people, friendships, celebrity follows), `content` (posts, comment
threads, reactions); this module runs them in order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from minifb.kit.db import Database
from minifb.seed.bulk import PastIds, ProgressFn, bulk_insert, no_progress, past_id
from minifb.seed.content import seed_posts
from minifb.seed.graph import DEMO_PASSWORD, seed_people

__all__ = [
    "DEMO_PASSWORD",
    "PastIds",
    "ProgressFn",
    "SeedResult",
    "bulk_insert",
    "past_id",
    "seed",
]


@dataclass(frozen=True, slots=True)
class SeedResult:
    users: int
    friendships: int
    follows: int = 0  # plain follows of celebrities, on top of the friendships' own
    posts: int = 0
    comments: int = 0
    reactions: int = 0


async def seed(
    db: Database,
    count: int,
    *,
    friends_per_person: int = 8,
    posts_per_user: int = 5,
    comments_per_post: float = 1.0,
    reactions_per_post: float = 3.0,
    celebrities: int | None = None,
    rng: random.Random | None = None,
    progress: ProgressFn = no_progress,
    now: datetime | None = None,
) -> SeedResult:
    """Add `count` demo people (`demo_N`, password DEMO_PASSWORD) and their activity.

    Each newcomer befriends earlier people picked in proportion to how many
    friends they already have (preferential attachment), so a few people end
    up with very many friends and most with tens. A handful of celebrities
    (`count // 2000` unless given) are followed, not befriended, by a large
    share of everyone. Posts (`posts_per_user` on average, a few people
    posting far more than most) spread over the last four weeks; comments,
    replies and reactions follow them, and every counter column matches them.
    The same `rng` seed, `now` and starting database give the same rows.
    """
    rng = rng or random.Random(42)  # noqa: S311 - demo data, not secrets
    now_ms = int((now or datetime.now(UTC)).timestamp() * 1000)
    graph, friendships, follows = await seed_people(
        db,
        count,
        friends_per_person=friends_per_person,
        celebrities=count // 2000 if celebrities is None else celebrities,
        rng=rng,
        now_ms=now_ms,
        progress=progress,
    )
    posts, comments, reactions = await seed_posts(
        db,
        graph,
        total=count * posts_per_user,
        comments_per_post=comments_per_post,
        reactions_per_post=reactions_per_post,
        rng=rng,
        now_ms=now_ms,
        progress=progress,
    )
    await _analyze(db)
    return SeedResult(count, friendships, follows, posts, comments, reactions)


async def _analyze(db: Database) -> None:
    # Fresh statistics: planning on an unanalysed bulk load, PostgreSQL picked
    # an index scan of every post reaction (15 ms) for a 0.07 ms lookup. On
    # PostgreSQL, VACUUM too: otherwise autovacuum takes up the bulk load later,
    # in the middle of whatever runs next, and index-only scans wait for it.
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql("VACUUM (ANALYZE)")
    else:
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")
            await conn.commit()
