"""The search port: what every search index does, whatever engine holds it.

An index holds two kinds of documents, people and posts, and answers word
queries over them for one reader. Queries reach an index already reduced to
`words` (letters and digits only), so no engine's query syntax ever sees what
a person typed. Hits come best first: a higher `score`, then a higher id (ids
are time-ordered, so newer first); `After` is the last hit of the page before.

Privacy is the index's job at query time: `Viewer` carries the reader and
their ties (friends, people hidden either way by a block), and an index
returns only people not hidden from the reader and only posts the reader may
see (DESIGN §4). An index inside the application database applies that rule
to the live tables in the same statement instead (`needs_ties` is False).

Methods take the caller's session: an index in the application database
writes and reads in the caller's transaction (an indexed event and its
processed-event row commit together); an index elsewhere ignores it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

# Letters and digits of any script; `_` and everything else separate words, as
# the engines' own tokenizers (FTS5 unicode61, PostgreSQL's parser) split text.
_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 32


def words(query: str) -> list[str]:
    """The words of a query, lower-cased, at most `MAX_WORDS`: quotes, operators and
    any other syntax of an engine are separators here, never syntax."""
    return [w.lower() for w in _WORD.findall(query)][:MAX_WORDS]


@dataclass(frozen=True, slots=True)
class PersonDoc:
    id: int
    username: str
    display_name: str


@dataclass(frozen=True, slots=True)
class PostDoc:
    id: int
    author_id: int
    text: str
    visibility: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Viewer:
    """The reader, and their ties when the index needs them (`needs_ties`)."""

    id: int
    friends: frozenset[int] = field(default_factory=frozenset)
    hidden: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Hit:
    id: int
    score: float


@dataclass(frozen=True, slots=True)
class After:
    """Where the next page starts: after the hit with this score and id."""

    score: float
    id: int


class SearchIndex(Protocol):
    """People and posts, searchable by words, for one reader at a time."""

    @property
    def needs_ties(self) -> bool:
        """Whether queries need `Viewer.friends` and `Viewer.hidden` filled in."""
        ...

    async def put_people(self, session: AsyncSession, people: Sequence[PersonDoc]) -> None:
        """Add or replace people (by id)."""
        ...

    async def remove_person(self, session: AsyncSession, person_id: int) -> None:
        """Forget a person; nothing happens when they are not indexed."""
        ...

    async def put_posts(self, session: AsyncSession, posts: Sequence[PostDoc]) -> None:
        """Add or replace posts (by id)."""
        ...

    async def remove_post(self, session: AsyncSession, post_id: int) -> None:
        """Forget a post; nothing happens when it is not indexed."""
        ...

    async def clear(self, session: AsyncSession) -> None:
        """Forget everything (before a rebuild)."""
        ...

    async def rebuilt(self, session: AsyncSession) -> None:
        """A rebuild has put everything: make it fully searchable (statistics, refresh)."""
        ...

    async def people(
        self,
        session: AsyncSession,
        words: Sequence[str],
        viewer: Viewer,
        *,
        limit: int,
        after: After | None = None,
    ) -> list[Hit]:
        """People whose username or display name has a word starting with each of
        `words` (typeahead), not hidden from the viewer, best first."""
        ...

    async def posts(
        self,
        session: AsyncSession,
        words: Sequence[str],
        viewer: Viewer,
        *,
        limit: int,
        after: After | None = None,
    ) -> list[Hit]:
        """Posts holding every one of `words` (stemmed) that the viewer may see,
        most relevant first, then newest."""
        ...

    async def ping(self) -> None:
        """Raise if the index cannot be reached."""
        ...
