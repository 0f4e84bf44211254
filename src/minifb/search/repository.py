"""Every query of the search service: the database's own full-text index, and the
documents it is built from.

`DatabaseIndex` is the `SearchIndex` port on the application database: FTS5
tables on SQLite, tsvector tables with GIN indexes on PostgreSQL (migration
0009). It lives here, not under `adapters/`, because it answers each query in
one statement joined to the live `users` and `posts` tables and filtered by the
posts service's visibility rule and the users service's blocks: a post whose
visibility changed or that was deleted, or a block just made, counts at once,
before the indexer has seen the event (docs/decisions/0124).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Double,
    FromClause,
    Select,
    and_,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import NamedFromClause

from minifb.adapters.search.base import After, Hit, PersonDoc, PostDoc, Viewer
from minifb.kit.db import among
from minifb.models import Post, User
from minifb.posts import service as posts
from minifb.users import service as users

Dialect = Literal["sqlite", "postgresql"]

_PEOPLE = table("search_people", column("rowid"), column("user_id"), column("document"))
_POSTS = table("search_posts", column("rowid"), column("post_id"), column("document"))


# FTS5 tables have no unique key to conflict on: a replace is a delete, then an insert.
_PUT = {
    ("sqlite", "people"): (
        text("DELETE FROM search_people WHERE rowid = :id"),
        text("INSERT INTO search_people (rowid, username, display_name) VALUES (:id, :a, :b)"),
    ),
    ("sqlite", "posts"): (
        text("DELETE FROM search_posts WHERE rowid = :id"),
        text("INSERT INTO search_posts (rowid, text) VALUES (:id, :a)"),
    ),
    ("postgresql", "people"): (
        text(
            "INSERT INTO search_people (user_id, document)"
            " VALUES (:id, to_tsvector('simple', :doc))"
            " ON CONFLICT (user_id) DO UPDATE SET document = excluded.document"
        ),
    ),
    ("postgresql", "posts"): (
        text(
            "INSERT INTO search_posts (post_id, document)"
            " VALUES (:id, to_tsvector('english', :doc))"
            " ON CONFLICT (post_id) DO UPDATE SET document = excluded.document"
        ),
    ),
}
_REMOVE = {
    ("sqlite", "people"): text("DELETE FROM search_people WHERE rowid = :id"),
    ("sqlite", "posts"): text("DELETE FROM search_posts WHERE rowid = :id"),
    ("postgresql", "people"): text("DELETE FROM search_people WHERE user_id = :id"),
    ("postgresql", "posts"): text("DELETE FROM search_posts WHERE post_id = :id"),
}


# Posts are ranked among the newest this many that hold the words (before the
# visibility filter): ranking every match of a common word costs time in proportion
# to the corpus (2.5 s for 160,000 matches in docs/performance.md), ranking a
# recent window costs a bounded few milliseconds. Rare words are unaffected.
POST_CANDIDATES = 2000


class DatabaseIndex:
    """The search port on the application database's full-text search."""

    needs_ties = False

    def __init__(self, dialect: Dialect, *, candidates: int = POST_CANDIDATES) -> None:
        self.dialect = dialect
        self.candidates = candidates

    # Writing

    async def put_people(self, session: AsyncSession, people: Sequence[PersonDoc]) -> None:
        if not people:
            return
        if self.dialect == "sqlite":
            rows = [{"id": p.id, "a": p.username, "b": p.display_name} for p in people]
        else:
            rows = [{"id": p.id, "doc": f"{p.username} {p.display_name}"} for p in people]
        for statement in _PUT[self.dialect, "people"]:
            await session.execute(statement, rows)

    async def put_posts(self, session: AsyncSession, posts_: Sequence[PostDoc]) -> None:
        if not posts_:
            return
        key = "a" if self.dialect == "sqlite" else "doc"
        rows = [{"id": p.id, key: p.text} for p in posts_]
        for statement in _PUT[self.dialect, "posts"]:
            await session.execute(statement, rows)

    async def remove_person(self, session: AsyncSession, person_id: int) -> None:
        await session.execute(_REMOVE[self.dialect, "people"], {"id": person_id})

    async def remove_post(self, session: AsyncSession, post_id: int) -> None:
        await session.execute(_REMOVE[self.dialect, "posts"], {"id": post_id})

    async def rebuilt(self, session: AsyncSession) -> None:
        # Without statistics PostgreSQL's planner guesses a common word rare and reads
        # every match through the GIN index instead of the newest by id
        # (docs/performance.md); autovacuum would get there, later.
        if self.dialect == "postgresql":
            await session.execute(text("ANALYZE search_people, search_posts"))

    async def clear(self, session: AsyncSession) -> None:
        if self.dialect == "sqlite":
            await session.execute(text("DELETE FROM search_people"))
            await session.execute(text("DELETE FROM search_posts"))
        else:
            await session.execute(text("TRUNCATE search_people, search_posts"))

    # Reading

    async def people(
        self,
        session: AsyncSession,
        words: Sequence[str],
        viewer: Viewer,
        *,
        limit: int,
        after: After | None = None,
    ) -> list[Hit]:
        if not words:
            return []
        key, score, found = self._match(_PEOPLE, "user_id", words, prefix=True)
        statement = (
            select(User.id.label("id"), score.label("score"))
            .select_from(_PEOPLE.join(User, User.id == key))
            .where(found, users.not_hidden_from(viewer.id, User.id))
        )
        return await _page(session, statement, limit=limit, after=after)

    async def posts(
        self,
        session: AsyncSession,
        words: Sequence[str],
        viewer: Viewer,
        *,
        limit: int,
        after: After | None = None,
    ) -> list[Hit]:
        if not words:
            return []
        key, score, found = self._match(_POSTS, "post_id", words, prefix=False)
        # The newest `candidates` matches: ids are time-ordered, and both engines
        # walk matches in id order without ranking them.
        window = _POSTS.alias("window")
        window_key, _, window_found = self._match(window, "post_id", words, prefix=False)
        oldest = (
            select(window_key)
            .where(window_found)
            .order_by(window_key.desc())
            .offset(self.candidates - 1)
            .limit(1)
            .scalar_subquery()
        )
        statement = (
            select(Post.id.label("id"), score.label("score"))
            .select_from(_POSTS.join(Post, Post.id == key))
            .where(found, key >= func.coalesce(oldest, 0), posts.visible_to(viewer.id))
        )
        return await _page(session, statement, limit=limit, after=after)

    def _match(
        self, fts: NamedFromClause, key: str, words: Sequence[str], *, prefix: bool
    ) -> tuple[ColumnElement[int], ColumnElement[float], ColumnElement[bool]]:
        """The row's id, its score (higher is better) and the match condition.

        Words are letters and digits only, and quoted besides: on FTS5 as strings
        (so `NEAR`, `OR`, `NOT` are words, never operators), on PostgreSQL as
        lexemes. People match by prefix (typeahead, answered by FTS5's prefix
        indexes and by the GIN index for `:*`); posts by stemmed words.
        """
        if self.dialect == "sqlite":
            match = " ".join(f'"{w}"*' if prefix else f'"{w}"' for w in words)
            # The FTS5 table's hidden column of its own name, under an alias if any.
            table_name = "search_people" if key == "user_id" else "search_posts"
            name: ColumnClause[Any] = literal_column(f"{fts.name}.{table_name}")
            rank: ColumnClause[Any] = literal_column(fts.name)
            return fts.c.rowid, -func.bm25(rank), name.op("MATCH")(match)
        query = (
            func.to_tsquery("simple", " & ".join(f"'{w}':*" for w in words))
            if prefix
            else func.plainto_tsquery("english", " ".join(words))
        )
        score = cast(func.ts_rank(fts.c.document, query), Double)
        return fts.c[key], score, fts.c.document.op("@@")(query)

    async def ping(self) -> None:
        """The database's own readiness check covers this index."""


async def _page(
    session: AsyncSession, statement: Select[int, float], *, limit: int, after: After | None
) -> list[Hit]:
    """Best first (score, then id, both descending), after `after`, at most `limit`."""
    ranked: FromClause = statement.subquery("ranked")
    score: ColumnElement[float] = ranked.c.score
    id_: ColumnElement[int] = ranked.c.id
    outer = select(id_, score)
    if after is not None:
        outer = outer.where(or_(score < after.score, and_(score == after.score, id_ < after.id)))
    rows = await session.execute(outer.order_by(score.desc(), id_.desc()).limit(limit))
    return [Hit(id=row[0], score=float(row[1])) for row in rows]


# The documents, from the application's tables


async def person_doc(session: AsyncSession, user_id: int) -> PersonDoc | None:
    row = (
        await session.execute(
            select(User.id, User.username, User.display_name).where(User.id == user_id)
        )
    ).first()
    return PersonDoc(row[0], row[1], row[2]) if row else None


async def post_doc(session: AsyncSession, post_id: int) -> PostDoc | None:
    docs = await _post_docs(session, Post.id == post_id, limit=1)
    return docs[0] if docs else None


async def post_docs(session: AsyncSession, post_ids: Sequence[int]) -> list[PostDoc]:
    """The documents of those of `post_ids` that exist, in id order."""
    ids = set(post_ids)
    return await _post_docs(session, among(session, Post.id, ids), limit=len(ids))


async def _post_docs(
    session: AsyncSession, where: ColumnElement[bool], *, limit: int
) -> list[PostDoc]:
    rows = await session.execute(
        select(Post.id, Post.author_id, Post.text, Post.visibility, Post.created_at)
        .where(where)
        .order_by(Post.id)
        .limit(limit)
    )
    return [PostDoc(r[0], r[1], r[2], str(r[3]), r[4]) for r in rows]


async def people_after(session: AsyncSession, after_id: int, limit: int) -> list[PersonDoc]:
    """Up to `limit` people with an id above `after_id`, in id order (a rebuild's batch)."""
    rows = await session.execute(
        select(User.id, User.username, User.display_name)
        .where(User.id > after_id)
        .order_by(User.id)
        .limit(limit)
    )
    return [PersonDoc(r[0], r[1], r[2]) for r in rows]


async def posts_after(session: AsyncSession, after_id: int, limit: int) -> list[PostDoc]:
    """Up to `limit` posts with an id above `after_id`, in id order (a rebuild's batch)."""
    return await _post_docs(session, Post.id > after_id, limit=limit)


async def counts(session: AsyncSession) -> tuple[int, int]:
    """How many people and posts there are (a rebuild's progress total)."""
    people = await session.scalar(select(func.count()).select_from(User))
    posts_ = await session.scalar(select(func.count()).select_from(Post))
    return int(people or 0), int(posts_ or 0)


async def users_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, User]:
    if not ids:
        return {}
    found = await session.scalars(select(User).where(among(session, User.id, ids)))
    return {u.id: u for u in found}


async def ties(session: AsyncSession, viewer_id: int) -> Viewer:
    """The viewer with their friends and the people hidden from them (for an index
    outside the database, which cannot read the graph itself)."""
    friends = await session.scalars(users.friend_ids(viewer_id))
    hidden = await session.scalars(users.hidden_from(viewer_id))
    return Viewer(viewer_id, frozenset(friends), frozenset(hidden))
