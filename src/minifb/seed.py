"""Demo data: people and an uneven friend graph, written in bulk."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, insert, select

from minifb.auth.passwords import PasswordHasher
from minifb.kit.db import Database, utcnow
from minifb.kit.ids import new_id
from minifb.models import Credential, Follow, Friendship, User

DEMO_PASSWORD = "minifb-demo-password"  # noqa: S105 - published demo credential
BATCH = 500


@dataclass(frozen=True, slots=True)
class SeedResult:
    users: int
    friendships: int


async def seed_people(
    db: Database,
    count: int,
    *,
    friends_per_person: int = 8,
    rng: random.Random | None = None,
    progress: Callable[[int], None] = lambda _: None,
) -> SeedResult:
    """Add `count` demo people (`demo_N`, password DEMO_PASSWORD) and their friendships.

    Each newcomer befriends earlier people picked in proportion to how many
    friends they already have (preferential attachment), so a few people end
    up with very many friends and most with a handful, as in a real network.
    """
    rng = rng or random.Random(42)  # noqa: S311 - demo data, not secrets
    password_hash = PasswordHasher().hash(DEMO_PASSWORD)
    async with db.transaction() as session:
        start = (
            await session.scalar(
                select(func.count())
                .select_from(User)
                .where(User.username.like("demo\\_%", escape="\\"))
            )
            or 0
        )
    now = utcnow()
    ids: list[int] = []
    # One entry per friendship end: picking uniformly from it is picking by degree.
    ends: list[int] = []
    pairs: set[tuple[int, int]] = set()
    for offset in range(0, count, BATCH):
        users, creds, friendships, follows = [], [], [], []
        for i in range(start + offset, start + min(offset + BATCH, count)):
            uid = new_id()
            users.append(
                {
                    "id": uid,
                    "username": f"demo_{i}",
                    "email": f"demo_{i}@example.com",
                    "display_name": f"Demo Person {i}",
                    "bio": "",
                    "friend_request_policy": "everyone",
                    "created_at": now - timedelta(minutes=count - i),
                    "updated_at": now,
                }
            )
            creds.append(
                {"user_id": uid, "password_hash": password_hash, "password_changed_at": now}
            )
            picks = min(len(ids), rng.randint(1, 2 * friends_per_person))
            chosen: set[int] = set()
            while len(chosen) < picks:
                pool = ends if ends and rng.random() < 0.8 else ids
                chosen.add(rng.choice(pool))
            for other in chosen:
                pair = (min(uid, other), max(uid, other))
                if pair in pairs:
                    continue
                pairs.add(pair)
                fid = new_id()
                for a, b in ((uid, other), (other, uid)):
                    friendships.append({"user_id": a, "friend_id": b, "id": fid, "created_at": now})
                    follows.append(
                        {"follower_id": a, "followee_id": b, "id": new_id(), "created_at": now}
                    )
                ends.extend((uid, other))
            ids.append(uid)
        async with db.transaction() as session:
            await session.execute(insert(User), users)
            await session.execute(insert(Credential), creds)
            if friendships:
                await session.execute(insert(Friendship), friendships)
                await session.execute(insert(Follow), follows)
        progress(len(users))
    return SeedResult(users=count, friendships=len(pairs))
