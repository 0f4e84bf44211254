"""Queries about comments (see `repository.py` for the locking order)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import affected, among
from minifb.models import Comment, Post, Reaction, User
from minifb.models.post import Visibility
from minifb.models.reaction import ReactionType, TargetKind
from minifb.posts.repository import REACTION_TYPES
from minifb.users import service as users

_COUNT_COLUMNS = [getattr(Comment, f"{t}_count") for t in REACTION_TYPES]


class CommentMeta(NamedTuple):
    """Where a comment sits and who may see it."""

    id: int
    post_id: int
    parent_id: int | None
    author_id: int
    post_author_id: int
    post_visibility: Visibility


class CommentRow(NamedTuple):
    """A comment with its author's card: everything its answer shows."""

    id: int
    post_id: int
    parent_id: int | None
    author_id: int
    username: str
    display_name: str
    avatar_url: str | None
    text: str
    created_at: datetime
    edited_at: datetime | None
    reply_count: int
    reaction_counts: tuple[int, ...]
    """One count per reaction type, in `REACTION_TYPES` order."""


async def comment_meta(
    session: AsyncSession, comment_id: int, *, lock: bool = False
) -> CommentMeta | None:
    """A comment with its post's author and visibility; `lock` holds the comment row."""
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
    row = (await session.execute(query)).first()
    return None if row is None else CommentMeta(*row)


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
            **{f"{t}_count": 0 for t in REACTION_TYPES},
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


async def existing(session: AsyncSession, post_id: int, comment_ids: Collection[int]) -> set[int]:
    """Which of `comment_ids` are comments of the post."""
    if not comment_ids:
        return set()
    query = select(Comment.id).where(
        Comment.post_id == post_id, among(session, Comment.id, comment_ids)
    )
    return set(await session.scalars(query))


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


_READ_COLUMNS = [
    Comment.id,
    Comment.post_id,
    Comment.parent_id,
    Comment.author_id,
    User.username,
    User.display_name,
    User.avatar_url,
    Comment.text,
    Comment.created_at,
    Comment.edited_at,
    Comment.reply_count,
    *_COUNT_COLUMNS,
]
_COUNTS_AT = len(_READ_COLUMNS) - len(_COUNT_COLUMNS)


def _row(row: Row[Any]) -> CommentRow:
    return CommentRow._make((*row[:_COUNTS_AT], tuple(row[_COUNTS_AT:])))


async def get_comment(session: AsyncSession, comment_id: int) -> CommentRow | None:
    query = (
        select(*_READ_COLUMNS)
        .join(User, User.id == Comment.author_id)
        .where(Comment.id == comment_id)
    )
    row = (await session.execute(query)).first()
    return None if row is None else _row(row)


async def list_comments(
    session: AsyncSession,
    viewer_id: int,
    post_id: int,
    *,
    parent_id: int | None,
    after: int | None,
    limit: int,
) -> list[CommentRow]:
    """Top comments of a post (or the replies to `parent_id`), oldest first, leaving out
    those by people blocked either way with the viewer; `limit + 1` rows."""
    query = (
        select(*_READ_COLUMNS)
        .join(User, User.id == Comment.author_id)
        .where(
            Comment.post_id == post_id,
            Comment.parent_id.is_(None) if parent_id is None else Comment.parent_id == parent_id,
            users.not_hidden_from(viewer_id, Comment.author_id),
        )
    )
    if after is not None:
        query = query.where(Comment.id > after)
    query = query.order_by(Comment.id).limit(limit + 1)
    return [_row(row) for row in await session.execute(query)]


async def my_reactions(
    session: AsyncSession, viewer_id: int, comment_ids: Collection[int]
) -> dict[int, ReactionType]:
    """The viewer's reaction to each of these comments."""
    if not comment_ids:
        return {}
    query = select(Reaction.target_id, Reaction.type).where(
        Reaction.user_id == viewer_id,
        Reaction.target_kind == TargetKind.comment,
        among(session, Reaction.target_id, comment_ids),
    )
    return dict((await session.execute(query)).all())
