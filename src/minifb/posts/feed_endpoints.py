"""GET /feed: the reader's news feed (DESIGN §5), mounted under /api/v1 by `minifb.api`.

The page is spliced from cached post JSON (`feed.read_feed`): no ORM objects
and no per-item validation on the hottest path. Its shape is declared for
OpenAPI only.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from minifb.bootstrap import Container
from minifb.kit.pagination import PAGE_PARAMETERS_OPENAPI, page_params_from
from minifb.kit.schemas import Page
from minifb.kit.security import authenticate
from minifb.posts import feed
from minifb.posts.schemas import PostRead

router = APIRouter(tags=["feed"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Page[PostRead], "description": "A page of the feed, newest first."},
    401: {"description": "No valid access token."},
    422: {"description": "The request is not valid."},
}


@router.get(
    "/feed",
    response_model=None,
    responses=_RESPONSES,
    openapi_extra={"parameters": PAGE_PARAMETERS_OPENAPI, "security": [{"HTTPBearer": []}]},
)
async def get_feed(request: Request) -> Response:
    """Posts of the people you follow and your own, that you may see, newest first."""
    # The hottest route reads its token and paging by hand (the same rules as
    # CurrentUser and PageDep): dependency injection cost a fifth of its time.
    # No request session either: the warm path needs no transaction.
    c: Container = request.app.state.container
    principal = authenticate(c, request.headers.get("authorization"))
    page = page_params_from(request.query_params)
    body = await feed.read_feed(
        c.db, c.cache, c.settings, principal.user_id, after=page.after, limit=page.limit
    )
    return Response(content=body, media_type="application/json")
