"""HTTP routes of the messages service (mounted under /api/v1 by `minifb.api`).

Every route needs a bearer token. A conversation the caller is not a member of
(never was, or left) answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from pydantic import TypeAdapter, ValidationError
from starlette.types import Receive, Scope, Send

from minifb.kit.bare import BareApp, Declined, headers_of, json_body, send_json
from minifb.kit.deps import Ports, PortsDep, SessionDep
from minifb.kit.errors import Unauthorized
from minifb.kit.ids import MAX_ID
from minifb.kit.openapi import problems
from minifb.kit.pagination import PageDep
from minifb.kit.schemas import Id, Page
from minifb.kit.security import CurrentUser, authenticate
from minifb.messages import service as messages
from minifb.messages.exceptions import (
    BlockedConversation,
    ConversationNotFound,
    GroupFull,
    MessageNotInConversation,
    MessagesNotAccepted,
    NotAGroup,
)
from minifb.messages.schemas import (
    ConversationCreate,
    ConversationRead,
    MembersAdd,
    MessageCreate,
    MessageRead,
    ReadCreate,
)
from minifb.users.exceptions import UserNotFound

router = APIRouter(tags=["messages"], responses=problems(Unauthorized, 503))

ConversationIdPath = Annotated[Id, Path(description="A conversation's id.")]

_HIDDEN = (ConversationNotFound, "No such conversation, or one you are not a member of.")
_CONVERSATION = problems(_HIDDEN)
_PERSON = (UserNotFound, "A person named does not exist, or there is a block between you.")
_NOT_ACCEPTED = (
    MessagesNotAccepted,
    "A person named accepts messages from friends only, and you are not friends.",
)


@router.post(
    "/conversations",
    status_code=status.HTTP_201_CREATED,
    response_model=ConversationRead,
    summary="Start a conversation",
    response_description="The new conversation.",
    responses={
        200: {
            "model": ConversationRead,
            "description": "The direct conversation the two of you already have.",
        },
        **problems(
            _PERSON,
            _NOT_ACCEPTED,
            (422, "The request is not valid, names yourself, or gives a direct one a title."),
        ),
    },
)
async def create_conversation(
    body: ConversationCreate, response: Response, principal: CurrentUser, session: SessionDep
) -> ConversationRead:
    """With one other person, your direct conversation with them: made now (201), or the
    one you already have (200). With 2 to 49 others, a new group (201), which may have
    a title. Everyone named must accept messages from you: friends, or people whose
    `messages_from` setting is `everyone`."""
    answer = await messages.create_conversation(session, principal.user_id, body)
    if not answer.created:
        response.status_code = status.HTTP_200_OK
    result: ConversationRead = answer.body
    return result


@router.get(
    "/conversations",
    response_model=Page[ConversationRead],
    summary="Your conversations",
    response_description="A page of conversations, newest activity first.",
)
async def list_conversations(
    principal: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ConversationRead]:
    """Your conversations, the one with the latest message (or that you joined last)
    first, each with its last message and how many messages you have not read."""
    return await messages.list_conversations(session, principal.user_id, page)


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationRead,
    summary="A conversation",
    response_description="The conversation, with each member's last read message.",
    responses=_CONVERSATION,
)
async def get_conversation(
    conversation_id: ConversationIdPath, principal: CurrentUser, session: SessionDep
) -> ConversationRead:
    """A conversation you are a member of, with its members and their read receipts."""
    return await messages.get_conversation(session, principal.user_id, conversation_id)


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=Page[MessageRead],
    summary="A conversation's messages",
    response_description="A page of messages, newest first.",
    responses=_CONVERSATION,
)
async def list_messages(
    conversation_id: ConversationIdPath, principal: CurrentUser, session: SessionDep, page: PageDep
) -> Page[MessageRead]:
    """The messages of a conversation you are a member of, newest first."""
    return await messages.list_messages(session, principal.user_id, conversation_id, page)


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageRead,
    summary="Send a message",
    response_description="The new message.",
    responses={
        200: {
            "model": MessageRead,
            "description": "The message first sent with this `client_message_id`.",
        },
        **problems(
            _HIDDEN,
            (
                BlockedConversation,
                "A block between the two of you: nobody may write in this direct conversation.",
            ),
            (
                MessagesNotAccepted,
                "The other person accepts messages from friends only, and you are not friends.",
            ),
        ),
    },
)
async def send_message(
    conversation_id: ConversationIdPath,
    body: MessageCreate,
    response: Response,
    principal: CurrentUser,
    ports: PortsDep,
) -> MessageRead:
    """Write to a conversation you are a member of; every member gets it on the stream.
    Resending with the same `client_message_id` answers the first message (200)."""
    created, result = await _send(ports, principal.user_id, conversation_id, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return result


async def _send(
    ports: Ports, sender_id: int, conversation_id: int, body: MessageCreate
) -> tuple[bool, MessageRead]:
    # The hot path writes in one atomic step of its own: no request session.
    answer = await messages.publish_message(ports.db, sender_id, conversation_id, body)
    if answer.created:
        ports.metrics.messages_sent.inc()
    result: MessageRead = answer.body
    return answer.created, result


class SendMessageEndpoint:
    """`POST /conversations/{id}/messages` as a bare ASGI app, served by the gateway's
    bare-routes layer: FastAPI's routing, dependency solving and request wrapper were
    a fifth of sending's time (docs/performance.md). `send_message` above is its twin:
    it documents the route, serves an app assembled without bare routes, and answers
    whatever this app declines (a body or an id that is not plainly valid, a body that
    is not `application/json`), so every refusal keeps the framework's words; both
    send through `_send`. The token and the ports are read as `GET /feed` reads them
    (docs/decisions/0109).
    """

    methods = frozenset({"POST"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = headers_of(scope, b"authorization", b"content-type")
        # In the twin's order: the body is parsed first, then the token is checked,
        # then the id and the body's fields.
        parsed = await json_body(headers.get(b"content-type"), receive)
        ports: Ports = scope["app"].state.container
        principal = authenticate(ports.verifier, headers.get(b"authorization"))
        conversation_id = _plain_id(scope["path_params"]["conversation_id"])
        try:
            body = MessageCreate.model_validate(parsed)
        except ValidationError:
            raise Declined() from None
        created, result = await _send(ports, principal.user_id, conversation_id, body)
        await send_json(send, 201 if created else 200, _MESSAGE.dump_json(result, by_alias=True))


# What the bare app takes as it is; anything else is declined for the twin to answer.
_DIGITS = re.compile(r"[1-9][0-9]{0,18}")
_MESSAGE = TypeAdapter(MessageRead)  # how the twin's response model serialises


def _plain_id(segment: str) -> int:
    if not _DIGITS.fullmatch(segment) or int(segment) > MAX_ID:
        raise Declined()
    return int(segment)


# This service's bare routes (`gateway.bare_routes`): (path below the API prefix, app).
BARE_ROUTES: list[tuple[str, BareApp]] = [
    ("/conversations/{conversation_id}/messages", SendMessageEndpoint())
]


@router.post(
    "/conversations/{conversation_id}/read",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Mark a conversation read",
    response_description="Your read receipt is at this message, or was already past it.",
    responses=problems(
        _HIDDEN,
        (
            MessageNotInConversation,
            "The request is not valid, or `message_id` is not a message of this conversation.",
        ),
    ),
)
async def mark_conversation_read(
    conversation_id: ConversationIdPath,
    body: ReadCreate,
    principal: CurrentUser,
    session: SessionDep,
) -> Response:
    """Say you have read up to a message: your receipt moves forward to it (never back),
    and the other members learn it on the stream."""
    await messages.mark_read(session, principal.user_id, conversation_id, body.message_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/conversations/{conversation_id}/members",
    response_model=ConversationRead,
    summary="Add people to a group",
    response_description="The group with its members now.",
    responses=problems(
        _HIDDEN,
        _PERSON,
        _NOT_ACCEPTED,
        (NotAGroup, "This is a direct conversation: start a group instead."),
        GroupFull,
        (422, "The request is not valid, or names yourself."),
    ),
)
async def add_conversation_members(
    conversation_id: ConversationIdPath,
    body: MembersAdd,
    principal: CurrentUser,
    session: SessionDep,
) -> ConversationRead:
    """Add people to a group you are a member of (those in it already are skipped).
    Each must accept messages from you; a group holds at most 50 people. Newcomers
    see the group's whole history, read up to now."""
    return await messages.add_members(session, principal.user_id, conversation_id, body)


@router.delete(
    "/conversations/{conversation_id}/members/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Leave a group",
    response_description="You are no longer a member: the group is gone for you.",
    responses=problems(
        _HIDDEN, (NotAGroup, "This is a direct conversation, which cannot be left.")
    ),
)
async def leave_conversation(
    conversation_id: ConversationIdPath, principal: CurrentUser, session: SessionDep
) -> Response:
    """Leave a group: you receive and see nothing of it any more (404), unless a member
    adds you again."""
    await messages.leave(session, principal.user_id, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
