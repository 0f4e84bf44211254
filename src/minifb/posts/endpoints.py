"""HTTP routes of posts, comments and reactions (mounted under /api/v1 by `minifb.api`).

Every route needs a bearer token. A post or comment the viewer may not see
answers 404 exactly like one that does not exist. Posts are answered as
pre-serialised JSON (`rendering.py`); their shape is declared for OpenAPI only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from minifb.kit import idempotency
from minifb.kit.bare import BareApp, Declined, headers_of, json_body, send_json
from minifb.kit.deps import CacheDep, Ports, PortsDep, SessionDep
from minifb.kit.errors import Unauthorized
from minifb.kit.idempotency import IdempotencyKeyInFlight
from minifb.kit.openapi import Responses, problems
from minifb.kit.pagination import PageDep
from minifb.kit.schemas import Id, Page
from minifb.kit.security import CurrentUser, authenticate
from minifb.models.reaction import ReactionType, TargetKind
from minifb.posts import comments, reactions
from minifb.posts import service as posts
from minifb.posts.exceptions import (
    CommentNotFound,
    InvalidParent,
    NotTheCommentAuthor,
    NotThePostAuthor,
    PostNotFound,
)
from minifb.posts.schemas import (
    CommentCreate,
    CommentRead,
    CommentUpdate,
    PostCreate,
    PostRead,
    PostUpdate,
    ReactionPut,
    ReactionRead,
    ReactionsPage,
)
from minifb.users.exceptions import UserNotFound

router = APIRouter(tags=["posts"], responses=problems(Unauthorized, 503))

PostIdPath = Annotated[Id, Path(description="A post's id.")]
CommentIdPath = Annotated[Id, Path(description="A comment's id.")]
UserIdPath = Annotated[Id, Path(description="A person's id.")]
TargetIdPath = Annotated[Id, Path(description="A post's or comment's id.")]
JSON = "application/json"

_HIDDEN_POST = (PostNotFound, "No such post, or one you may not see.")
_HIDDEN_COMMENT = (CommentNotFound, "No such comment, or one you may not see.")
_POST = problems(_HIDDEN_POST)
_OWN_POST = problems(_HIDDEN_POST, (NotThePostAuthor, "You can see this post but it is not yours."))
_COMMENT = problems(_HIDDEN_COMMENT)


def _json(body: bytes, status_code: int = 200) -> Response:
    return Response(content=body, status_code=status_code, media_type=JSON)


def _no_content() -> Response:
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Posts


@router.post(
    "/posts",
    status_code=status.HTTP_201_CREATED,
    response_model=None,
    summary="Publish a post",
    response_description="The new post.",
    responses={
        201: {"model": PostRead},
        **problems(
            IdempotencyKeyInFlight,
            (UserNotFound, "Your account no longer exists."),
            (422, "The request is not valid, or its Idempotency-Key was used with another body."),
        ),
    },
)
async def create_post(
    body: PostCreate,
    request: Request,
    principal: CurrentUser,
    ports: PortsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Send a retry with the same key (1..255 printable ASCII) to get the "
            "first answer back instead of a second post; kept 24 hours, per person.",
            # Printable ASCII; HTTP itself drops spaces around a header's value.
            json_schema_extra={"pattern": "^[!-~](?:[ -~]{0,253}[!-~])?$"},
        ),
    ] = None,
) -> Response:
    """Publish a post to its `visibility`'s audience; it reaches your followers' feeds.

    `media_ids` must be empty until media uploads exist. With an
    `Idempotency-Key`, a retry of the same request answers the first answer
    again (`Idempotent-Replayed: true`) instead of publishing twice.
    """
    # One dependency for both ports: each resolved dependency costs on this hot path.
    db, cache = ports.db, ports.cache
    if idempotency_key is None:
        return _json(await _publish(ports, principal.user_id, body), status.HTTP_201_CREATED)
    answer = await posts.create_post_once(
        db,
        cache,
        principal.user_id,
        body,
        key=idempotency_key,
        fingerprint=idempotency.fingerprint("POST", request.url.path, body.model_dump(mode="json")),
    )
    response = _json(answer.body, answer.status)
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


async def _publish(ports: Ports, author_id: int, body: PostCreate) -> bytes:
    # The hot path writes in one atomic step of its own: no request session.
    return await posts.publish_post(ports.db, ports.cache, author_id, body)


class CreatePostEndpoint:
    """`POST /posts` without an `Idempotency-Key`, as a bare ASGI app served by the
    gateway's bare-routes layer: FastAPI's routing, dependency solving and request
    wrapper were two fifths of the route's time on the event loop. `create_post`
    above is its twin (docs/decisions/0109): it documents the route, serves an app
    assembled without bare routes, takes every request with an `Idempotency-Key` (its
    key row shares the post's transaction) and answers whatever this app declines;
    both publish through `_publish`.
    """

    methods = frozenset({"POST"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = headers_of(scope, b"authorization", b"content-type", b"idempotency-key")
        if b"idempotency-key" in headers:
            raise Declined()
        # In the twin's order: the body is parsed first, then the token is checked,
        # then the body's fields.
        parsed = await json_body(headers.get(b"content-type"), receive)
        ports: Ports = scope["app"].state.container
        principal = authenticate(ports.verifier, headers.get(b"authorization"))
        try:
            body = PostCreate.model_validate(parsed)
        except ValidationError:
            raise Declined() from None
        created = await _publish(ports, principal.user_id, body)
        await send_json(send, status.HTTP_201_CREATED, created)


# This module's bare routes (`gateway.bare_routes`): (path below the API prefix, app).
BARE_ROUTES: list[tuple[str, BareApp]] = [("/posts", CreatePostEndpoint())]


@router.get(
    "/posts/{post_id}",
    response_model=None,
    summary="A post",
    responses={200: {"model": PostRead, "description": "The post."}, **_POST},
)
async def get_post(
    post_id: PostIdPath, principal: CurrentUser, session: SessionDep, cache: CacheDep
) -> Response:
    """A post, with its counts and your own reaction."""
    return _json(await posts.get_post(session, cache, principal.user_id, post_id))


@router.patch(
    "/posts/{post_id}",
    response_model=None,
    summary="Edit your post",
    responses={200: {"model": PostRead, "description": "The post as it is now."}, **_OWN_POST},
)
async def update_post(
    post_id: PostIdPath,
    body: PostUpdate,
    principal: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
) -> Response:
    """Change the text and/or visibility of your post; any other field is refused (422)."""
    return _json(await posts.update_post(session, cache, principal.user_id, post_id, body))


@router.delete(
    "/posts/{post_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete your post",
    response_description="The post, its comments and their reactions are gone.",
    responses=_OWN_POST,
)
async def delete_post(
    post_id: PostIdPath, principal: CurrentUser, session: SessionDep, cache: CacheDep
) -> Response:
    """Delete your post with its comments and every reaction to them."""
    await posts.delete_post(session, cache, principal.user_id, post_id)
    return _no_content()


@router.get(
    "/users/{user_id}/posts",
    response_model=None,
    name="list_user_posts",
    summary="A person's posts",
    responses={
        200: {"model": Page[PostRead], "description": "A page of posts, newest first."},
        **problems((UserNotFound, "No such person, or a block between you.")),
    },
)
async def timeline(
    user_id: UserIdPath,
    principal: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
    page: PageDep,
) -> Response:
    """A person's posts that you may see, newest first."""
    return _json(await posts.timeline(session, cache, principal.user_id, user_id, page))


# Comments


@router.post(
    "/posts/{post_id}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentRead,
    summary="Comment on a post",
    response_description="The new comment.",
    responses=problems(
        _HIDDEN_POST,
        (
            InvalidParent,
            "The request is not valid, or its `parent_id` is not a comment on this post.",
        ),
    ),
)
async def create_comment(
    post_id: PostIdPath,
    body: CommentCreate,
    principal: CurrentUser,
    session: SessionDep,
    cache: CacheDep,
) -> CommentRead:
    """Comment on a post; with `parent_id`, reply to one of its comments (a reply to a
    reply joins the top comment's thread). A parent on another post is refused (422)."""
    return await comments.create_comment(session, cache, principal.user_id, post_id, body)


@router.get(
    "/posts/{post_id}/comments",
    response_model=Page[CommentRead],
    summary="A post's comments",
    response_description="A page of comments (or of replies), oldest first.",
    responses=problems(_HIDDEN_POST, _HIDDEN_COMMENT),
)
async def list_comments(
    post_id: PostIdPath,
    principal: CurrentUser,
    session: SessionDep,
    page: PageDep,
    parent_id: Annotated[
        Id | None,
        Query(description="Page the replies to this top comment instead."),
    ] = None,
) -> Page[CommentRead]:
    """A post's top comments, oldest first, each with its reply count; or, with
    `parent_id`, the replies to one top comment, oldest first."""
    return await comments.list_comments(
        session, principal.user_id, post_id, page, parent_id=parent_id
    )


@router.patch(
    "/comments/{comment_id}",
    response_model=CommentRead,
    summary="Edit your comment",
    response_description="The comment as it is now.",
    responses=problems(
        _HIDDEN_COMMENT, (NotTheCommentAuthor, "You can see this comment but it is not yours.")
    ),
)
async def update_comment(
    comment_id: CommentIdPath, body: CommentUpdate, principal: CurrentUser, session: SessionDep
) -> CommentRead:
    """Change the text of your comment."""
    return await comments.update_comment(session, principal.user_id, comment_id, body)


@router.delete(
    "/comments/{comment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a comment",
    response_description="The comment and its replies are gone.",
    responses=problems(
        _HIDDEN_COMMENT,
        (NotTheCommentAuthor, "The comment is neither yours nor on your post."),
    ),
)
async def delete_comment(
    comment_id: CommentIdPath, principal: CurrentUser, session: SessionDep, cache: CacheDep
) -> Response:
    """Delete your comment, or any comment on your post, with its replies."""
    await comments.delete_comment(session, cache, principal.user_id, comment_id)
    return _no_content()


# Reactions: the same three routes on posts and on comments.

TypeFilter = Annotated[ReactionType | None, Query(alias="type", description="Only this type.")]


def _reaction_routes(kind: TargetKind, prefix: str, responses: Responses) -> None:
    @router.put(
        f"{prefix}/reaction",
        response_model=ReactionRead,
        responses=responses,
        name=f"put_{kind}_reaction",
        summary=f"React to a {kind}",
        response_description="Your reaction.",
    )
    async def put_reaction(
        target_id: TargetIdPath,
        body: ReactionPut,
        principal: CurrentUser,
        session: SessionDep,
        cache: CacheDep,
    ) -> ReactionRead:
        """Set your reaction (200 `{type}`); a different type replaces the old one."""
        return await reactions.put_reaction(
            session, cache, principal.user_id, kind, target_id, body.type
        )

    @router.delete(
        f"{prefix}/reaction",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=responses,
        name=f"delete_{kind}_reaction",
        summary=f"Remove your reaction to a {kind}",
        response_description="You no longer react to it.",
    )
    async def delete_reaction(
        target_id: TargetIdPath,
        principal: CurrentUser,
        session: SessionDep,
        cache: CacheDep,
    ) -> Response:
        """Remove your reaction (204 whether or not there was one)."""
        await reactions.delete_reaction(session, cache, principal.user_id, kind, target_id)
        return _no_content()

    @router.get(
        f"{prefix}/reactions",
        response_model=ReactionsPage,
        responses=responses,
        name=f"list_{kind}_reactions",
        summary=f"Who reacted to a {kind}",
        response_description="The counts per type, and a page of who reacted.",
    )
    async def list_reactions(
        target_id: TargetIdPath,
        principal: CurrentUser,
        session: SessionDep,
        page: PageDep,
        type_: TypeFilter = None,
    ) -> ReactionsPage:
        """The counts per type, and who reacted (newest first)."""
        return await reactions.list_reactions(
            session, principal.user_id, kind, target_id, page, type_=type_
        )


_reaction_routes(TargetKind.post, "/posts/{target_id}", _POST)
_reaction_routes(TargetKind.comment, "/comments/{target_id}", _COMMENT)
