"""HTTP routes of posts, comments and reactions (mounted under /api/v1 by `minifb.api`).

Every route needs a bearer token. A post or comment the viewer may not see
answers 404 exactly like one that does not exist. Posts are answered as
pre-serialised JSON (`rendering.py`); their shape is declared for OpenAPI only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response, status

from minifb.kit import idempotency
from minifb.kit.deps import CacheDep, PortsDep, SessionDep
from minifb.kit.pagination import PageDep
from minifb.kit.schemas import Id, Page
from minifb.kit.security import CurrentUser
from minifb.models.reaction import ReactionType, TargetKind
from minifb.posts import comments, reactions
from minifb.posts import service as posts
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

router = APIRouter(tags=["posts"])

PostIdPath = Annotated[Id, Path(description="A post's id.")]
CommentIdPath = Annotated[Id, Path(description="A comment's id.")]
UserIdPath = Annotated[Id, Path(description="A person's id.")]
TargetIdPath = Annotated[Id, Path(description="A post's or comment's id.")]
JSON = "application/json"

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid access token."},
    422: {"description": "The request is not valid."},
}
_POST = {**_AUTH, 404: {"description": "No such post, or one you may not see."}}
_OWN_POST = {**_POST, 403: {"description": "You can see this post but it is not yours."}}
_COMMENT = {**_AUTH, 404: {"description": "No such comment, or one you may not see."}}
_OWN_COMMENT = {**_COMMENT, 403: {"description": "You can see this comment but not change it."}}


def _json(body: bytes, status_code: int = 200) -> Response:
    return Response(content=body, status_code=status_code, media_type=JSON)


def _no_content() -> Response:
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Posts


@router.post(
    "/posts",
    status_code=status.HTTP_201_CREATED,
    response_model=None,
    responses={
        **_AUTH,
        201: {"model": PostRead},
        409: {"description": "A request with this Idempotency-Key is still in progress."},
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
        ),
    ] = None,
) -> Response:
    """Publish a post. `media_ids` must be empty until media uploads exist."""
    # One dependency for both ports: each resolved dependency costs on this hot path.
    db, cache = ports.db, ports.cache
    if idempotency_key is None:
        # The hot path writes in one atomic step of its own: no request session.
        created = await posts.publish_post(db, cache, principal.user_id, body)
        return _json(created, status.HTTP_201_CREATED)
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


@router.get("/posts/{post_id}", response_model=None, responses={**_POST, 200: {"model": PostRead}})
async def get_post(
    post_id: PostIdPath, principal: CurrentUser, session: SessionDep, cache: CacheDep
) -> Response:
    """A post, with its counts and your own reaction."""
    return _json(await posts.get_post(session, cache, principal.user_id, post_id))


@router.patch(
    "/posts/{post_id}", response_model=None, responses={**_OWN_POST, 200: {"model": PostRead}}
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


@router.delete("/posts/{post_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_OWN_POST)
async def delete_post(
    post_id: PostIdPath, principal: CurrentUser, session: SessionDep, cache: CacheDep
) -> Response:
    """Delete your post with its comments and every reaction to them."""
    await posts.delete_post(session, cache, principal.user_id, post_id)
    return _no_content()


@router.get(
    "/users/{user_id}/posts",
    response_model=None,
    responses={
        **_AUTH,
        200: {"model": Page[PostRead]},
        404: {"description": "No such person, or a block between you."},
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
    responses=_POST,
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


@router.get("/posts/{post_id}/comments", response_model=Page[CommentRead], responses=_POST)
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


@router.patch("/comments/{comment_id}", response_model=CommentRead, responses=_OWN_COMMENT)
async def update_comment(
    comment_id: CommentIdPath, body: CommentUpdate, principal: CurrentUser, session: SessionDep
) -> CommentRead:
    """Change the text of your comment."""
    return await comments.update_comment(session, principal.user_id, comment_id, body)


@router.delete(
    "/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_OWN_COMMENT
)
async def delete_comment(
    comment_id: CommentIdPath, principal: CurrentUser, session: SessionDep, cache: CacheDep
) -> Response:
    """Delete your comment, or any comment on your post, with its replies."""
    await comments.delete_comment(session, cache, principal.user_id, comment_id)
    return _no_content()


# Reactions: the same three routes on posts and on comments.

TypeFilter = Annotated[ReactionType | None, Query(alias="type", description="Only this type.")]


def _reaction_routes(kind: TargetKind, prefix: str, responses: Any) -> None:
    @router.put(
        f"{prefix}/reaction",
        response_model=ReactionRead,
        responses=responses,
        name=f"put_{kind}_reaction",
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
