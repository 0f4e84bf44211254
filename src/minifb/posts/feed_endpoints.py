"""GET /feed: the reader's news feed (DESIGN §5), mounted under /api/v1 by `minifb.api`.

The page is spliced from cached post JSON (`feed.read_feed`): no ORM objects
and no per-item validation on the hottest path. Its shape is declared for
OpenAPI only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from minifb.bootstrap import Container
from minifb.kit.pagination import PAGE_PARAMETERS_OPENAPI, page_params_from
from minifb.kit.schemas import Page
from minifb.kit.security import authenticate
from minifb.posts import feed
from minifb.posts.policy import FeedPolicy
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
    body = await _page(
        request.app.state.container, request.headers.get("authorization"), request.query_params
    )
    return Response(content=body, media_type="application/json")


async def _page(c: Container, authorization: str | None, query: Mapping[str, str]) -> bytes:
    # The hottest route reads its token and paging by hand (the same rules as
    # CurrentUser and PageDep): dependency injection cost a fifth of its time.
    # No request session either: the warm path needs no transaction.
    principal = authenticate(c, authorization)
    page = page_params_from(query)
    return await feed.read_feed(
        c.db, c.cache, _policy(c), principal.user_id, after=page.after, limit=page.limit
    )


def _policy(c: Container) -> FeedPolicy:
    s = c.settings
    return FeedPolicy(s.feed_size, s.feed_fanout_limit, s.feed_merge_authors)


class FeedEndpoint:
    """`GET /feed` as a bare ASGI app, served by the gateway's bare-routes layer
    (`gateway.bare_routes`): FastAPI's exception middleware, router and request
    wrapper were a tenth of this route's time. `get_feed` above is its twin: it
    documents the route in OpenAPI and serves an app assembled without bare
    routes; both answer through `_page`.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        query = QueryParams(scope["query_string"])
        body = await _page(scope["app"].state.container, authorization, query)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )


# This service's bare routes (`gateway.bare_routes`): (path below the API prefix, app).
BARE_ROUTES: list[tuple[str, ASGIApp]] = [("/feed", FeedEndpoint())]
