"""`GET /search`: people and posts, as the reader may see them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from minifb.kit.deps import CacheDep, SessionDep
from minifb.kit.errors import Unauthorized
from minifb.kit.openapi import problems
from minifb.kit.pagination import CURSOR_DESCRIPTION, CURSOR_SCHEMA_EXTRA, DEFAULT_LIMIT, MAX_LIMIT
from minifb.kit.schemas import NO_NUL, Text
from minifb.kit.security import CurrentUser
from minifb.search import service
from minifb.search.deps import IndexDep
from minifb.search.schemas import SearchResults
from minifb.search.service import MAX_CURSOR_LENGTH, MAX_QUERY_LENGTH, SearchType

router = APIRouter(tags=["search"], responses=problems(Unauthorized, 503))


@router.get(
    "/search",
    response_model=None,
    summary="Find people and posts",
    responses={
        200: {"model": SearchResults, "description": "The sections asked for."},
        **problems((422, "No query, a query over 200 characters, or a cursor not issued here.")),
    },
)
async def search(
    principal: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    index: IndexDep,
    q: Annotated[
        Text,
        Query(
            min_length=1,
            max_length=MAX_QUERY_LENGTH,
            description="Words to find: plain text, any characters (no query syntax).",
            json_schema_extra=NO_NUL,
        ),
    ],
    type: Annotated[
        SearchType, Query(description="Which results: `users`, `posts`, or `all` (both).")
    ] = SearchType.all,
    cursor: Annotated[
        Text | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description=CURSOR_DESCRIPTION + " Pages one type (`users` or `posts`).",
            json_schema_extra=CURSOR_SCHEMA_EXTRA,
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_LIMIT, description=f"At most this many per section (1 to {MAX_LIMIT})."),
    ] = DEFAULT_LIMIT,
) -> Response:
    """People (username and display name, typeahead prefixes) and posts (by words,
    most relevant first, then newest) that you may see: never a post you may not
    read, nor anyone blocked either way. `all` gives the first few of each."""
    body = await service.search(
        session,
        cache,
        index,
        principal.user_id,
        q,
        type_=type,
        limit=limit,
        cursor=cursor or None,
    )
    return Response(body, media_type="application/json")
