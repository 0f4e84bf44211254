"""Blocks: two people disappear from each other and every tie between them ends."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.ids import new_id
from minifb.kit.outbox import record_event
from minifb.kit.pagination import PageParams, page_of
from minifb.kit.schemas import Page
from minifb.users import follows_repository as follows_repo
from minifb.users import friends_repository as friends_repo
from minifb.users import profiles
from minifb.users import repository as repo
from minifb.users.schemas import UserRead


async def block(session: AsyncSession, viewer_id: int, user_id: int) -> None:
    """Block someone (idempotent); emits `block.created` when the block is new.

    Ends the friendship, the follows both ways and pending requests both ways.
    Someone who already blocked the viewer is not found, as on every endpoint.
    """
    profiles.refuse_self(viewer_id, user_id, "You cannot block yourself.", loc=["path", "user_id"])
    # Locked first, so a request, an acceptance or a follow that raced the
    # block either finished before it (and is undone here) or sees it.
    await repo.lock_ties(session, viewer_id, user_id)
    if await repo.is_blocking(session, viewer_id, user_id):
        return
    await profiles.get_visible_user(session, viewer_id, user_id)
    await friends_repo.delete_friendship(session, viewer_id, user_id)
    await follows_repo.delete_follows_between(session, viewer_id, user_id)
    await friends_repo.delete_requests_between(session, viewer_id, user_id)
    if await repo.insert_block(
        session, block_id=new_id(), blocker_id=viewer_id, blocked_id=user_id
    ):
        record_event(
            session,
            "block.created",
            actor_id=viewer_id,
            data={"blocker_id": str(viewer_id), "blocked_id": str(user_id)},
        )


async def unblock(session: AsyncSession, viewer_id: int, user_id: int) -> None:
    """Lift one's own block (idempotent). Nothing that the block ended comes back."""
    profiles.refuse_self(
        viewer_id, user_id, "You cannot unblock yourself.", loc=["path", "user_id"]
    )
    if await repo.delete_block(session, viewer_id, user_id):
        return
    # No block of ours: still 404 for a missing person or one who blocked us.
    await profiles.get_visible_user(session, viewer_id, user_id)


async def list_blocks(session: AsyncSession, viewer_id: int, params: PageParams) -> Page[UserRead]:
    """The people the viewer blocked, most recent first."""
    rows = await repo.blocked_by(session, viewer_id, after=params.after, limit=params.limit)
    items, cursor = page_of(rows, params, key=lambda row: row[1])
    return Page(items=[profiles.read(user) for user, _ in items], next_cursor=cursor)
