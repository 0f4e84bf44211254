"""Follows: following and unfollowing people, follower and following lists."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.outbox import record_event
from minifb.kit.pagination import PageParams
from minifb.kit.schemas import Page
from minifb.users import follows_repository as follows_repo
from minifb.users import profiles
from minifb.users import repository as repo
from minifb.users.schemas import PersonRead


async def follow(session: AsyncSession, viewer_id: int, user_id: int) -> None:
    """Follow someone (idempotent); emits `follow.created` only when the follow is new."""
    profiles.refuse_self(viewer_id, user_id, "You cannot follow yourself.", loc=["path", "user_id"])
    # The block check and the insert must not let a block in between them.
    await repo.lock_ties(session, viewer_id, user_id)
    await profiles.get_visible_user(session, viewer_id, user_id)
    if await follows_repo.insert_follows(session, [(viewer_id, user_id)]):
        record_event(
            session,
            "follow.created",
            actor_id=viewer_id,
            data={"follower_id": str(viewer_id), "followee_id": str(user_id)},
        )


async def unfollow(session: AsyncSession, viewer_id: int, user_id: int) -> None:
    """Stop following someone (idempotent); a friendship stays a friendship.

    Emits `follow.deleted` when a follow ended, so feeds drop that person's posts.
    """
    profiles.refuse_self(
        viewer_id, user_id, "You cannot unfollow yourself.", loc=["path", "user_id"]
    )
    await profiles.get_visible_user(session, viewer_id, user_id)
    if await follows_repo.delete_follow(session, viewer_id, user_id):
        record_event(
            session,
            "follow.deleted",
            actor_id=viewer_id,
            data={"follower_id": str(viewer_id), "followee_id": str(user_id)},
        )


async def list_followers(
    session: AsyncSession, viewer_id: int, user_id: int, params: PageParams
) -> Page[PersonRead]:
    """Who follows a person, newest first, without anyone hidden from the viewer."""
    await profiles.get_visible_user(session, viewer_id, user_id)
    rows = await follows_repo.followers_of(
        session, viewer_id, user_id, after=params.after, limit=params.limit
    )
    return await profiles.people_page(session, viewer_id, rows, params)


async def list_following(
    session: AsyncSession, viewer_id: int, user_id: int, params: PageParams
) -> Page[PersonRead]:
    """Whom a person follows, newest first, without anyone hidden from the viewer."""
    await profiles.get_visible_user(session, viewer_id, user_id)
    rows = await follows_repo.followed_by(
        session, viewer_id, user_id, after=params.after, limit=params.limit
    )
    return await profiles.people_page(session, viewer_id, rows, params)
