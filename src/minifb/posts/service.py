"""Posts: writing, changing, deleting, reading one, and a person's timeline.

Answers are the JSON bytes of `rendering.py`. Every change writes its event in
the request's transaction and drops the post's cache entries after the commit.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.cache import Cache
from minifb.kit import idempotency
from minifb.kit.db import Database, utcnow
from minifb.kit.ids import new_id
from minifb.kit.outbox import event_row, record_event
from minifb.kit.pagination import PageParams, page_of
from minifb.media import service as media
from minifb.models.post import Visibility
from minifb.posts import comments_repository as comments_repo
from minifb.posts import rendering
from minifb.posts import repository as repo
from minifb.posts.exceptions import NotThePostAuthor, PostNotFound
from minifb.posts.mentions import mentioned
from minifb.posts.repository import AuthorCard, PostRow
from minifb.posts.schemas import PostCreate, PostUpdate
from minifb.posts.visibility import Relations, may_see, may_see_comment, visible_sql
from minifb.users.service import UserNotFound


async def create_post(
    session: AsyncSession, cache: Cache, author_id: int, body: PostCreate
) -> bytes:
    """Publish a post in the session's transaction; emits `post.created`.

    Returns the post as its author sees it. The path of a request with an
    `Idempotency-Key`, whose key row shares the transaction.
    """
    post, data = _new_row(author_id, body)
    author = await repo.insert_post(session, post)
    if author is None:  # the account was deleted while its token still lived
        raise UserNotFound()
    cards = await media.attach(session, author_id, body.media_ids, post_id=post["id"])
    record_event(session, "post.created", actor_id=author_id, data=data)
    # Everything the answer holds is in hand: no read back, and the followers'
    # feeds find the post cached as soon as the transaction has committed.
    return rendering.new_post(session, cache, _new_post(post, author)._replace(media=tuple(cards)))


async def publish_post(db: Database, cache: Cache, author_id: int, body: PostCreate) -> bytes:
    """`create_post` without a request session: the post and its `post.created` go in
    as one atomic write (one statement on PostgreSQL), the hot path of `POST /posts`.
    A post with images is `create_post` in a transaction of its own."""
    if body.media_ids:
        async with db.transaction() as session:
            return await create_post(session, cache, author_id, body)
    post, data = _new_row(author_id, body)
    event = event_row("post.created", actor_id=author_id, data=data)
    author = await repo.publish_post(db, post, event=event)
    if author is None:
        raise UserNotFound()
    db.committed([event])
    return await rendering.committed_post(cache, _new_post(post, author))


async def create_post_once(
    db: Database,
    cache: Cache,
    author_id: int,
    body: PostCreate,
    *,
    key: str,
    fingerprint: str,
) -> idempotency.Answer:
    """`create_post` behind an `Idempotency-Key`, in a transaction of its own: the key
    row and the post commit together, and a retry gets the first answer back."""
    async with db.transaction() as session:
        return await idempotency.once(
            session,
            author_id,
            key,
            fingerprint=fingerprint,
            status=201,
            run=lambda: create_post(session, cache, author_id, body),
        )


def _new_row(author_id: int, body: PostCreate) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new post's row and the data of its `post.created`."""
    post_id, now = new_id(), utcnow()
    post = repo.post_row(post_id, author_id, body.text, body.visibility, now)
    data = {
        "post_id": str(post_id),
        "author_id": str(author_id),
        "visibility": str(body.visibility),
        "created_at": now.isoformat(),
        "mentions": mentioned(body.text),
    }
    return post, data


def _new_post(post: dict[str, Any], author: AuthorCard) -> PostRow:
    """A post just written, with its author's card: what its first answer shows."""
    return PostRow(
        id=post["id"],
        author_id=post["author_id"],
        username=author.username,
        display_name=author.display_name,
        avatar_url=author.avatar_url,
        text=post["text"],
        visibility=post["visibility"],
        created_at=post["created_at"],
    )


async def get_post(session: AsyncSession, cache: Cache, viewer_id: int, post_id: int) -> bytes:
    """A post the viewer may see; anything else is `PostNotFound`."""
    return await rendering.render_post(session, cache, viewer_id, post_id)


async def _own_post(session: AsyncSession, viewer_id: int, post_id: int) -> Visibility:
    """Lock the viewer's own post; 404 when they may not see it, 403 when it is not theirs."""
    meta = await repo.post_meta(session, post_id, lock=True)
    if meta is None:
        raise PostNotFound()
    author_id, visibility = meta
    if author_id != viewer_id:
        if may_see(
            viewer_id, author_id, visibility, await repo.relations(session, viewer_id, [author_id])
        ):
            raise NotThePostAuthor()
        raise PostNotFound()
    return visibility


async def update_post(
    session: AsyncSession, cache: Cache, viewer_id: int, post_id: int, body: PostUpdate
) -> bytes:
    """Change the text and/or visibility of one's own post; emits `post.updated` if anything
    changed (with the previous visibility, so feeds can drop it from people who lost it)."""
    previous = await _own_post(session, viewer_id, post_id)
    fields = body.model_dump(exclude_unset=True)
    if fields:
        await repo.update_post(session, post_id, {**fields, "edited_at": utcnow()})
        record_event(
            session,
            "post.updated",
            actor_id=viewer_id,
            data={
                "post_id": str(post_id),
                "author_id": str(viewer_id),
                "fields": sorted(fields),
                "visibility": str(fields.get("visibility", previous)),
                "previous_visibility": str(previous),
            },
        )
        rendering.invalidate(session, cache, post_id)
    return await rendering.render_post(session, cache, viewer_id, post_id, fresh=True)


async def delete_post(session: AsyncSession, cache: Cache, viewer_id: int, post_id: int) -> None:
    """Delete one's own post with its comments and all reactions; emits `post.deleted`."""
    visibility = await _own_post(session, viewer_id, post_id)
    if not await repo.delete_post(session, post_id):
        raise PostNotFound()
    record_event(
        session,
        "post.deleted",
        actor_id=viewer_id,
        data={
            "post_id": str(post_id),
            "author_id": str(viewer_id),
            "visibility": str(visibility),
        },
    )
    rendering.invalidate(session, cache, post_id)


async def timeline(
    session: AsyncSession, cache: Cache, viewer_id: int, author_id: int, params: PageParams
) -> bytes:
    """A person's posts the viewer may see, newest first, as a page body.

    A person who does not exist, or is blocked either way, is `UserNotFound`.
    """
    rel = await repo.relations(session, viewer_id, [author_id])
    if author_id in rel.hidden:
        raise UserNotFound()
    rows = await repo.timeline_ids(
        session,
        author_id,
        visible=visible_sql(viewer_id, rel),
        before=params.after,
        limit=params.limit,
    )
    # Only an empty page needs to ask whether the person exists at all.
    if not rows and not await repo.user_exists(session, author_id):
        raise UserNotFound()
    ids, cursor = page_of(rows, params, key=lambda post_id: post_id)
    return rendering.page_body(await rendering.render_posts(session, cache, viewer_id, ids), cursor)


async def still_there(session: AsyncSession, post_id: int, comment_id: int | None = None) -> bool:
    """Whether a post, or one of its comments, has not been deleted."""
    if comment_id is None:
        return await repo.post_meta(session, post_id) is not None
    comment = await comments_repo.comment_meta(session, comment_id)
    return comment is not None and comment.post_id == post_id


async def remaining_comments(
    session: AsyncSession, post_id: int, comment_ids: Collection[int]
) -> set[int]:
    """Which of `comment_ids` are comments of the post that have not been deleted."""
    return await comments_repo.existing(session, post_id, comment_ids)


async def who_may_see(
    session: AsyncSession, people: Collection[int], *, post_id: int, comment_id: int | None = None
) -> set[int]:
    """Which of `people` may see a post, or one of its comments, now: the rule every read
    path applies (`visibility.py`). A post or comment that is gone is seen by nobody."""
    meta = await repo.post_meta(session, post_id)
    if meta is None or not people:
        return set()
    comment_author = None
    if comment_id is not None:
        comment = await comments_repo.comment_meta(session, comment_id)
        if comment is None or comment.post_id != post_id:
            return set()
        comment_author = comment.author_id
    # Ties are symmetric: the author's ties with them are theirs with the author.
    with_author = await repo.relations(session, meta.author_id, people)
    with_commenter = (
        Relations()
        if comment_author is None
        else await repo.relations(session, comment_author, people)
    )
    seeing: set[int] = set()
    for person in people:
        hidden = {
            other
            for other, ties in ((meta.author_id, with_author), (comment_author, with_commenter))
            if other is not None and person in ties.hidden
        }
        rel = Relations(
            friends=frozenset({meta.author_id} if person in with_author.friends else ()),
            hidden=frozenset(hidden),
        )
        if comment_author is None:
            visible = may_see(person, meta.author_id, meta.visibility, rel)
        else:
            visible = may_see_comment(
                person,
                post_author_id=meta.author_id,
                post_visibility=meta.visibility,
                comment_author_id=comment_author,
                rel=rel,
            )
        if visible:
            seeing.add(person)
    return seeing


def visible_to(viewer_id: int) -> ColumnElement[bool]:
    """The visibility rule (`visibility.py`) as one SQL condition on `posts` rows, with
    the viewer's ties read as subqueries: for another service's query that picks posts
    (search)."""
    return visible_sql(viewer_id)


async def posts_as_seen(
    session: AsyncSession, cache: Cache, viewer_id: int, post_ids: Sequence[int]
) -> list[bytes]:
    """The JSON of each of `post_ids` the viewer may see, in that order (others dropped)."""
    return await rendering.render_posts(session, cache, viewer_id, post_ids)


def forget_rendering(session: AsyncSession, cache: Cache, post_id: int) -> None:
    """Drop a post's cached rendering once the transaction commits (its images changed)."""
    rendering.invalidate(session, cache, post_id)
