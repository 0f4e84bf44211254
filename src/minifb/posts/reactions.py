"""Reactions to posts and comments: one per person per target; a new type replaces the old.

`PUT .../reaction` answers 200 `{type}` whether the reaction is new, changed or
the same; `DELETE .../reaction` answers 204 whether or not there was one.
Counters move by exactly the real change, in the same transaction.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.cache import Cache
from minifb.kit.db import utcnow
from minifb.kit.ids import new_id
from minifb.kit.outbox import record_event
from minifb.kit.pagination import PageParams, page_of
from minifb.models.reaction import ReactionType, TargetKind
from minifb.posts import reactions_repository as reactions_repo
from minifb.posts import rendering
from minifb.posts.comments import visible_comment, visible_post
from minifb.posts.exceptions import CommentNotFound, PostNotFound
from minifb.posts.schemas import ReactionCountsRead, ReactionRead, ReactionsPage, ReactorRead
from minifb.users.service import UserRead


async def _lock_target(
    session: AsyncSession, viewer_id: int, kind: TargetKind, target_id: int
) -> tuple[int, int]:
    """Lock a target the viewer may see: (its post's id, its author's id); else 404."""
    if kind is TargetKind.post:
        author_id, _ = await visible_post(session, viewer_id, target_id, lock=True)
        return target_id, author_id
    meta, _ = await visible_comment(session, viewer_id, target_id, lock=True)
    return int(meta.post_id), int(meta.author_id)


def _gone(kind: TargetKind) -> Exception:
    return PostNotFound() if kind is TargetKind.post else CommentNotFound()


async def put_reaction(
    session: AsyncSession,
    cache: Cache,
    viewer_id: int,
    kind: TargetKind,
    target_id: int,
    type_: ReactionType,
) -> ReactionRead:
    """Set the viewer's reaction; emits `reaction.added` when it is new or changed type."""
    post_id, author_id = await _lock_target(session, viewer_id, kind, target_id)
    changed, previous = await reactions_repo.set_reaction(
        session, kind, target_id, viewer_id, type_, reaction_id=new_id(), now=utcnow()
    )
    if changed:
        if not await reactions_repo.shift_counts(
            session, kind, target_id, minus=previous, plus=type_
        ):
            raise _gone(kind)  # deleted meanwhile: the rollback drops the reaction too
        record_event(
            session,
            "reaction.added",
            actor_id=viewer_id,
            data={
                "target_kind": str(kind),
                "target_id": str(target_id),
                "post_id": str(post_id),
                "target_author_id": str(author_id),
                "user_id": str(viewer_id),
                "type": str(type_),
                "previous_type": None if previous is None else str(previous),
            },
        )
        if kind is TargetKind.post:
            rendering.invalidate(session, cache, post_id, body=False)
    return ReactionRead(type=type_)


async def delete_reaction(
    session: AsyncSession, cache: Cache, viewer_id: int, kind: TargetKind, target_id: int
) -> None:
    """Remove the viewer's reaction, if any, from a target they may see."""
    post_id, _ = await _lock_target(session, viewer_id, kind, target_id)
    previous = await reactions_repo.remove_reaction(session, kind, target_id, viewer_id)
    if previous is not None:
        await reactions_repo.shift_counts(session, kind, target_id, minus=previous)
        if kind is TargetKind.post:
            rendering.invalidate(session, cache, post_id, body=False)


async def list_reactions(
    session: AsyncSession,
    viewer_id: int,
    kind: TargetKind,
    target_id: int,
    params: PageParams,
    *,
    type_: ReactionType | None = None,
) -> ReactionsPage:
    """The counts per type and who reacted (optionally of one type), newest first."""
    if kind is TargetKind.post:
        await visible_post(session, viewer_id, target_id)
    else:
        await visible_comment(session, viewer_id, target_id)
    counts = await reactions_repo.counts(session, kind, target_id)
    rows = await reactions_repo.reactors(
        session, viewer_id, kind, target_id, type_=type_, before=params.after, limit=params.limit
    )
    items, cursor = page_of(rows, params, key=lambda row: int(row.reaction_id))
    return ReactionsPage(
        counts=ReactionCountsRead(**counts),
        items=[
            ReactorRead(
                user=UserRead(
                    id=r.id,
                    username=r.username,
                    display_name=r.display_name,
                    bio=r.bio,
                    avatar_url=r.avatar_url,
                    created_at=r.created_at,
                ),
                type=r.type,
                created_at=r.reacted_at,
            )
            for r in items
        ],
        next_cursor=cursor,
    )
