"""Posts rendered as JSON through a cache of rendered posts: the post read path, shared
by every endpoint that answers posts and by the feed.

A post is cached in two parts, both already-serialised JSON (orjson):

- `post:{p<id>}` (`BODY_KEY`): everything that is the same for every viewer and
  changes only when the post is edited: `{id, author, text, visibility, media,
  created_at, edited_at}`;
- `post:{p<id>}:counts` (`COUNTS_KEY`): `{comments, reactions: {like, ...}}`,
  which changes with every comment and reaction without rebuilding the body.

The braces are a Redis Cluster hash tag: a post's two keys share a hash slot,
so they are read, written and dropped together by one command on a cluster too.

Writers drop the keys after their transaction commits (`invalidate`); both
expire after `CACHE_TTL` seconds anyway, which bounds how long an author's
renamed profile, or a value cached by a reader that raced a writer, can
outlive its change. A page costs one cache round trip for both keys of every
post, at most one query for the misses (posts joined with their authors,
written back with `set_many`) and one query for the viewer's own reactions
and ties with the authors. Visibility is decided by `visibility.may_see` on
what the database holds now (`shown`), never on a cached copy.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.cache import Cache
from minifb.adapters.resilience import Unavailable
from minifb.kit.commit_hooks import after_commit
from minifb.media import service as media_service
from minifb.posts import repository as repo
from minifb.posts.exceptions import PostNotFound
from minifb.posts.repository import PostRow, ViewerContext
from minifb.posts.visibility import may_see

log = logging.getLogger("minifb.posts")

BODY_KEY = "post:{{p{id}}}"
COUNTS_KEY = "post:{{p{id}}}:counts"
CACHE_KEYS = (BODY_KEY, COUNTS_KEY)
"""Every cache key of one post (format with `id=`): what to drop when it changes."""
CACHE_TTL = 3600.0

_REACTIONS = {t: orjson.dumps(t) for t in repo.REACTION_TYPES}


def post_keys(post_id: int) -> list[str]:
    return [key.format(id=post_id) for key in CACHE_KEYS]


async def drop_bodies(cache: Cache, post_ids: Sequence[int]) -> None:
    """Drop cached post bodies now (their author's card changed); counts stay."""
    if post_ids:
        await cache.delete(*(BODY_KEY.format(id=post_id) for post_id in post_ids))


def invalidate(session: AsyncSession, cache: Cache, post_id: int, *, body: bool = True) -> None:
    """Drop a post's cached parts once the transaction commits (only its counts unless
    `body`)."""
    keys = post_keys(post_id) if body else [COUNTS_KEY.format(id=post_id)]

    async def drop() -> None:
        await cache.delete(*keys)

    after_commit(session, drop)


def new_post(session: AsyncSession, cache: Cache, post: PostRow) -> bytes:
    """The JSON of a post just written, as its author sees it; cached once committed."""
    answer, fill = _first_answer(post)

    async def warm() -> None:
        await cache.set_many(fill, ttl=CACHE_TTL)

    after_commit(session, warm)
    return answer


async def committed_post(cache: Cache, post: PostRow) -> bytes:
    """`new_post` for a post already committed outside a session: cached right away."""
    answer, fill = _first_answer(post)
    try:
        await cache.set_many(fill, ttl=CACHE_TTL)
    except Exception:
        # The post is stored; readers fill the cache from the database instead.
        log.exception("caching new post %s failed", post.id)
    return answer


def _first_answer(post: PostRow) -> tuple[bytes, dict[str, bytes]]:
    body, counts = _body(post), _counts(post)
    return splice(body, counts, None), dict(zip(post_keys(post.id), (body, counts), strict=True))


def _body(row: PostRow) -> bytes:
    return orjson.dumps(
        {
            "id": str(row.id),
            "author": {
                "id": str(row.author_id),
                "username": row.username,
                "display_name": row.display_name,
                "avatar_url": row.avatar_url,
            },
            "text": row.text,
            "visibility": str(row.visibility),
            "media": [card.model_dump(mode="json") for card in row.media],
            "created_at": row.created_at,
            "edited_at": row.edited_at,
        },
        option=orjson.OPT_UTC_Z,
    )


_AUTHOR_ID = b'"author":{"id":"'
_VISIBILITY = b'"visibility":"'


def meta_of(body: bytes) -> tuple[int, str]:
    """The author id and visibility of a cached body, without parsing all of it.

    `_body` writes these keys itself, in this order, and a quote inside any
    string value is escaped, so neither marker can occur elsewhere: the author
    comes before the text, the visibility after it (hence the search from the
    right). Every feed page reads twenty of these.
    """
    start = body.index(_AUTHOR_ID) + len(_AUTHOR_ID)
    author = int(body[start : body.index(b'"', start)])
    start = body.rindex(_VISIBILITY) + len(_VISIBILITY)
    return author, body[start : body.index(b'"', start)].decode()


def _counts(row: PostRow) -> bytes:
    reactions = dict(zip(repo.REACTION_TYPES, row.reaction_counts, strict=True))
    return orjson.dumps({"comments": row.comment_count, "reactions": reactions})


def splice(body: bytes, counts: bytes, reaction: str | None) -> bytes:
    """A post's JSON for one viewer: its cached body and counts, and their own reaction."""
    # The body is a JSON object: reopen it to append the per-viewer fields.
    mine = _REACTIONS[reaction] if reaction else b"null"
    return b"".join((body[:-1], b',"counts":', counts, b',"viewer_reaction":', mine, b"}"))


async def render_posts(
    session: AsyncSession,
    cache: Cache,
    viewer_id: int,
    post_ids: Sequence[int],
    *,
    use_cache: bool = True,
) -> list[bytes]:
    """The JSON of each post the viewer may see, in the given order (others dropped);
    without `use_cache`, read from the database alone."""
    return await _render(session, cache, viewer_id, post_ids, use_cache=use_cache)


async def render_post(
    session: AsyncSession, cache: Cache, viewer_id: int, post_id: int, *, fresh: bool = False
) -> bytes:
    """One post as `viewer_id` sees it; `PostNotFound` when missing or not visible.

    `fresh` reads the database and leaves the cache alone: for answers built
    inside a writing transaction, which must neither read the old cached
    version nor cache what is not yet committed.
    """
    blobs = await _render(session, cache, viewer_id, [post_id], use_cache=not fresh)
    if not blobs:
        raise PostNotFound()
    return blobs[0]


async def _render(
    session: AsyncSession,
    cache: Cache,
    viewer_id: int,
    post_ids: Sequence[int],
    *,
    use_cache: bool,
) -> list[bytes]:
    ids = list(dict.fromkeys(post_ids))
    if not ids:
        return []
    bodies: dict[int, bytes] = {}
    counts: dict[int, bytes] = {}
    meta: dict[int, tuple[int, str]] = {}
    missing = ids
    values = await cached_parts(cache, ids) if use_cache else None
    if values is not None:
        missing = []
        for n, post_id in enumerate(ids):
            body, count = values[2 * n], values[2 * n + 1]
            if body is None or count is None:
                missing.append(post_id)
                continue
            bodies[post_id], counts[post_id] = body, count
            meta[post_id] = meta_of(body)
    fill = await _load(session, missing, bodies, counts, meta)
    found = [i for i in ids if i in meta]
    if not found:
        await _store(cache, fill, use_cache)
        return []
    authors = {meta[i][0] for i in found} - {viewer_id}
    now = await repo.viewer_context(session, viewer_id, people=authors, post_ids=found)
    # A cached body whose visibility the database no longer holds missed its
    # invalidation (a cache that stalled or lost a write): read it afresh.
    fill.update(await _load(session, stale(now, found, meta), bodies, counts, meta))
    await _store(cache, fill, use_cache)
    return [
        splice(bodies[i], counts[i], now.reactions.get(i))
        for i in found
        if shown(now, viewer_id, i, meta[i][0])
    ]


def stale(
    now: ViewerContext, post_ids: Sequence[int], meta: dict[int, tuple[int, str]]
) -> list[int]:
    """The posts whose cached visibility (in `meta`) differs from the database's `now`
    (deleted ones aside)."""
    live = now.visibility
    return [i for i in post_ids if i in live and live[i] != meta[i][1]]


def shown(now: ViewerContext, viewer_id: int, post_id: int, author_id: int) -> bool:
    """`may_see` on the post's visibility `now`; a post the database lacks is gone."""
    visibility = now.visibility.get(post_id)
    return visibility is not None and may_see(viewer_id, author_id, visibility, now.relations)


async def cached_parts(cache: Cache, post_ids: Sequence[int]) -> list[bytes | None] | None:
    """Both cached parts of each post (`post_keys` order), or None when the cache is down:
    the caller then reads the database, as for a cold cache."""
    try:
        return await cache.get_many([k for i in post_ids for k in post_keys(i)])
    except Unavailable:
        return None


async def _load(
    session: AsyncSession,
    post_ids: Sequence[int],
    bodies: dict[int, bytes],
    counts: dict[int, bytes],
    meta: dict[int, tuple[int, str]],
) -> dict[str, bytes]:
    """Render `post_ids` from the database into the three maps; returns their cache items."""
    fill: dict[str, bytes] = {}
    if not post_ids:
        return fill
    # Their images: one more query, for the posts the cache missed only.
    media = await media_service.cards_of_posts(session, post_ids)
    for found in await repo.load_posts(session, post_ids):
        row = found._replace(media=tuple(media.get(found.id, ())))
        bodies[row.id], counts[row.id] = _body(row), _counts(row)
        meta[row.id] = (row.author_id, str(row.visibility))
        body_key, counts_key = post_keys(row.id)
        fill[body_key], fill[counts_key] = bodies[row.id], counts[row.id]
    return fill


async def _store(cache: Cache, fill: dict[str, bytes], use_cache: bool) -> None:
    if not fill or not use_cache:
        return
    # Down: the page is answered from the database; a later reader fills the cache.
    with contextlib.suppress(Unavailable):
        await cache.set_many(fill, ttl=CACHE_TTL)


def page_body(blobs: list[bytes], next_cursor: str | None) -> bytes:
    """A list page `{"items": [...], "next_cursor": ...}` spliced from post blobs."""
    return b"".join(
        (b'{"items":[', b",".join(blobs), b'],"next_cursor":', orjson.dumps(next_cursor), b"}")
    )
