"""Queries about follows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import affected, insert_ignore, utcnow
from minifb.kit.ids import new_id
from minifb.models import Follow, User
from minifb.users import graph
from minifb.users.repository import UserRow, older_than


async def insert_follows(session: AsyncSession, pairs: Sequence[tuple[int, int]]) -> int:
    """Store `(follower, followee)` pairs, skipping existing ones; returns how many are new.

    Rows go in key order, so concurrent writers lock them in one order.
    """
    now = utcnow()
    rows = [
        {"id": new_id(), "follower_id": follower, "followee_id": followee, "created_at": now}
        for follower, followee in sorted(pairs)
    ]
    return affected(await session.execute(insert_ignore(session, Follow).values(rows)))


async def delete_follow(session: AsyncSession, follower_id: int, followee_id: int) -> bool:
    query = delete(Follow).where(
        Follow.follower_id == follower_id, Follow.followee_id == followee_id
    )
    return affected(await session.execute(query)) > 0


async def delete_follows_between(session: AsyncSession, a: int, b: int) -> int:
    query = delete(Follow).where(
        or_(
            (Follow.follower_id == a) & (Follow.followee_id == b),
            (Follow.follower_id == b) & (Follow.followee_id == a),
        )
    )
    return affected(await session.execute(query))


async def followers_of(
    session: AsyncSession, viewer_id: int, user_id: int, *, after: int | None, limit: int
) -> Sequence[UserRow]:
    """Who follows a person (as far as the viewer may see), newest follow first."""
    query = (
        select(User, Follow.id)
        .join(Follow, Follow.follower_id == User.id)
        .where(
            Follow.followee_id == user_id,
            graph.not_hidden_from(viewer_id, User.id),
            *older_than(Follow.id, after),
        )
        .order_by(Follow.id.desc())
        .limit(limit + 1)
    )
    return (await session.execute(query)).all()


async def followed_by(
    session: AsyncSession, viewer_id: int, user_id: int, *, after: int | None, limit: int
) -> Sequence[UserRow]:
    """Whom a person follows (as far as the viewer may see), newest follow first."""
    query = (
        select(User, Follow.id)
        .join(Follow, Follow.followee_id == User.id)
        .where(
            Follow.follower_id == user_id,
            graph.not_hidden_from(viewer_id, User.id),
            *older_than(Follow.id, after),
        )
        .order_by(Follow.id.desc())
        .limit(limit + 1)
    )
    return (await session.execute(query)).all()
