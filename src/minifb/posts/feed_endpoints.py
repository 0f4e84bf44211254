"""GET /feed: the reader's news feed (DESIGN §5), mounted under /api/v1 by `minifb.api`.

The page is spliced from cached post JSON (`feed.read_feed`): no ORM objects
and no per-item validation on the hottest path. Its shape is declared for
OpenAPI only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from minifb.kit.deps import ContainerDep
from minifb.kit.pagination import PageDep
from minifb.kit.schemas import Page
from minifb.kit.security import CurrentUser
from minifb.posts import feed
from minifb.posts.schemas import PostRead

router = APIRouter(tags=["feed"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Page[PostRead], "description": "A page of the feed, newest first."},
    401: {"description": "No valid access token."},
    422: {"description": "The request is not valid."},
}


@router.get("/feed", response_model=None, responses=_RESPONSES)
async def get_feed(principal: CurrentUser, c: ContainerDep, page: PageDep) -> Response:
    """Posts of the people you follow and your own, that you may see, newest first."""
    # No request session: the warm path needs no transaction (feed.read_feed).
    body = await feed.read_feed(
        c.db, c.cache, c.settings, principal.user_id, after=page.after, limit=page.limit
    )
    return Response(content=body, media_type="application/json")
