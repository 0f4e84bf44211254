"""HTTP routes of the users service (mounted under /api/v1 by `minifb.api`).

Every route needs a bearer token. Ids in paths are numeric strings: anything
else is 422, an id nobody has (or someone hidden by a block) is 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from minifb.kit.deps import SessionDep
from minifb.kit.errors import Unauthorized
from minifb.kit.openapi import problems
from minifb.kit.pagination import PageDep
from minifb.kit.schemas import NO_NUL, Id, Page, Text
from minifb.kit.security import CurrentUser
from minifb.media import service as media
from minifb.users import blocks, follows, friend_requests, friends, profiles
from minifb.users.exceptions import (
    AlreadyFriends,
    FriendRequestExists,
    FriendRequestNotFound,
    FriendRequestsNotAccepted,
    NotFriends,
    NotTheAddressee,
    NotTheSender,
    UserNotFound,
)
from minifb.users.schemas import (
    FriendRequestCreate,
    FriendRequestRead,
    PersonRead,
    RequestDirection,
    UserMe,
    UserRead,
    UserUpdate,
)

router = APIRouter(tags=["users"], responses=problems(Unauthorized, 503))

UserIdPath = Annotated[Id, Path(description="A person's id.")]
RequestIdPath = Annotated[Id, Path(description="A friend request's id.")]

_HIDDEN = (UserNotFound, "No such person, or a block between you.")
_PERSON = problems(_HIDDEN)
# Naming yourself where another person is meant.
_SELF = (422, "The request is not valid, or names yourself.")


def _no_content() -> Response:
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Profiles


@router.get(
    "/users/me",
    response_model=UserMe,
    summary="Your profile",
    response_description="Your profile.",
    responses=problems((UserNotFound, "Your account no longer exists.")),
)
async def get_me(principal: CurrentUser, session: SessionDep) -> UserMe:
    """Your own profile, with your email and settings."""
    return await profiles.get_me(session, principal.user_id)


@router.patch(
    "/users/me",
    response_model=UserMe,
    summary="Change your profile",
    response_description="Your profile as it is now.",
    responses=problems(
        (UserNotFound, "Your account no longer exists."),
        (422, "The request is not valid, or `avatar_media_id` is not your own upload."),
    ),
)
async def update_me(body: UserUpdate, principal: CurrentUser, session: SessionDep) -> UserMe:
    """Change your display name, bio, settings or profile picture (`avatar_media_id`, one
    of your uploads; null removes it); any other field is refused (422)."""
    avatar_url = None
    if body.avatar_media_id is not None:
        avatar_url = await media.avatar_url(session, principal.user_id, body.avatar_media_id)
    return await profiles.update_me(session, principal.user_id, body, avatar_url=avatar_url)


@router.get(
    "/users",
    response_model=Page[UserRead],
    name="find_user",
    summary="Find a person by username",
    response_description="A page of the one person with that username, or empty.",
)
async def lookup_user(
    username: Annotated[
        Text,
        Query(
            min_length=1,
            max_length=64,
            description="The username, in any case.",
            json_schema_extra=NO_NUL,
        ),
    ],
    principal: CurrentUser,
    session: SessionDep,
) -> Page[UserRead]:
    """Find a person by exact username (any case): zero or one item."""
    return await profiles.lookup(session, principal.user_id, username)


@router.get(
    "/users/{user_id}",
    response_model=UserRead,
    summary="A person's profile",
    response_description="Their profile.",
    responses=_PERSON,
)
async def get_user(user_id: UserIdPath, principal: CurrentUser, session: SessionDep) -> UserRead:
    """A person's public profile."""
    return await profiles.get_profile(session, principal.user_id, user_id)


# Friend requests


@router.post(
    "/friend-requests",
    status_code=status.HTTP_201_CREATED,
    response_model=FriendRequestRead,
    summary="Send a friend request",
    response_description="The request, pending, or accepted if they had asked you.",
    responses=problems(
        _HIDDEN,
        FriendRequestsNotAccepted,
        AlreadyFriends,
        FriendRequestExists,
        _SELF,
    ),
)
async def send_friend_request(
    body: FriendRequestCreate, principal: CurrentUser, session: SessionDep
) -> FriendRequestRead:
    """Ask someone to be friends (`status: "pending"`). If they had already asked you, you
    become friends at once and the answer is their request with `status: "accepted"`."""
    return await friend_requests.send(session, principal.user_id, body.user_id)


@router.get(
    "/friend-requests",
    response_model=Page[FriendRequestRead],
    summary="Your pending friend requests",
    response_description="A page of pending requests, newest first.",
)
async def list_friend_requests(
    principal: CurrentUser,
    session: SessionDep,
    page: PageDep,
    direction: RequestDirection = RequestDirection.incoming,
) -> Page[FriendRequestRead]:
    """Pending requests to you (`incoming`, the default) or from you (`outgoing`), newest first."""
    return await friend_requests.list_requests(session, principal.user_id, direction, page)


@router.post(
    "/friend-requests/{request_id}/accept",
    response_model=FriendRequestRead,
    summary="Accept a friend request",
    response_description="The request, accepted: you are friends.",
    responses=problems(NotTheAddressee, FriendRequestNotFound),
)
async def accept_friend_request(
    request_id: RequestIdPath, principal: CurrentUser, session: SessionDep
) -> FriendRequestRead:
    """Accept a request sent to you: you become friends and follow each other."""
    return await friend_requests.accept(session, principal.user_id, request_id)


@router.post(
    "/friend-requests/{request_id}/decline",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Decline a friend request",
    response_description="The request is gone; its sender is not told.",
    responses=problems(NotTheAddressee, FriendRequestNotFound),
)
async def decline_friend_request(
    request_id: RequestIdPath, principal: CurrentUser, session: SessionDep
) -> Response:
    """Decline a request sent to you."""
    await friend_requests.decline(session, principal.user_id, request_id)
    return _no_content()


@router.delete(
    "/friend-requests/{request_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Withdraw a friend request",
    response_description="The request is gone.",
    responses=problems(NotTheSender, FriendRequestNotFound),
)
async def cancel_friend_request(
    request_id: RequestIdPath, principal: CurrentUser, session: SessionDep
) -> Response:
    """Withdraw a request you sent."""
    await friend_requests.cancel(session, principal.user_id, request_id)
    return _no_content()


# Friendships


@router.get(
    "/friends/suggestions",
    response_model=Page[PersonRead],
    name="list_friend_suggestions",
    summary="People you may know",
    response_description="People, most mutual friends first.",
)
async def friend_suggestions(
    principal: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[PersonRead]:
    """People you may know: friends of your friends, most mutual friends first."""
    return await friends.suggestions(session, principal.user_id, limit=limit)


@router.delete(
    "/friends/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End a friendship",
    response_description="You are no longer friends, nor follow each other.",
    responses=problems((NotFriends, "You are not friends (nor can you be with yourself).")),
)
async def unfriend(user_id: UserIdPath, principal: CurrentUser, session: SessionDep) -> Response:
    """End a friendship; you also stop following each other."""
    await friends.unfriend(session, principal.user_id, user_id)
    return _no_content()


@router.get(
    "/users/{user_id}/friends",
    response_model=Page[PersonRead],
    summary="A person's friends",
    response_description="A page of friends, most recent friendship first.",
    responses=_PERSON,
)
async def list_friends(
    user_id: UserIdPath, principal: CurrentUser, session: SessionDep, page: PageDep
) -> Page[PersonRead]:
    """A person's friends, most recent friendship first, with mutual-friend counts."""
    return await friends.list_friends(session, principal.user_id, user_id, page)


@router.get(
    "/users/{user_id}/mutual-friends",
    response_model=Page[PersonRead],
    summary="Friends you have in common",
    response_description="A page of your mutual friends.",
    responses=_PERSON,
)
async def list_mutual_friends(
    user_id: UserIdPath, principal: CurrentUser, session: SessionDep, page: PageDep
) -> Page[PersonRead]:
    """The friends you and this person have in common."""
    return await friends.list_mutual_friends(session, principal.user_id, user_id, page)


# Follows


@router.put(
    "/users/{user_id}/follow",
    status_code=status.HTTP_204_NO_CONTENT,
    name="follow_user",
    summary="Follow a person",
    response_description="You follow them.",
    responses=problems(_HIDDEN, _SELF),
)
async def follow(user_id: UserIdPath, principal: CurrentUser, session: SessionDep) -> Response:
    """Follow someone (doing it twice changes nothing)."""
    await follows.follow(session, principal.user_id, user_id)
    return _no_content()


@router.delete(
    "/users/{user_id}/follow",
    status_code=status.HTTP_204_NO_CONTENT,
    name="unfollow_user",
    summary="Stop following a person",
    response_description="You no longer follow them.",
    responses=problems(_HIDDEN, _SELF),
)
async def unfollow(user_id: UserIdPath, principal: CurrentUser, session: SessionDep) -> Response:
    """Stop following someone; a friendship stays."""
    await follows.unfollow(session, principal.user_id, user_id)
    return _no_content()


@router.get(
    "/users/{user_id}/followers",
    response_model=Page[PersonRead],
    summary="A person's followers",
    response_description="A page of followers, newest first.",
    responses=_PERSON,
)
async def list_followers(
    user_id: UserIdPath, principal: CurrentUser, session: SessionDep, page: PageDep
) -> Page[PersonRead]:
    """Who follows this person, newest first."""
    return await follows.list_followers(session, principal.user_id, user_id, page)


@router.get(
    "/users/{user_id}/following",
    response_model=Page[PersonRead],
    summary="Whom a person follows",
    response_description="A page of the people they follow, newest first.",
    responses=_PERSON,
)
async def list_following(
    user_id: UserIdPath, principal: CurrentUser, session: SessionDep, page: PageDep
) -> Page[PersonRead]:
    """Whom this person follows, newest first."""
    return await follows.list_following(session, principal.user_id, user_id, page)


# Blocks


@router.put(
    "/users/{user_id}/block",
    status_code=status.HTTP_204_NO_CONTENT,
    name="block_user",
    summary="Block a person",
    response_description="They are blocked.",
    responses=problems((UserNotFound, "No such person, or they blocked you."), _SELF),
)
async def block(user_id: UserIdPath, principal: CurrentUser, session: SessionDep) -> Response:
    """Block someone: friendship, follows and requests between you end, and you
    disappear from each other."""
    await blocks.block(session, principal.user_id, user_id)
    return _no_content()


@router.delete(
    "/users/{user_id}/block",
    status_code=status.HTTP_204_NO_CONTENT,
    name="unblock_user",
    summary="Lift a block",
    response_description="They are no longer blocked.",
    responses=problems((UserNotFound, "No such person, or they blocked you."), _SELF),
)
async def unblock(user_id: UserIdPath, principal: CurrentUser, session: SessionDep) -> Response:
    """Lift your block (what it ended does not come back)."""
    await blocks.unblock(session, principal.user_id, user_id)
    return _no_content()


@router.get(
    "/blocks",
    response_model=Page[UserRead],
    summary="The people you blocked",
    response_description="A page of the people you blocked, most recent first.",
)
async def list_blocks(principal: CurrentUser, session: SessionDep, page: PageDep) -> Page[UserRead]:
    """The people you blocked, most recent first."""
    return await blocks.list_blocks(session, principal.user_id, page)
