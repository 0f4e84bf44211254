"""Queries about posts and the viewer's ties that decide visibility.

Comments live in `comments_repository.py`, reactions in
`reactions_repository.py`. The read path selects columns (SQLAlchemy Core
rows), never ORM objects. `FOR UPDATE` (ignored on SQLite, whose writers are
serialised anyway) takes rows in one order everywhere: post, then comment,
then reaction, so concurrent writers queue instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Result,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import Database
from minifb.models import Block, Comment, OutboxEvent, Post, Reaction, User
from minifb.models.post import Visibility
from minifb.models.reaction import TargetKind

REACTION_TYPES = ("like", "love", "haha", "wow", "sad", "angry")


def affected(result: Result[Any]) -> int:
    """How many rows an INSERT, UPDATE or DELETE changed."""
    return cast(CursorResult[Any], result).rowcount


def hidden_from(viewer_id: int) -> Any:
    """The ids of the people the viewer blocked or was blocked by."""
    return (
        select(Block.blocked_id)
        .where(Block.blocker_id == viewer_id)
        .union(select(Block.blocker_id).where(Block.blocked_id == viewer_id))
    )


# Render path


def render_columns() -> list[Any]:
    return [
        Post.id,
        Post.author_id,
        Post.text,
        Post.visibility,
        Post.created_at,
        Post.edited_at,
        Post.comment_count,
        *(getattr(Post, f"{t}_count") for t in REACTION_TYPES),
        User.username,
        User.display_name,
        User.avatar_url,
    ]


async def load_posts(session: AsyncSession, post_ids: Collection[int]) -> Sequence[Any]:
    """The posts with their authors, in one query (order not kept)."""
    query = (
        select(*render_columns())
        .join(User, User.id == Post.author_id)
        .where(Post.id.in_(list(post_ids)))
    )
    return (await session.execute(query)).all()


# The viewer's reactions to a page of posts ('r', post id, type), friendships with
# its authors ('f', id, NULL), blocks either way with them ('b', id, NULL), and
# each post's visibility as the database holds it now ('p', post id, visibility;
# no row for a deleted post): cached post bodies are served only as far as this
# agrees, so a lost cache invalidation can never widen who sees a post. In one
# statement written per dialect: it runs on every page of every feed, so it
# skips SQL compilation and, via `Database.fetch`, the session too.
_VIEWER_TIES = """
SELECT 'r', target_id, type FROM reactions
 WHERE user_id = {viewer} AND target_kind = 'post' AND target_id {in_posts}
UNION ALL SELECT 'p', id, visibility FROM posts WHERE id {in_posts}
UNION ALL SELECT 'f', friend_id, NULL FROM friendships
 WHERE user_id = {viewer} AND friend_id {in_people}
UNION ALL SELECT 'b', blocked_id, NULL FROM blocks
 WHERE blocker_id = {viewer} AND blocked_id {in_people}
UNION ALL SELECT 'b', blocker_id, NULL FROM blocks
 WHERE blocked_id = {viewer} AND blocker_id {in_people}
"""
VIEWER_TIES_SQL = {
    "postgresql": _VIEWER_TIES.format(
        viewer="$1", in_posts="= ANY($2::bigint[])", in_people="= ANY($3::bigint[])"
    ),
    "sqlite": _VIEWER_TIES.format(
        viewer="?1",
        in_posts="IN (SELECT value FROM json_each(?2))",
        in_people="IN (SELECT value FROM json_each(?3))",
    ),
}
Ties = list[tuple[str, int, str | None]]


def _ties_params(
    dialect: str, viewer_id: int, people: Collection[int], post_ids: Collection[int]
) -> tuple[Any, ...]:
    if dialect == "postgresql":
        return (viewer_id, list(post_ids), list(people))
    return (viewer_id, orjson.dumps(list(post_ids)).decode(), orjson.dumps(list(people)).decode())


def _ties(rows: Sequence[Any]) -> Ties:
    return [(str(kind), int(i), None if t is None else str(t)) for kind, i, t in rows]


async def viewer_context(
    session: AsyncSession, viewer_id: int, *, people: Collection[int], post_ids: Collection[int]
) -> Ties:
    """In one query, inside the session's transaction (so it sees its own writes):
    the viewer's reactions to `post_ids` and ties with `people` (see VIEWER_TIES_SQL)."""
    if not people and not post_ids:
        return []
    conn = await session.connection()
    dialect = conn.dialect.name
    params = _ties_params(dialect, viewer_id, people, post_ids)
    result = await conn.exec_driver_sql(VIEWER_TIES_SQL[dialect], params)
    return _ties(result.all())


async def viewer_context_direct(
    db: Database, viewer_id: int, *, people: Collection[int], post_ids: Collection[int]
) -> Ties:
    """`viewer_context` outside any transaction, straight on the driver (the feed's warm path)."""
    if not people and not post_ids:
        return []
    params = _ties_params(db.dialect, viewer_id, people, post_ids)
    return _ties(await db.fetch(VIEWER_TIES_SQL[db.dialect], *params))


# Posts


async def insert_post(session: AsyncSession, post: dict[str, Any]) -> Any:
    """Insert a post (a `post_row`; a Core statement: no unit of work on the hot write
    path) and return its author's card (`username`, `display_name`, `avatar_url`), or
    None if gone."""
    # Prebuilt statements with bound values: SQLAlchemy reuses their compiled form.
    await session.execute(_INSERT_POST, post)
    return (await session.execute(_AUTHOR_CARD, {"author_id": post["author_id"]})).first()


_INSERT_POST = insert(Post)
_AUTHOR_CARD = select(User.username, User.display_name, User.avatar_url).where(
    User.id == bindparam("author_id")
)


class AuthorCard(NamedTuple):
    username: str
    display_name: str
    avatar_url: str | None


# One statement, atomic by itself: the post and its event go in together, and
# only if the author still exists; the author's card comes back for the answer.
_PUBLISH_PG = """
WITH author AS (
    SELECT username, display_name, avatar_url FROM users WHERE id = $2
), post AS (
    INSERT INTO posts (id, author_id, text, visibility, created_at, comment_count,
                       like_count, love_count, haha_count, wow_count, sad_count, angry_count)
    SELECT $1, $2, $3, $4, $5, 0, 0, 0, 0, 0, 0, 0 FROM author
    RETURNING id
), event AS (
    INSERT INTO outbox (id, type, version, occurred_at, actor_id, data)
    SELECT $6, $7, $8, $9, $2, $10::json FROM post
)
SELECT username, display_name, avatar_url FROM author
"""


async def publish_post(db: Database, post: dict[str, Any], *, event: dict[str, Any]) -> Any:
    """Insert a post (a `post_row`) with its outbox `event` row, outside any session, and
    return its author's card (`username`, `display_name`, `avatar_url`), or None if the
    author is gone (then nothing is written).

    The hot write path: on PostgreSQL one statement through the driver, on SQLite
    (one writer at a time anyway) one short Core transaction.
    """
    if db.dialect == "postgresql":
        rows = await db.fetch(
            _PUBLISH_PG,
            post["id"],
            post["author_id"],
            post["text"],
            str(post["visibility"]),
            post["created_at"],
            event["id"],
            event["type"],
            event["version"],
            event["occurred_at"],
            orjson.dumps(event["data"]).decode(),
        )
        return AuthorCard(*rows[0]) if rows else None
    async with db.begin() as conn:
        card = (await conn.execute(_AUTHOR_CARD, {"author_id": post["author_id"]})).first()
        if card is not None:
            await conn.execute(_INSERT_POST, post)
            await conn.execute(_INSERT_EVENT, event)
        return card


_INSERT_EVENT = insert(OutboxEvent)


def post_row(
    post_id: int, author_id: int, text: str, visibility: Visibility, created_at: datetime
) -> dict[str, Any]:
    """The row of a new post, for `insert_post` and `publish_post`."""
    return {
        "id": post_id,
        "author_id": author_id,
        "text": text,
        "visibility": visibility,
        "created_at": created_at,
        "comment_count": 0,
        **{f"{t}_count": 0 for t in REACTION_TYPES},
    }


async def post_meta(
    session: AsyncSession, post_id: int, *, lock: bool = False
) -> tuple[int, Visibility] | None:
    """(author id, visibility) of a post; `lock` holds its row until the transaction ends."""
    query = select(Post.author_id, Post.visibility).where(Post.id == post_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def update_post(session: AsyncSession, post_id: int, values: dict[str, Any]) -> None:
    await session.execute(update(Post).where(Post.id == post_id).values(**values))


async def add_comment_count(session: AsyncSession, post_id: int, delta: int) -> bool:
    """Atomically change a post's comment count; False when the post is gone."""
    result = await session.execute(
        update(Post).where(Post.id == post_id).values(comment_count=Post.comment_count + delta)
    )
    return affected(result) > 0


async def delete_post(session: AsyncSession, post_id: int) -> bool:
    """Delete a post, its comments and every reaction to either (the post row is locked)."""
    comment_ids = list(
        (await session.scalars(select(Comment.id).where(Comment.post_id == post_id))).all()
    )
    # Comments first: a concurrent reaction holding a comment row makes this wait,
    # so the reaction delete below (a later statement) sees its row.
    await session.execute(delete(Comment).where(Comment.post_id == post_id))
    targets: list[ColumnElement[bool]] = [
        (Reaction.target_kind == TargetKind.post) & (Reaction.target_id == post_id)
    ]
    if comment_ids:
        targets.append(
            (Reaction.target_kind == TargetKind.comment) & Reaction.target_id.in_(comment_ids)
        )
    await session.execute(delete(Reaction).where(or_(*targets)))
    return affected(await session.execute(delete(Post).where(Post.id == post_id))) > 0


async def timeline_ids(
    session: AsyncSession,
    author_id: int,
    levels: Sequence[Visibility],
    *,
    before: int | None,
    limit: int,
) -> list[int]:
    """Ids of an author's posts with these visibilities, newest first (`limit + 1`)."""
    if not levels:
        return []
    query = select(Post.id).where(Post.author_id == author_id, Post.visibility.in_(levels))
    if before is not None:
        query = query.where(Post.id < before)
    query = query.order_by(Post.id.desc()).limit(limit + 1)
    return list((await session.scalars(query)).all())


async def user_exists(session: AsyncSession, user_id: int) -> bool:
    return (await session.scalar(select(User.id).where(User.id == user_id))) is not None
