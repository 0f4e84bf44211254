"""Search: people and posts for one reader, and the index kept in step with the tables.

The index is a `SearchIndex` port (adapters/search/base.py) handed in: the
database's own full-text tables by default, OpenSearch when configured. A
query is reduced to words before any index sees it (`words`), pages are keyed
by (score, id) in an opaque cursor, and privacy is applied by the index in the
query itself, so a page never needs refilling (docs/decisions/0124).
"""

from __future__ import annotations

import base64
import binascii
import enum
import math
import re
from collections.abc import Callable, Sequence

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.cache import Cache
from minifb.adapters.search import After, Hit, SearchIndex, Viewer, words
from minifb.kit.db import Database
from minifb.kit.errors import InvalidInput
from minifb.posts import service as posts
from minifb.search import repository as repo
from minifb.users.service import UserRead

MAX_QUERY_LENGTH = 200
MAX_CURSOR_LENGTH = 96
# Sections of `type=all` are first pages; their cursors page one type.
ALL_LIMIT = 5


class SearchType(enum.StrEnum):
    users = "users"
    posts = "posts"
    all = "all"


# Cursors: base64url of `s1:<score as float.hex>:<id>`, checked in full on the way in.
_CURSOR = re.compile(
    rb"s1:(-?0x[0-9a-f]\.[0-9a-f]{1,13}p[+-][0-9]{1,4}|-?0x0\.0p\+0):([0-9]{1,19})"
)


def encode_cursor(after: After) -> str:
    raw = f"s1:{float(after.score).hex()}:{after.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> After:
    """The position a cursor names; `InvalidInput` (422) unless this API could have issued it."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        padded = (cursor + "=" * (-len(cursor) % 4)).encode("ascii")
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
        match = _CURSOR.fullmatch(raw)
        if match is None:
            raise ValueError
        score, id_ = float.fromhex(match[1].decode()), int(match[2])
        if not math.isfinite(score) or not 1 <= id_ < 2**63:
            raise ValueError
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raise InvalidInput(
            "The cursor is not valid.",
            errors=[{"loc": ["query", "cursor"], "msg": "not a cursor", "type": "value_error"}],
        ) from None
    return After(score=score, id=id_)


def _next_cursor(hits: list[Hit], limit: int) -> str | None:
    if len(hits) <= limit:
        return None
    last = hits[limit - 1]
    return encode_cursor(After(score=last.score, id=last.id))


async def search(
    session: AsyncSession,
    cache: Cache,
    index: SearchIndex,
    viewer_id: int,
    query: str,
    *,
    type_: SearchType,
    limit: int,
    cursor: str | None = None,
) -> bytes:
    """`GET /search` as JSON bytes: `{"users": page | null, "posts": page | null}`.

    Only people not hidden from the viewer (blocked either way) and posts the
    viewer may see. A query without a letter or digit finds nothing.
    """
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidInput(
            "The query is too long.",
            errors=[
                {
                    "loc": ["query", "q"],
                    "msg": f"at most {MAX_QUERY_LENGTH} characters",
                    "type": "value_error",
                }
            ],
        )
    if cursor and type_ is SearchType.all:
        raise InvalidInput(
            "A cursor pages one type of result.",
            errors=[
                {
                    "loc": ["query", "cursor"],
                    "msg": "use type=users or type=posts",
                    "type": "value_error",
                }
            ],
        )
    after = decode_cursor(cursor) if cursor else None
    terms = words(query)
    viewer = await repo.ties(session, viewer_id) if index.needs_ties else Viewer(viewer_id)
    per_section = min(limit, ALL_LIMIT) if type_ is SearchType.all else limit
    people_part = posts_part = b"null"
    if type_ in (SearchType.users, SearchType.all):
        hits = await index.people(session, terms, viewer, limit=per_section + 1, after=after)
        found = await repo.users_by_id(session, [h.id for h in hits[:per_section]])
        items = [
            UserRead.model_validate(found[h.id]).model_dump(mode="json")
            for h in hits[:per_section]
            if h.id in found
        ]
        people_part = orjson.dumps({"items": items, "next_cursor": _next_cursor(hits, per_section)})
    if type_ in (SearchType.posts, SearchType.all):
        hits = await index.posts(session, terms, viewer, limit=per_section + 1, after=after)
        blobs = await posts.posts_as_seen(
            session, cache, viewer_id, [h.id for h in hits[:per_section]]
        )
        posts_part = b"".join(
            (
                b'{"items":[',
                b",".join(blobs),
                b'],"next_cursor":',
                orjson.dumps(_next_cursor(hits, per_section)),
                b"}",
            )
        )
    return b"".join((b'{"users":', people_part, b',"posts":', posts_part, b"}"))


# Keeping the index in step


async def index_person(session: AsyncSession, index: SearchIndex, user_id: int) -> None:
    """Index a person as the tables hold them now (gone: forgotten)."""
    doc = await repo.person_doc(session, user_id)
    if doc is None:
        await index.remove_person(session, user_id)
    else:
        await index.put_people(session, [doc])


async def index_posts(session: AsyncSession, index: SearchIndex, post_ids: Sequence[int]) -> None:
    """Index posts as the tables hold them now (gone: forgotten), with one read of their
    rows and one write to the index. Reading the rows, not the events' data, makes a
    late or repeated event harmless."""
    docs = await repo.post_docs(session, post_ids)
    await index.put_posts(session, docs)
    for gone in set(post_ids) - {doc.id for doc in docs}:
        await index.remove_post(session, gone)


async def forget_post(session: AsyncSession, index: SearchIndex, post_id: int) -> None:
    await index.remove_post(session, post_id)


Progress = Callable[[str, int], None]


async def reindex(
    db: Database,
    index: SearchIndex,
    *,
    batch: int = 1000,
    totals: Callable[[int, int], None] | None = None,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Rebuild the index from the tables: clear it, then people and posts in id order,
    `batch` at a time, one transaction each. Returns how many of each were indexed.

    `totals(people, posts)` is told the counts first; `progress(kind, n)` after each
    batch. Searches meanwhile see a partial index.
    """
    async with db.transaction() as session:
        await index.clear(session)
        if totals is not None:
            totals(*await repo.counts(session))
    done = {"people": 0, "posts": 0}
    for kind in ("people", "posts"):
        last = 0
        while True:
            async with db.transaction() as session:
                if kind == "people":
                    people = await repo.people_after(session, last, batch)
                    await index.put_people(session, people)
                    ids = [p.id for p in people]
                else:
                    posts_ = await repo.posts_after(session, last, batch)
                    await index.put_posts(session, posts_)
                    ids = [p.id for p in posts_]
            if not ids:
                break
            last = ids[-1]
            done[kind] += len(ids)
            if progress is not None:
                progress(kind, len(ids))
    async with db.transaction() as session:
        await index.rebuilt(session)
    return done["people"], done["posts"]
