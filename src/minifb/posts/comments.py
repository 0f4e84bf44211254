"""Comments: one reply level, counted on the post and the top comment.

`GET /posts/{id}/comments` lists a post's top comments, oldest first; with
`?parent_id=` it pages the replies to one top comment instead. Each comment
carries its reply count (always 0 for a reply). `Post.comment_count` counts
every comment, replies included.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.cache import Cache
from minifb.kit.db import utcnow
from minifb.kit.ids import new_id
from minifb.kit.outbox import record_event
from minifb.kit.pagination import PageParams, page_of
from minifb.kit.schemas import Page
from minifb.models.reaction import ReactionType
from minifb.posts import comments_repository as comments_repo
from minifb.posts import rendering
from minifb.posts import repository as repo
from minifb.posts.comments_repository import CommentMeta, CommentRow
from minifb.posts.exceptions import (
    CommentNotFound,
    InvalidParent,
    NotTheCommentAuthor,
    PostNotFound,
)
from minifb.posts.mentions import mentioned
from minifb.posts.repository import REACTION_TYPES
from minifb.posts.schemas import (
    AuthorRead,
    CommentCounts,
    CommentCreate,
    CommentRead,
    CommentUpdate,
    ReactionCountsRead,
)
from minifb.posts.visibility import Relations, may_see, may_see_comment


def read(row: CommentRow, viewer_reaction: ReactionType | None) -> CommentRead:
    """A comment row as its viewer sees it."""
    return CommentRead(
        id=row.id,
        post_id=row.post_id,
        parent_id=row.parent_id,
        author=AuthorRead(
            id=row.author_id,
            username=row.username,
            display_name=row.display_name,
            avatar_url=row.avatar_url,
        ),
        text=row.text,
        created_at=row.created_at,
        edited_at=row.edited_at,
        counts=CommentCounts(
            replies=row.reply_count,
            reactions=ReactionCountsRead(
                **dict(zip(REACTION_TYPES, row.reaction_counts, strict=True))
            ),
        ),
        viewer_reaction=viewer_reaction,
    )


async def _written(session: AsyncSession, comment_id: int) -> CommentRow:
    """A comment this transaction has just written, read back for the answer."""
    row = await comments_repo.get_comment(session, comment_id)
    if row is None:  # cannot be: the row and its author are in this transaction's view
        raise CommentNotFound()
    return row


async def visible_post(
    session: AsyncSession, viewer_id: int, post_id: int, *, lock: bool = False
) -> tuple[int, Relations]:
    """The author of a post the viewer may see, and the viewer's ties; else `PostNotFound`."""
    meta = await repo.post_meta(session, post_id, lock=lock)
    if meta is None:
        raise PostNotFound()
    rel = await repo.relations(session, viewer_id, [meta.author_id])
    if not may_see(viewer_id, meta.author_id, meta.visibility, rel):
        raise PostNotFound()
    return meta.author_id, rel


async def visible_comment(
    session: AsyncSession, viewer_id: int, comment_id: int, *, lock: bool = False
) -> tuple[CommentMeta, Relations]:
    """A comment the viewer may see (its meta row) and the viewer's ties; else 404."""
    meta = await comments_repo.comment_meta(session, comment_id, lock=lock)
    if meta is None:
        raise CommentNotFound()
    rel = await repo.relations(session, viewer_id, [meta.post_author_id, meta.author_id])
    if not may_see_comment(
        viewer_id,
        post_author_id=meta.post_author_id,
        post_visibility=meta.post_visibility,
        comment_author_id=meta.author_id,
        rel=rel,
    ):
        raise CommentNotFound()
    return meta, rel


async def create_comment(
    session: AsyncSession, cache: Cache, viewer_id: int, post_id: int, body: CommentCreate
) -> CommentRead:
    """Comment on a post the viewer may see (or reply to one of its comments); emits
    `comment.created`."""
    post_author_id, _ = await visible_post(session, viewer_id, post_id)
    parent_id = parent_author_id = None
    if body.parent_id is not None:
        parent = await comments_repo.comment_meta(session, body.parent_id)
        if parent is None or parent.post_id != post_id:
            raise InvalidParent()
        rel = await repo.relations(session, viewer_id, [parent.author_id])
        if parent.author_id != viewer_id and parent.author_id in rel.hidden:
            raise InvalidParent()
        # One reply level: a reply to a reply joins its top comment's thread.
        parent_id = parent.parent_id or parent.id
        parent_author_id = parent.author_id
    # Counters first: they lock the post, then the top comment, in that order.
    if not await repo.add_comment_count(session, post_id, 1):
        raise PostNotFound()
    if parent_id is not None and not await comments_repo.add_reply_count(session, parent_id, 1):
        raise InvalidParent()
    comment_id, now = new_id(), utcnow()
    await comments_repo.insert_comment(
        session,
        comment_id=comment_id,
        post_id=post_id,
        parent_id=parent_id,
        author_id=viewer_id,
        text=body.text,
        created_at=now,
    )
    record_event(
        session,
        "comment.created",
        actor_id=viewer_id,
        data={
            "comment_id": str(comment_id),
            "post_id": str(post_id),
            "parent_id": None if parent_id is None else str(parent_id),
            "author_id": str(viewer_id),
            "post_author_id": str(post_author_id),
            "parent_author_id": None if parent_author_id is None else str(parent_author_id),
            "mentions": mentioned(body.text),
        },
    )
    rendering.invalidate(session, cache, post_id, body=False)
    return read(await _written(session, comment_id), None)


async def list_comments(
    session: AsyncSession,
    viewer_id: int,
    post_id: int,
    params: PageParams,
    *,
    parent_id: int | None = None,
) -> Page[CommentRead]:
    """A post's top comments, or the replies to `parent_id`, oldest first."""
    await visible_post(session, viewer_id, post_id)
    if parent_id is not None:
        parent, _ = await visible_comment(session, viewer_id, parent_id)
        if parent.post_id != post_id or parent.parent_id is not None:
            raise CommentNotFound()
    rows = await comments_repo.list_comments(
        session, viewer_id, post_id, parent_id=parent_id, after=params.after, limit=params.limit
    )
    items, cursor = page_of(rows, params, key=lambda row: row.id)
    mine = await comments_repo.my_reactions(session, viewer_id, [r.id for r in items])
    return Page(items=[read(r, mine.get(r.id)) for r in items], next_cursor=cursor)


async def update_comment(
    session: AsyncSession, viewer_id: int, comment_id: int, body: CommentUpdate
) -> CommentRead:
    """Change the text of one's own comment (404 if not visible, 403 if not one's own)."""
    meta, _ = await visible_comment(session, viewer_id, comment_id, lock=True)
    if meta.author_id != viewer_id:
        raise NotTheCommentAuthor()
    await comments_repo.update_text(session, comment_id, body.text, utcnow())
    row = await _written(session, comment_id)
    mine = await comments_repo.my_reactions(session, viewer_id, [comment_id])
    return read(row, mine.get(comment_id))


async def delete_comment(
    session: AsyncSession, cache: Cache, viewer_id: int, comment_id: int
) -> None:
    """Delete a comment (its author or the post's author), with its replies and reactions;
    emits `comment.deleted`."""
    meta, _ = await visible_comment(session, viewer_id, comment_id)
    if viewer_id not in (meta.author_id, meta.post_author_id):
        raise NotTheCommentAuthor("Only the comment's author or the post's author can delete it.")
    # Lock in the common order (post, then comment) before counting what goes.
    await repo.post_meta(session, meta.post_id, lock=True)
    if await comments_repo.comment_meta(session, comment_id, lock=True) is None:
        raise CommentNotFound()
    removed = await comments_repo.delete_comment(session, comment_id)
    if removed == 0:
        raise CommentNotFound()
    await repo.add_comment_count(session, meta.post_id, -removed)
    if meta.parent_id is not None:
        await comments_repo.add_reply_count(session, meta.parent_id, -1)
    rendering.invalidate(session, cache, meta.post_id, body=False)
    record_event(
        session,
        "comment.deleted",
        actor_id=viewer_id,
        data={
            "comment_id": str(comment_id),
            "post_id": str(meta.post_id),
            "author_id": str(meta.author_id),
            "removed": removed,
        },
    )
