"""Queries of the news feed: who receives a post, and the ids a feed is made of.

Only ids leave here (no ORM objects): the feed stores ids and hydrates them
through `views`. Every query is bounded by a `limit`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.models import Block, Follow, Friendship, Post
from minifb.models.post import Visibility


def _hidden_from(person_id: int) -> Any:
    """The ids of the people `person_id` blocked or was blocked by."""
    return (
        select(Block.blocked_id)
        .where(Block.blocker_id == person_id)
        .union(select(Block.blocker_id).where(Block.blocked_id == person_id))
    )


def _friends_of(person_id: int) -> Any:
    return select(Friendship.friend_id).where(Friendship.user_id == person_id)


def _visible_to(viewer_id: int) -> ColumnElement[bool]:
    """Posts `viewer_id` may see (the rule of `visibility.may_see`, as SQL)."""
    return or_(
        Post.author_id == viewer_id,
        and_(
            Post.author_id.not_in(_hidden_from(viewer_id)),
            or_(
                Post.visibility == Visibility.public,
                and_(
                    Post.visibility == Visibility.friends,
                    Post.author_id.in_(_friends_of(viewer_id)),
                ),
            ),
        ),
    )


async def audience(
    session: AsyncSession, author_id: int, *, cap: int
) -> list[tuple[int, bool, bool]]:
    """Up to `cap` followers of `author_id` as (id, is a friend, blocked either way): in one
    query, what fan-out needs both to spot a big author and to pick who may see a post."""
    is_friend = (
        select(Friendship.friend_id)
        .where(Friendship.user_id == author_id, Friendship.friend_id == Follow.follower_id)
        .exists()
    )
    hidden = (
        select(Block.blocker_id)
        .where(
            or_(
                and_(Block.blocker_id == author_id, Block.blocked_id == Follow.follower_id),
                and_(Block.blocked_id == author_id, Block.blocker_id == Follow.follower_id),
            )
        )
        .exists()
    )
    query = (
        select(Follow.follower_id, is_friend, hidden)
        .where(Follow.followee_id == author_id)
        .limit(cap)
    )
    return [
        (int(f), bool(friend), bool(blocked)) for f, friend, blocked in await session.execute(query)
    ]


async def followers(session: AsyncSession, author_id: int) -> list[int]:
    """Everyone following `author_id` and not blocked either way."""
    query = select(Follow.follower_id).where(
        Follow.followee_id == author_id, Follow.follower_id.not_in(_hidden_from(author_id))
    )
    return list(await session.scalars(query))


async def feed_ids(
    session: AsyncSession, viewer_id: int, *, limit: int, before: int | None = None
) -> list[int]:
    """A feed from scratch: the newest posts of the viewer and of whom they follow, visible to
    them, newest first (older than `before` when given).

    The people come first, as plain lists: given them, the database reads each
    author's newest posts by the (author_id, id) index. One statement with the
    follows as a subquery let PostgreSQL walk every post newest first instead
    (a second per rebuild on 500,000 posts).
    """
    followed = set(
        await session.scalars(select(Follow.followee_id).where(Follow.follower_id == viewer_id))
    )
    authors = (followed - set(await session.scalars(_hidden_from(viewer_id)))) | {viewer_id}
    friends = set(await session.scalars(_friends_of(viewer_id))) & authors
    visible = or_(
        Post.author_id == viewer_id,
        Post.visibility == Visibility.public,
        and_(Post.visibility == Visibility.friends, Post.author_id.in_(friends)),
    )
    query = select(Post.id).where(Post.author_id.in_(authors), visible)
    if before is not None:
        query = query.where(Post.id < before)
    return list(await session.scalars(query.order_by(Post.id.desc()).limit(limit)))


async def posts_of(
    session: AsyncSession,
    author_ids: Collection[int],
    *,
    viewer_id: int | None,
    before: int | None = None,
    limit: int,
) -> list[int]:
    """The newest post ids of some authors, newest first, older than `before` when given.

    With `viewer_id`, only those the viewer may see; without, all of them
    (for taking an author's posts out of a feed).
    """
    if not author_ids:
        return []
    query = select(Post.id).where(Post.author_id.in_(list(author_ids)))
    if viewer_id is not None:
        query = query.where(_visible_to(viewer_id))
    if before is not None:
        query = query.where(Post.id < before)
    return list(await session.scalars(query.order_by(Post.id.desc()).limit(limit)))


async def followed_among(
    session: AsyncSession, viewer_id: int, author_ids: Sequence[int], *, limit: int
) -> list[int]:
    """Which of `author_ids` the viewer follows (and is not blocked with), at most `limit`."""
    if not author_ids or limit <= 0:
        return []
    query = (
        select(Follow.followee_id)
        .where(
            Follow.follower_id == viewer_id,
            Follow.followee_id.in_(list(author_ids)),
            Follow.followee_id.not_in(_hidden_from(viewer_id)),
        )
        .order_by(Follow.followee_id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def follows(session: AsyncSession, follower_id: int, followee_id: int) -> bool:
    query = select(Follow.follower_id).where(
        Follow.follower_id == follower_id, Follow.followee_id == followee_id
    )
    return await session.scalar(query) is not None
