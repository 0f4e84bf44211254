"""Queries about posts and the viewer's ties that decide visibility.

Comments live in `comments_repository.py`, reactions in
`reactions_repository.py`. The read path selects columns (SQLAlchemy Core
rows), never ORM objects. `FOR UPDATE` (ignored on SQLite, whose writers are
serialised anyway) takes rows in one order everywhere: post, then comment,
then reaction, so concurrent writers queue instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import ColumnElement, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import Database, affected, among
from minifb.media.schemas import MediaCard
from minifb.models import Comment, OutboxEvent, Post, Reaction, User
from minifb.models.post import Visibility
from minifb.models.reaction import ReactionType, TargetKind
from minifb.posts.visibility import Relations
from minifb.users import service as users

REACTION_TYPES = tuple(t.value for t in ReactionType)
"""Every reaction type, in the enum's order: the order of every tuple of counts here."""
_COUNT_COLUMNS = [f"{t}_count" for t in REACTION_TYPES]


# Render path


class PostRow(NamedTuple):
    """A post with its author's card: everything its rendering shows."""

    id: int
    author_id: int
    username: str
    display_name: str
    avatar_url: str | None
    text: str
    visibility: Visibility
    created_at: datetime
    edited_at: datetime | None = None
    comment_count: int = 0
    reaction_counts: tuple[int, ...] = (0,) * len(REACTION_TYPES)
    """One count per reaction type, in `REACTION_TYPES` order."""
    media: tuple[MediaCard, ...] = ()
    """Its images (`media.service.cards_of_posts`), in order."""


_RENDER_COLUMNS = [
    Post.id,
    Post.author_id,
    User.username,
    User.display_name,
    User.avatar_url,
    Post.text,
    Post.visibility,
    Post.created_at,
    Post.edited_at,
    Post.comment_count,
    *(getattr(Post, column) for column in _COUNT_COLUMNS),
]
_COUNTS_AT = len(_RENDER_COLUMNS) - len(REACTION_TYPES)


async def load_posts(session: AsyncSession, post_ids: Collection[int]) -> list[PostRow]:
    """The posts with their authors, in one query (order not kept)."""
    query = (
        select(*_RENDER_COLUMNS)
        .join(User, User.id == Post.author_id)
        .where(among(session, Post.id, post_ids))
    )
    return [
        PostRow._make((*row[:_COUNTS_AT], tuple(row[_COUNTS_AT:]), ()))
        for row in await session.execute(query)
    ]


@dataclass(frozen=True, slots=True)
class ViewerContext:
    """What the database holds now about a page of posts for one viewer."""

    reactions: dict[int, ReactionType]
    """The viewer's own reaction to each post that has one."""
    visibility: dict[int, Visibility]
    """Each post's visibility now; a deleted post has none."""
    relations: Relations
    """The viewer's ties with the people asked about (the posts' authors)."""


# The viewer's reactions to a page of posts ('r', post id, type), each post's
# visibility as the database holds it now ('p', post id, visibility; no row for
# a deleted post), and the viewer's ties with its authors (the social graph's
# `TIES_SQL`): cached post bodies are served only as far as this agrees, so a
# lost cache invalidation can never widen who sees a post. In one statement
# written per dialect: it runs on every page of every feed, so it skips SQL
# compilation and, via `Database.fetch`, the session too.
_OWN_TIES = """
SELECT 'r', target_id, type FROM reactions
 WHERE user_id = {viewer} AND target_kind = 'post' AND target_id {in_posts}
UNION ALL SELECT 'p', id, visibility FROM posts WHERE id {in_posts}
UNION ALL """


def _viewer_ties(viewer: str, in_posts: str, in_people: str) -> str:
    own = _OWN_TIES.format(viewer=viewer, in_posts=in_posts)
    return own + users.TIES_SQL.format(viewer=viewer, in_people=in_people)


VIEWER_TIES_SQL = {
    "postgresql": _viewer_ties("$1", "= ANY($2::bigint[])", "= ANY($3::bigint[])"),
    "sqlite": _viewer_ties(
        "?1", "IN (SELECT value FROM json_each(?2))", "IN (SELECT value FROM json_each(?3))"
    ),
}
_REACTION_OF = {t.value: t for t in ReactionType}
_VISIBILITY_OF = {v.value: v for v in Visibility}


def _ties_params(
    dialect: str, viewer_id: int, people: Collection[int], post_ids: Collection[int]
) -> tuple[Any, ...]:
    if dialect == "postgresql":
        return (viewer_id, list(post_ids), list(people))
    return (viewer_id, orjson.dumps(list(post_ids)).decode(), orjson.dumps(list(people)).decode())


def _context(rows: Iterable[Sequence[Any]]) -> ViewerContext:
    reactions: dict[int, ReactionType] = {}
    visibility: dict[int, Visibility] = {}
    friends: set[int] = set()
    hidden: set[int] = set()
    for tag, key, value in rows:
        if tag == "r":
            reactions[key] = _REACTION_OF[value]
        elif tag == "p":
            visibility[key] = _VISIBILITY_OF[value]
        elif tag == users.FRIEND:
            friends.add(key)
        else:
            hidden.add(key)
    return ViewerContext(reactions, visibility, Relations(frozenset(friends), frozenset(hidden)))


_NOTHING = ViewerContext({}, {}, Relations())


async def viewer_context(
    session: AsyncSession, viewer_id: int, *, people: Collection[int], post_ids: Collection[int]
) -> ViewerContext:
    """In one query, inside the session's transaction (so it sees its own writes):
    the viewer's reactions to `post_ids`, their visibility now, and the viewer's ties
    with `people` (see VIEWER_TIES_SQL)."""
    if not people and not post_ids:
        return _NOTHING
    conn = await session.connection()
    dialect = conn.dialect.name
    params = _ties_params(dialect, viewer_id, people, post_ids)
    return _context(await conn.exec_driver_sql(VIEWER_TIES_SQL[dialect], params))


async def viewer_context_direct(
    db: Database, viewer_id: int, *, people: Collection[int], post_ids: Collection[int]
) -> ViewerContext:
    """`viewer_context` outside any transaction, straight on the driver (the feed's warm path)."""
    if not people and not post_ids:
        return _NOTHING
    params = _ties_params(db.dialect, viewer_id, people, post_ids)
    return _context(await db.fetch(VIEWER_TIES_SQL[db.dialect], *params))


async def relations(session: AsyncSession, viewer_id: int, people: Collection[int]) -> Relations:
    """The viewer's friendships with and blocks between `people`, in one query."""
    others = {p for p in people if p != viewer_id}
    if not others:
        return Relations()
    context = await viewer_context(session, viewer_id, people=others, post_ids=())
    return context.relations


# Posts


class AuthorCard(NamedTuple):
    """What a post shows of its author besides the id."""

    username: str
    display_name: str
    avatar_url: str | None


async def insert_post(session: AsyncSession, post: dict[str, Any]) -> AuthorCard | None:
    """Insert a post (a `post_row`; a Core statement: no unit of work on the hot write
    path) and return its author's card, or None if gone."""
    # Prebuilt statements with bound values: SQLAlchemy reuses their compiled form.
    await session.execute(_INSERT_POST, post)
    card = (await session.execute(_AUTHOR_CARD, {"author_id": post["author_id"]})).first()
    return None if card is None else AuthorCard(*card)


_INSERT_POST = insert(Post)
_AUTHOR_CARD = select(User.username, User.display_name, User.avatar_url).where(
    User.id == bindparam("author_id")
)


# One statement, atomic by itself: the post and its event go in together, and
# only if the author still exists; the author's card comes back for the answer.
_PUBLISH = """
WITH author AS (
    SELECT username, display_name, avatar_url FROM users WHERE id = $2
), post AS (
    INSERT INTO posts (id, author_id, text, visibility, created_at, comment_count, {counts})
    SELECT $1, $2, $3, $4, $5, 0, {zeros} FROM author
    RETURNING id
), event AS (
    INSERT INTO outbox (id, type, version, occurred_at, actor_id, data)
    SELECT $6, $7, $8, $9, $2, $10::json FROM post
)
SELECT username, display_name, avatar_url FROM author
"""
_PUBLISH_PG = _PUBLISH.format(
    counts=", ".join(_COUNT_COLUMNS), zeros=", ".join("0" for _ in _COUNT_COLUMNS)
)


async def publish_post(
    db: Database, post: dict[str, Any], *, event: dict[str, Any]
) -> AuthorCard | None:
    """Insert a post (a `post_row`) with its outbox `event` row, outside any session, and
    return its author's card, or None if the author is gone (then nothing is written).

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
        if card is None:
            return None
        await conn.execute(_INSERT_POST, post)
        await conn.execute(_INSERT_EVENT, event)
        return AuthorCard(*card)


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
        **dict.fromkeys(_COUNT_COLUMNS, 0),
    }


class PostMeta(NamedTuple):
    """Who wrote a post and who may see it."""

    author_id: int
    visibility: Visibility


async def post_meta(session: AsyncSession, post_id: int, *, lock: bool = False) -> PostMeta | None:
    """A post's author and visibility; `lock` holds its row until the transaction ends."""
    query = select(Post.author_id, Post.visibility).where(Post.id == post_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return None if row is None else PostMeta(*row)


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
    *,
    visible: ColumnElement[bool] | None,
    before: int | None,
    limit: int,
) -> list[int]:
    """Ids of an author's posts that meet `visible` (a `visibility.visible_sql`; all of
    them when None), newest first (`limit + 1`)."""
    query = select(Post.id).where(Post.author_id == author_id)
    if visible is not None:
        query = query.where(visible)
    if before is not None:
        query = query.where(Post.id < before)
    query = query.order_by(Post.id.desc()).limit(limit + 1)
    return list((await session.scalars(query)).all())


async def user_exists(session: AsyncSession, user_id: int) -> bool:
    return (await session.scalar(select(User.id).where(User.id == user_id))) is not None
