"""Queries about comments (see `repository.py` for the locking order)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.models import Comment, Post, Reaction, User
from minifb.models.reaction import TargetKind
from minifb.posts.repository import REACTION_TYPES, affected, hidden_from


async def comment_meta(session: AsyncSession, comment_id: int, *, lock: bool = False) -> Any:
    """A comment with its post's author and visibility: (id, post_id, parent_id, author_id,
    post_author_id, post_visibility). `lock` holds the comment row."""
    query = (
        select(
            Comment.id,
            Comment.post_id,
            Comment.parent_id,
            Comment.author_id,
            Post.author_id.label("post_author_id"),
            Post.visibility.label("post_visibility"),
        )
        .join(Post, Post.id == Comment.post_id)
        .where(Comment.id == comment_id)
    )
    if lock:
        query = query.with_for_update(of=Comment)
    return (await session.execute(query)).first()


async def insert_comment(
    session: AsyncSession,
    *,
    comment_id: int,
    post_id: int,
    parent_id: int | None,
    author_id: int,
    text: str,
    created_at: datetime,
) -> None:
    session.add(
        Comment(
            id=comment_id,
            post_id=post_id,
            parent_id=parent_id,
            author_id=author_id,
            text=text,
            created_at=created_at,
            reply_count=0,
            like_count=0,
            love_count=0,
            haha_count=0,
            wow_count=0,
            sad_count=0,
            angry_count=0,
        )
    )
    await session.flush()


async def add_reply_count(session: AsyncSession, comment_id: int, delta: int) -> bool:
    """Atomically change a comment's reply count; False when the comment is gone."""
    result = await session.execute(
        update(Comment)
        .where(Comment.id == comment_id)
        .values(reply_count=Comment.reply_count + delta)
    )
    return affected(result) > 0


async def update_text(
    session: AsyncSession, comment_id: int, text: str, edited_at: datetime
) -> None:
    await session.execute(
        update(Comment).where(Comment.id == comment_id).values(text=text, edited_at=edited_at)
    )


async def delete_comment(session: AsyncSession, comment_id: int) -> int:
    """Delete a comment, its replies and the reactions to all of them; returns how many
    comments went."""
    ids = [
        comment_id,
        *(await session.scalars(select(Comment.id).where(Comment.parent_id == comment_id))),
    ]
    await session.execute(
        delete(Reaction).where(
            Reaction.target_kind == TargetKind.comment, Reaction.target_id.in_(ids)
        )
    )
    replies = affected(
        await session.execute(delete(Comment).where(Comment.parent_id == comment_id))
    )
    return replies + affected(
        await session.execute(delete(Comment).where(Comment.id == comment_id))
    )


def read_columns() -> list[Any]:
    return [
        Comment.id,
        Comment.post_id,
        Comment.parent_id,
        Comment.author_id,
        Comment.text,
        Comment.created_at,
        Comment.edited_at,
        Comment.reply_count,
        *(getattr(Comment, f"{t}_count") for t in REACTION_TYPES),
        User.username,
        User.display_name,
        User.avatar_url,
    ]


async def get_comment(session: AsyncSession, comment_id: int) -> Any:
    query = (
        select(*read_columns())
        .join(User, User.id == Comment.author_id)
        .where(Comment.id == comment_id)
    )
    return (await session.execute(query)).first()


async def list_comments(
    session: AsyncSession,
    viewer_id: int,
    post_id: int,
    *,
    parent_id: int | None,
    after: int | None,
    limit: int,
) -> Sequence[Any]:
    """Top comments of a post (or the replies to `parent_id`), oldest first, leaving out
    those by people blocked either way with the viewer; `limit + 1` rows."""
    query = (
        select(*read_columns())
        .join(User, User.id == Comment.author_id)
        .where(
            Comment.post_id == post_id,
            Comment.parent_id.is_(None) if parent_id is None else Comment.parent_id == parent_id,
            Comment.author_id.not_in(hidden_from(viewer_id)),
        )
    )
    if after is not None:
        query = query.where(Comment.id > after)
    query = query.order_by(Comment.id).limit(limit + 1)
    return (await session.execute(query)).all()


async def my_reactions(
    session: AsyncSession, viewer_id: int, comment_ids: Collection[int]
) -> dict[int, str]:
    """The viewer's reaction to each of these comments."""
    if not comment_ids:
        return {}
    query = select(Reaction.target_id, Reaction.type).where(
        Reaction.user_id == viewer_id,
        Reaction.target_kind == TargetKind.comment,
        Reaction.target_id.in_(list(comment_ids)),
    )
    return {i: str(t) for i, t in (await session.execute(query)).all()}
