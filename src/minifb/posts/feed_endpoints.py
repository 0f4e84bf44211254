"""GET /feed: the reader's news feed (DESIGN §5), mounted under /api/v1 by `minifb.api`.

The page is spliced from cached post JSON (`feed.read_feed`): no ORM objects
and no per-item validation on the hottest path. Its shape is declared for
OpenAPI only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from fastapi import APIRouter, Request, Response
from starlette.datastructures import QueryParams
from starlette.types import Receive, Scope, Send

from minifb.adapters.cache import Cache
from minifb.kit.bare import BareApp
from minifb.kit.db import Database
from minifb.kit.errors import Unauthorized
from minifb.kit.openapi import problems
from minifb.kit.pagination import PAGE_PARAMETERS_OPENAPI, page_params_from
from minifb.kit.schemas import Page
from minifb.kit.security import TokenVerifier, authenticate
from minifb.posts import feed
from minifb.posts.policy import FeedPolicy
from minifb.posts.schemas import PostRead

router = APIRouter(tags=["feed"], responses=problems(Unauthorized, 503))


class FeedPorts(Protocol):
    """What the feed route reads of the container (`bootstrap.Container` provides it)."""

    @property
    def verifier(self) -> TokenVerifier: ...

    @property
    def db(self) -> Database: ...

    @property
    def cache(self) -> Cache: ...

    @property
    def feed_policy(self) -> FeedPolicy: ...


@router.get(
    "/feed",
    response_model=None,
    summary="Your news feed",
    # Its parameters and its 422 are read by hand (`_page`), so they are declared here.
    responses={
        200: {"model": Page[PostRead], "description": "A page of the feed, newest first."},
        **problems(422),
    },
    openapi_extra={"parameters": PAGE_PARAMETERS_OPENAPI, "security": [{"HTTPBearer": []}]},
)
async def get_feed(request: Request) -> Response:
    """Posts of the people you follow and your own, that you may see, newest first.

    Page through it with `next_cursor`; a post published meanwhile shows on the
    next read from the top, never in the middle of a page.
    """
    body = await _page(
        request.app.state.container, request.headers.get("authorization"), request.query_params
    )
    return Response(content=body, media_type="application/json")


async def _page(ports: FeedPorts, authorization: str | None, query: Mapping[str, str]) -> bytes:
    # The hottest route reads its token and paging by hand (the same rules as
    # CurrentUser and PageDep), and its ports straight from the app's container
    # (docs/decisions/0109): dependency injection cost a fifth of its time.
    # No request session either: the warm path needs no transaction.
    principal = authenticate(ports.verifier, authorization)
    page = page_params_from(query)
    return await feed.read_feed(
        ports.db,
        ports.cache,
        ports.feed_policy,
        principal.user_id,
        after=page.after,
        limit=page.limit,
    )


class FeedEndpoint:
    """`GET /feed` as a bare ASGI app, served by the gateway's bare-routes layer
    (`gateway.bare_routes`): FastAPI's exception middleware, router and request
    wrapper were a tenth of this route's time. `get_feed` above is its twin: it
    documents the route in OpenAPI and serves an app assembled without bare
    routes; both answer through `_page`.
    """

    methods = frozenset({"GET", "HEAD"})

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
BARE_ROUTES: list[tuple[str, BareApp]] = [("/feed", FeedEndpoint())]
