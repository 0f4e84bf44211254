"""Demo data: people, an uneven friend graph, posts, comments and reactions, written in bulk.

Everything is dated in the past and every id is the snowflake of its row's
own `created_at` millisecond, so ids sort by time exactly as live ones do.
SQLite gets Core `executemany` per batch; PostgreSQL gets COPY (asyncpg's
`copy_records_to_table`), several times faster for the big tables.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.auth.passwords import PasswordHasher
from minifb.kit.db import Base, Database
from minifb.kit.ids import EPOCH_MS, TIME_SHIFT
from minifb.models import Comment, Credential, Follow, Friendship, Post, Reaction, User

DEMO_PASSWORD = "minifb-demo-password"  # noqa: S105 - published demo credential
BATCH = 5_000  # rows per executemany / COPY and per progress step
POST_DAYS = 28  # posts spread over the last four weeks
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

VISIBILITIES = ("public", "friends", "only_me")
VISIBILITY_CUM_WEIGHTS = (80, 97, 100)
REACTION_TYPES = ("like", "love", "haha", "wow", "sad", "angry")
REACTION_CUM_WEIGHTS = (60, 80, 88, 93, 97, 100)
_REACTION_INDEXES = range(len(REACTION_TYPES))
WORDS = (  # noqa: SIM905 - one line of text reads better than fifty list items
    "today weekend coffee friends family trip beach mountain city sunset dinner lunch "
    "music concert movie book garden dog cat baby birthday party wedding work project "
    "finally great amazing tired happy love new old first last best little big really "
    "photo walk run bike game team win lost home back soon again thanks everyone"
).split()

# phase name, rows added by this step, best known total of the phase
ProgressFn = Callable[[str, int, int], None]


def _no_progress(phase: str, advance: int, total: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class SeedResult:
    users: int
    friendships: int
    follows: int = 0  # plain follows of celebrities, on top of the friendships' own
    posts: int = 0
    comments: int = 0
    reactions: int = 0


LOW_BITS = TIME_SHIFT  # worker + sequence bits under the millisecond
LOW_MASK = (1 << LOW_BITS) - 1


def past_id(moment_ms: int, low: int) -> int:
    """The snowflake for Unix millisecond `moment_ms` with `low` in the worker+sequence bits."""
    if not 0 <= low <= LOW_MASK:
        raise ValueError(f"low bits must be in 0..{LOW_MASK}")
    return ((moment_ms - EPOCH_MS) << TIME_SHIFT) | low


class PastIds:
    """Ids for past moments of one table, in any order, never the same twice.

    The low 22 bits carry a counter that starts after the rows the table
    already has, so ids from one run and from earlier runs differ even in the
    same millisecond (up to 4,194,304 seeded rows per table).
    """

    def __init__(self, start: int) -> None:
        self._next = start

    def at(self, moment_ms: int) -> int:
        low = self._next & LOW_MASK
        self._next += 1
        return past_id(moment_ms, low)


def ms_to_datetime(moment_ms: int) -> datetime:
    # The same arithmetic as kit.ids.id_time, so created_at == id_time(id).
    return datetime.fromtimestamp(moment_ms / 1000, UTC)


async def _count(db: Database, model: type[Base]) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def bulk_insert(
    session: AsyncSession, model: type[Base], rows: Sequence[dict[str, Any]]
) -> None:
    """Insert `rows` (dicts with the same keys) the fastest way the dialect offers."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        conn = await session.connection()
        # The adapter opens its transaction on the first statement; COPY must run inside it.
        await conn.execute(text("SELECT 1"))
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        columns = list(rows[0])
        await driver.copy_records_to_table(
            model.__tablename__,
            records=[tuple(row[c] for c in columns) for row in rows],
            columns=columns,
        )
    else:
        await session.execute(insert(model), list(rows))


def _text(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize()


def _after(rng: random.Random, start_ms: int, mean_ms: float, now_ms: int) -> int:
    """A moment after `start_ms` (exponential delay), never in the future."""
    moment = start_ms + 1 + int(rng.expovariate(1 / mean_ms))
    if moment >= now_ms:
        moment = start_ms + int((now_ms - start_ms) * rng.random())
    return moment


@dataclass
class _Graph:
    """Who is in this run, when they joined, and whom each is friends with (by index)."""

    ids: list[int]
    joined_ms: list[int]
    friends: list[list[int]]
    celebrities: list[int]


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
    progress: ProgressFn = _no_progress,
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
    """
    rng = rng or random.Random(42)  # noqa: S311 - demo data, not secrets
    now_ms = int((now or datetime.now(UTC)).timestamp() * 1000)
    graph, friendships, follows = await _seed_people(
        db,
        count,
        friends_per_person=friends_per_person,
        celebrities=count // 2000 if celebrities is None else celebrities,
        rng=rng,
        now_ms=now_ms,
        progress=progress,
    )
    posts, comments, reactions = await _seed_posts(
        db,
        graph,
        total=count * posts_per_user,
        comments_per_post=comments_per_post,
        reactions_per_post=reactions_per_post,
        rng=rng,
        now_ms=now_ms,
        progress=progress,
    )
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
    return SeedResult(count, friendships, follows, posts, comments, reactions)


async def _seed_people(
    db: Database,
    count: int,
    *,
    friends_per_person: int,
    celebrities: int,
    rng: random.Random,
    now_ms: int,
    progress: ProgressFn,
) -> tuple[_Graph, int, int]:
    async with db.transaction() as session:
        start = (
            await session.scalar(
                select(func.count())
                .select_from(User)
                .where(User.username.like("demo\\_%", escape="\\"))
            )
            or 0
        )
    user_ids = PastIds(await _count(db, User))
    friendship_ids = PastIds(await _count(db, Friendship))
    follow_ids = PastIds(await _count(db, Follow))
    password_hash = PasswordHasher().hash(DEMO_PASSWORD)
    window_start = now_ms - POST_DAYS * DAY_MS
    now = ms_to_datetime(now_ms)
    # People join one a minute, all before the first post.
    joined = [window_start - (count - i) * MINUTE_MS for i in range(count)]
    ids = [user_ids.at(ms) for ms in joined]
    for offset in range(0, count, BATCH):
        users, creds = [], []
        for i in range(offset, min(offset + BATCH, count)):
            n = start + i
            created = ms_to_datetime(joined[i])
            users.append(
                {
                    "id": ids[i],
                    "username": f"demo_{n}",
                    "email": f"demo_{n}@example.com",
                    "display_name": f"Demo Person {n}",
                    "bio": "",
                    "avatar_url": None,
                    "friend_request_policy": "everyone",
                    "created_at": created,
                    "updated_at": now,
                }
            )
            creds.append(
                {"user_id": ids[i], "password_hash": password_hash, "password_changed_at": created}
            )
        async with db.transaction() as session:
            await bulk_insert(session, User, users)
            await bulk_insert(session, Credential, creds)
        progress("people", len(users), count)

    friends: list[list[int]] = [[] for _ in range(count)]
    celebs = list(range(min(celebrities, count)))
    # One entry per friendship end: picking uniformly from it is picking by degree.
    ends: list[int] = []
    pairs = 0
    expected = count * friends_per_person
    friendship_rows: list[dict[str, Any]] = []
    follow_rows: list[dict[str, Any]] = []

    async def flush(final: bool = False) -> None:
        nonlocal friendship_rows, follow_rows
        if len(follow_rows) < BATCH and not final:
            return
        async with db.transaction() as session:
            await bulk_insert(session, Friendship, friendship_rows)
            await bulk_insert(session, Follow, follow_rows)
        progress("friendships", len(friendship_rows) // 2, max(expected, pairs))
        friendship_rows, follow_rows = [], []

    first = len(celebs)  # celebrities stay out of the friend graph: they are followed instead
    for i in range(first, count):
        earlier = i - first
        picks = min(earlier, rng.randint(1, 2 * friends_per_person))
        chosen: set[int] = set()
        for _ in range(picks * 4):  # bounded: a small graph may not have `picks` distinct people
            if len(chosen) >= picks:
                break
            chosen.add(
                rng.choice(ends) if ends and rng.random() < 0.8 else first + rng.randrange(earlier)
            )
        for other in chosen:
            pairs += 1
            moment = joined[i] + rng.randrange(MINUTE_MS)
            fid = friendship_ids.at(moment)
            created = ms_to_datetime(moment)
            for a, b in ((i, other), (other, i)):
                friendship_rows.append(
                    {"user_id": ids[a], "friend_id": ids[b], "id": fid, "created_at": created}
                )
                follow_rows.append(
                    {
                        "follower_id": ids[a],
                        "followee_id": ids[b],
                        "id": follow_ids.at(moment),
                        "created_at": created,
                    }
                )
            friends[i].append(other)
            friends[other].append(i)
            ends.extend((i, other))
        await flush()
    await flush(final=True)
    progress("friendships", 0, pairs)

    plain_follows = 0
    for celeb in celebs:
        share = rng.uniform(0.2, 0.6)
        rows = []
        for i in range(len(celebs), count):
            if rng.random() >= share:
                continue
            moment = rng.randrange(joined[i], window_start)
            rows.append(
                {
                    "follower_id": ids[i],
                    "followee_id": ids[celeb],
                    "id": follow_ids.at(moment),
                    "created_at": ms_to_datetime(moment),
                }
            )
        for offset in range(0, len(rows), BATCH):
            async with db.transaction() as session:
                await bulk_insert(session, Follow, rows[offset : offset + BATCH])
        plain_follows += len(rows)
    if celebs:
        progress("celebrity follows", plain_follows, plain_follows)
    return _Graph(ids, joined, friends, celebs), pairs, plain_follows


def _someone_near(rng: random.Random, graph: _Graph, author: int) -> int:
    """Mostly a friend of `author`, sometimes anyone."""
    circle = graph.friends[author]
    if circle and rng.random() < 0.7:
        return rng.choice(circle)
    return rng.randrange(len(graph.ids))


def _reactions(
    rng: random.Random,
    graph: _Graph,
    *,
    kind: str,
    target_id: int,
    target_ms: int,
    author: int,
    mean: float,
    ids: PastIds,
    now_ms: int,
    rows: list[dict[str, Any]],
) -> list[int]:
    """Append reactions to one post or comment; return the count of each type."""
    counts = [0] * len(REACTION_TYPES)
    wanted = min(int(rng.expovariate(1 / mean)), len(graph.ids) - 1) if mean > 0 else 0
    who: set[int] = set()
    for _ in range(wanted * 3):  # bounded: a small circle may repeat
        if len(who) >= wanted:
            break
        person = _someone_near(rng, graph, author)
        if person != author:
            who.add(person)
    for person in who:
        kind_index = rng.choices(_REACTION_INDEXES, cum_weights=REACTION_CUM_WEIGHTS)[0]
        counts[kind_index] += 1
        moment = _after(rng, target_ms, 6 * HOUR_MS, now_ms)
        rows.append(
            {
                "id": ids.at(moment),
                "target_kind": kind,
                "target_id": target_id,
                "user_id": graph.ids[person],
                "type": REACTION_TYPES[kind_index],
                "created_at": ms_to_datetime(moment),
            }
        )
    return counts


def _count_columns(counts: list[int]) -> dict[str, int]:
    return {f"{name}_count": n for name, n in zip(REACTION_TYPES, counts, strict=True)}


async def _seed_posts(
    db: Database,
    graph: _Graph,
    *,
    total: int,
    comments_per_post: float,
    reactions_per_post: float,
    rng: random.Random,
    now_ms: int,
    progress: ProgressFn,
) -> tuple[int, int, int]:
    people = len(graph.ids)
    if total <= 0 or people == 0:
        return 0, 0, 0
    post_ids = PastIds(await _count(db, Post))
    comment_ids = PastIds(await _count(db, Comment))
    reaction_ids = PastIds(await _count(db, Reaction))
    window_start = now_ms - POST_DAYS * DAY_MS
    # A few people post far more than most (log-normal activity); celebrities a lot.
    celebs = set(graph.celebrities)
    weights = [rng.lognormvariate(0, 1) * (5 if i in celebs else 1) for i in range(people)]
    cum: list[float] = []
    running = 0.0
    for w in weights:
        running += w
        cum.append(running)
    expected_comments = int(total * comments_per_post)
    expected_reactions = int(total * reactions_per_post * (1 + comments_per_post / 6))
    done_posts = done_comments = done_reactions = 0
    for offset in range(0, total, BATCH):
        n = min(BATCH, total - offset)
        authors = rng.choices(range(people), cum_weights=cum, k=n)
        posts: list[dict[str, Any]] = []
        tops: list[dict[str, Any]] = []
        replies: list[dict[str, Any]] = []
        reactions: list[dict[str, Any]] = []
        for author in authors:
            boost = 10 if author in celebs else 1
            post_ms = rng.randrange(window_start, now_ms)
            post_id = post_ids.at(post_ms)
            visibility = rng.choices(VISIBILITIES, cum_weights=VISIBILITY_CUM_WEIGHTS)[0]
            # Comments in time order: each may answer an earlier top-level comment.
            wanted = (
                int(rng.expovariate(1 / (comments_per_post * boost))) if comments_per_post else 0
            )
            moments = sorted(_after(rng, post_ms, 3 * HOUR_MS, now_ms) for _ in range(wanted))
            thread: list[dict[str, Any]] = []
            for moment in moments:
                commenter = _someone_near(rng, graph, author)
                comment_id = comment_ids.at(moment)
                parent = rng.choice(thread) if thread and rng.random() < 0.3 else None
                counts = _reactions(
                    rng,
                    graph,
                    kind="comment",
                    target_id=comment_id,
                    target_ms=moment,
                    author=commenter,
                    mean=reactions_per_post / 6,
                    ids=reaction_ids,
                    now_ms=now_ms,
                    rows=reactions,
                )
                row = {
                    "id": comment_id,
                    "post_id": post_id,
                    "parent_id": parent["id"] if parent else None,
                    "author_id": graph.ids[commenter],
                    "text": _text(rng, 2, 15),
                    "created_at": ms_to_datetime(moment),
                    "edited_at": None,
                    "reply_count": 0,
                    **_count_columns(counts),
                }
                if parent is None:
                    thread.append(row)
                    tops.append(row)
                else:
                    parent["reply_count"] += 1
                    replies.append(row)
            counts = _reactions(
                rng,
                graph,
                kind="post",
                target_id=post_id,
                target_ms=post_ms,
                author=author,
                mean=reactions_per_post * boost,
                ids=reaction_ids,
                now_ms=now_ms,
                rows=reactions,
            )
            posts.append(
                {
                    "id": post_id,
                    "author_id": graph.ids[author],
                    "text": _text(rng, 4, 40),
                    "visibility": visibility,
                    "created_at": ms_to_datetime(post_ms),
                    "edited_at": None,
                    # Every comment of the post, replies included.
                    "comment_count": len(moments),
                    **_count_columns(counts),
                }
            )
        async with db.transaction() as session:
            await bulk_insert(session, Post, posts)
            # Parents before their replies: the foreign key is checked row by row.
            await bulk_insert(session, Comment, tops)
            await bulk_insert(session, Comment, replies)
            for start in range(0, len(reactions), BATCH):
                await bulk_insert(session, Reaction, reactions[start : start + BATCH])
        done_posts += len(posts)
        done_comments += len(tops) + len(replies)
        done_reactions += len(reactions)
        progress("posts", len(posts), total)
        progress("comments", len(tops) + len(replies), max(expected_comments, done_comments))
        progress("reactions", len(reactions), max(expected_reactions, done_reactions))
    progress("comments", 0, done_comments)
    progress("reactions", 0, done_reactions)
    return done_posts, done_comments, done_reactions
