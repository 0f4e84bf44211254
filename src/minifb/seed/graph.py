"""The seed's people and their uneven friend graph, with a few celebrities followed by many."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from minifb.auth.passwords import PasswordHasher
from minifb.kit.db import Database
from minifb.models import Credential, Follow, Friendship, User
from minifb.seed.bulk import (
    BATCH,
    DAY_MS,
    MINUTE_MS,
    POST_DAYS,
    PastIds,
    ProgressFn,
    bulk_insert,
    count_rows,
    ms_to_datetime,
)

DEMO_PASSWORD = "minifb-demo-password"  # noqa: S105 - published demo credential


@dataclass
class Graph:
    """Who is in this run, when they joined, and whom each is friends with (by index)."""

    ids: list[int]
    joined_ms: list[int]
    friends: list[list[int]]
    celebrities: list[int]


async def seed_people(
    db: Database,
    count: int,
    *,
    friends_per_person: int,
    celebrities: int,
    rng: random.Random,
    now_ms: int,
    progress: ProgressFn,
) -> tuple[Graph, int, int]:
    """Add `count` people, befriend them, have celebrities followed.

    Returns the graph, the number of friendships and of plain follows.
    """
    friendship_ids = PastIds(await count_rows(db, Friendship))
    # One counter for every follow of this run: a friendship's two, a celebrity's.
    follow_ids = PastIds(await count_rows(db, Follow))
    window_start = now_ms - POST_DAYS * DAY_MS
    # People join one a minute, all before the first post.
    joined = [window_start - (count - i) * MINUTE_MS for i in range(count)]
    ids = await _add_people(db, joined, now_ms=now_ms, progress=progress)
    celebs = list(range(min(celebrities, count)))
    friends, pairs = await _befriend(
        db,
        ids,
        joined,
        first=len(celebs),
        friendship_ids=friendship_ids,
        follow_ids=follow_ids,
        friends_per_person=friends_per_person,
        rng=rng,
        progress=progress,
    )
    plain_follows = await _follow_celebrities(
        db, ids, joined, celebs, follow_ids=follow_ids, window_start=window_start, rng=rng
    )
    if celebs:
        progress("celebrity follows", plain_follows, plain_follows)
    return Graph(ids, joined, friends, celebs), pairs, plain_follows


async def _add_people(
    db: Database, joined: list[int], *, now_ms: int, progress: ProgressFn
) -> list[int]:
    """Insert `demo_N` people (numbered after the demo people already there); their ids."""
    count = len(joined)
    async with db.transaction() as session:
        start = (
            await session.scalar(
                select(func.count())
                .select_from(User)
                .where(User.username.like("demo\\_%", escape="\\"))
            )
            or 0
        )
    user_ids = PastIds(await count_rows(db, User))
    password_hash = PasswordHasher().hash(DEMO_PASSWORD)
    now = ms_to_datetime(now_ms)
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
    return ids


async def _befriend(
    db: Database,
    ids: list[int],
    joined: list[int],
    *,
    first: int,
    friendship_ids: PastIds,
    follow_ids: PastIds,
    friends_per_person: int,
    rng: random.Random,
    progress: ProgressFn,
) -> tuple[list[list[int]], int]:
    """Friendships (and the follows each implies both ways) by preferential attachment.

    Each newcomer befriends earlier people picked in proportion to how many
    friends they already have. People before `first` (the celebrities) stay
    out of the friend graph: they are followed instead. Returns each person's
    friends (by index) and the number of friendships.
    """
    count = len(ids)
    friends: list[list[int]] = [[] for _ in range(count)]
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
    return friends, pairs


async def _follow_celebrities(
    db: Database,
    ids: list[int],
    joined: list[int],
    celebs: list[int],
    *,
    follow_ids: PastIds,
    window_start: int,
    rng: random.Random,
) -> int:
    """Each celebrity followed (not befriended) by a large share of everyone; the count."""
    plain_follows = 0
    for celeb in celebs:
        share = rng.uniform(0.2, 0.6)
        rows = []
        for i in range(len(celebs), len(ids)):
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
    return plain_follows
