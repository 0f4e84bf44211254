"""Conversations and messages: who may talk to whom, sending, reading, read receipts.

The rules (docs/decisions/0119):
- Only current members see anything of a conversation; anyone else, a former
  member included, gets `ConversationNotFound`, as if it did not exist.
- Starting a conversation with someone, or adding them to a group, needs that
  nobody blocks the other (a hidden person is `UserNotFound`) and that they
  accept messages from the actor: friends, or `messages_from: everyone`.
- In a direct conversation the same rule holds for each message, except that
  the one who started it accepts the other's answers; a block refuses every
  message (403). A group stays usable by all its current members.
Every message writes `message.created`, every read that moves a receipt
`message.read`, a new conversation `conversation.created`, people added
`conversation.members_added` and a member leaving `conversation.member_left`,
in the transaction of the change (a message sent on PostgreSQL: in the one
statement that writes it, `publish_message`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.kit.db import Database, utcnow
from minifb.kit.ids import new_id
from minifb.kit.outbox import event_row, record_event
from minifb.kit.pagination import PageParams, page_of
from minifb.kit.schemas import Page
from minifb.media import service as media
from minifb.media.schemas import MediaCard
from minifb.messages import repository as repo
from minifb.messages.exceptions import (
    BlockedConversation,
    ConversationNotFound,
    GroupFull,
    InvalidField,
    MessageNotInConversation,
    MessagesNotAccepted,
    NotAGroup,
)
from minifb.messages.schemas import (
    GROUP_MAX,
    ConversationCreate,
    ConversationRead,
    MemberCard,
    MemberRead,
    MembersAdd,
    MessageCreate,
    MessageRead,
)
from minifb.models import ConversationKind, Message
from minifb.models.user import MessagesPolicy
from minifb.users.service import UserNotFound


@dataclass(frozen=True, slots=True)
class Answer:
    """A conversation or message, and whether this request made it (201) or found it (200)."""

    body: Any
    created: bool


def message_read(message: Message, media_cards: Sequence[MediaCard] = ()) -> MessageRead:
    """A message as members see it; its images are `media_cards` (a conversation's last
    message is shown without them: open the conversation to see them)."""
    return MessageRead(
        id=message.id,
        conversation_id=message.conversation_id,
        sender_id=message.sender_id,
        text=message.text,
        media=list(media_cards),
        client_message_id=message.client_message_id,
        created_at=message.created_at,
    )


async def _may_reach(
    session: AsyncSession, actor_id: int, people: Iterable[int], *, loc: list[str]
) -> None:
    """Refuse people the actor may not bring into a conversation: missing or hidden
    (404), or accepting messages from friends only when they are not friends (403)."""
    people = list(people)
    if actor_id in people:
        raise InvalidField("Name the other people, not yourself.", loc)
    stances = await repo.stances(session, actor_id, people)
    for person in people:
        stance = stances.get(person)
        if stance is None or stance.hidden:
            raise UserNotFound()
    for stance in stances.values():
        if stance.messages_from == MessagesPolicy.friends and not stance.friend:
            raise MessagesNotAccepted()


async def _member_of(
    session: AsyncSession, viewer_id: int, conversation_id: int, *, lock: bool = False
) -> repo.Membership:
    found = await repo.membership(session, conversation_id, lock=lock)
    if found is None or viewer_id not in found.member_ids:
        raise ConversationNotFound()
    return found


async def members_if_member(
    session: AsyncSession, conversation_id: int, user_id: int
) -> list[int] | None:
    """The ids of a conversation's current members when `user_id` is one of them, else
    None, whether the conversation exists or not (the stream's `typing` relay)."""
    found = await repo.membership(session, conversation_id)
    if found is None or user_id not in found.member_ids:
        return None
    return list(found.member_ids)


async def _read(session: AsyncSession, viewer_id: int, conversation_id: int) -> ConversationRead:
    row = await repo.conversation(session, viewer_id, conversation_id)
    if row is None:
        raise ConversationNotFound()
    return _conversations([row], await repo.members_of(session, [row.id]))[0]


def _conversations(
    rows: list[repo.ConversationRow], members: dict[int, list[repo.MemberRow]]
) -> list[ConversationRead]:
    return [
        ConversationRead(
            id=row.id,
            kind=row.kind,
            title=row.title,
            created_at=row.created_at,
            members=[
                MemberRead(
                    user=MemberCard(
                        id=m.user_id,
                        username=m.username,
                        display_name=m.display_name,
                        avatar_url=m.avatar_url,
                    ),
                    last_read_message_id=m.last_read_message_id,
                )
                for m in members.get(row.id, [])
            ],
            last_message=message_read(row.last_message) if row.last_message else None,
            unread_count=row.unread_count,
        )
        for row in rows
    ]


async def create_conversation(
    session: AsyncSession, viewer_id: int, body: ConversationCreate
) -> Answer:
    """Start a conversation. One other person: their direct conversation with the viewer,
    made now (created) or found as it is (the pair has one). More: a new group."""
    people = body.participant_ids
    direct = len(people) == 1
    if direct and body.title is not None:
        raise InvalidField("A direct conversation has no title.", ["body", "title"])
    pair_key = ":".join(map(str, sorted([viewer_id, people[0]]))) if direct else None
    if pair_key is not None:
        if viewer_id == people[0]:
            raise InvalidField("Name the other people, not yourself.", ["body", "participant_ids"])
        existing = await repo.direct_id(session, pair_key)
        if existing is not None:
            return Answer(await _read(session, viewer_id, existing), created=False)
    await _may_reach(session, viewer_id, people, loc=["body", "participant_ids"])
    conversation_id, now = new_id(), utcnow()
    row = {
        "id": conversation_id,
        "kind": ConversationKind.direct if direct else ConversationKind.group,
        "title": body.title,
        "created_by": viewer_id,
        "pair_key": pair_key,
        "last_message_id": None,
        "created_at": now,
    }
    members = [
        _member(conversation_id, person, conversation_id, None) for person in [viewer_id, *people]
    ]
    if not await repo.insert_conversation(session, row, members):
        # The pair's conversation was made by a request that ran at the same time.
        existing = await repo.direct_id(session, pair_key or "")
        if existing is None:  # pragma: no cover - the conflict names an existing row
            raise ConversationNotFound()
        return Answer(await _read(session, viewer_id, existing), created=False)
    _members_changed(
        session,
        "conversation.created",
        viewer_id,
        conversation_id,
        member_ids=[viewer_id, *people],
        user_ids=people,
    )
    return Answer(await _read(session, viewer_id, conversation_id), created=True)


def _members_changed(
    session: AsyncSession,
    type_: str,
    actor_id: int,
    conversation_id: int,
    *,
    member_ids: Sequence[int],
    user_ids: Sequence[int],
) -> None:
    """Record who joined or left a conversation (`user_ids`), for its members now and the
    one who left (`member_ids`): their lists and open conversations change."""
    record_event(
        session,
        type_,
        actor_id=actor_id,
        data={
            "conversation_id": str(conversation_id),
            "member_ids": [str(m) for m in member_ids],
            "user_ids": [str(u) for u in user_ids],
            "by_user_id": str(actor_id),
        },
    )


def _member(
    conversation_id: int, user_id: int, activity_id: int, last_read: int | None
) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "user_id": user_id,
        "activity_id": activity_id,
        "last_read_message_id": last_read,
        "joined_at": utcnow(),
    }


async def get_conversation(
    session: AsyncSession, viewer_id: int, conversation_id: int
) -> ConversationRead:
    """One of the viewer's conversations, with every member's last read message."""
    return await _read(session, viewer_id, conversation_id)


async def list_conversations(
    session: AsyncSession, viewer_id: int, params: PageParams
) -> Page[ConversationRead]:
    """The viewer's conversations, newest activity first: two statements per page."""
    rows = await repo.conversations_page(
        session, viewer_id, before=params.after, limit=params.limit + 1
    )
    items, cursor = page_of(rows, params, key=lambda row: row.activity_id)
    members = await repo.members_of(session, [row.id for row in items]) if items else {}
    return Page(items=_conversations(items, members), next_cursor=cursor)


async def publish_message(
    db: Database, viewer_id: int, conversation_id: int, body: MessageCreate
) -> Answer:
    """`send_message` without a request session, the hot path of sending: on PostgreSQL
    one statement checks the rules and writes the message, its effects and its event
    (docs/decisions/0108). What it does not write (a message with images, a resend, a
    refusal, a conversation the viewer is not in), and everything on SQLite, takes
    `send_message` in a transaction of its own, which says why."""
    if db.dialect == "postgresql" and not body.media_ids:
        row, read, event = _new_message(viewer_id, conversation_id, body, ())
        members = await repo.publish_message(db, row, event=event)
        if members is not None:
            event["data"]["member_ids"] = members
            db.committed([event])
            return Answer(read, created=True)
    async with db.transaction() as session:
        return await send_message(session, viewer_id, conversation_id, body)


async def send_message(
    session: AsyncSession, viewer_id: int, conversation_id: int, body: MessageCreate
) -> Answer:
    """Write a message as a member; emits `message.created`. A resend with the same
    `client_message_id` answers the first message (not created) and writes nothing."""
    found = await _member_of(session, viewer_id, conversation_id)
    client_id = body.client_message_id
    if client_id is not None:
        first = await repo.message_by_client_id(session, conversation_id, viewer_id, client_id)
        if first is not None:
            return Answer(await _with_media(session, first), created=False)
    if found.kind == ConversationKind.direct:
        others = [m for m in found.member_ids if m != viewer_id]
        stances = await repo.stances(session, viewer_id, others)
        _may_write_direct(viewer_id, found, stances.get(others[0]) if others else None)
    row, read, event = _new_message(viewer_id, conversation_id, body, found.member_ids)
    if not await repo.insert_message(session, row):
        # The same resend raced this one and won: answer its message.
        first = await repo.message_by_client_id(
            session, conversation_id, viewer_id, client_id or ""
        )
        if first is None:  # pragma: no cover - the conflict names an existing row
            raise ConversationNotFound()
        return Answer(await _with_media(session, first), created=False)
    await repo.note_message(session, conversation_id, viewer_id, row["id"])
    cards = await media.attach(
        session, viewer_id, body.media_ids, message_id=row["id"], conversation_id=conversation_id
    )
    if cards:
        read = read.model_copy(update={"media": list(cards)})
        event["data"]["message"] = read.model_dump(mode="json")
    record_event(session, event["type"], actor_id=viewer_id, data=event["data"])
    return Answer(read, created=True)


def _new_message(
    viewer_id: int, conversation_id: int, body: MessageCreate, member_ids: Sequence[int]
) -> tuple[dict[str, Any], MessageRead, dict[str, Any]]:
    """A new message's row, how members see it (without images), and its `message.created`."""
    row: dict[str, Any] = {
        "id": new_id(),
        "conversation_id": conversation_id,
        "sender_id": viewer_id,
        "text": body.text,
        "client_message_id": body.client_message_id,
        "created_at": utcnow(),
    }
    read = message_read(Message(**row))
    event = event_row(
        "message.created",
        actor_id=viewer_id,
        data={
            "conversation_id": str(conversation_id),
            "member_ids": [str(m) for m in member_ids],
            "message": read.model_dump(mode="json"),
        },
    )
    return row, read, event


async def _with_media(session: AsyncSession, message: Message) -> MessageRead:
    cards = await media.cards_of_messages(session, [message.id])
    return message_read(message, cards.get(message.id, ()))


def _may_write_direct(viewer_id: int, found: repo.Membership, other: repo.Stance | None) -> None:
    """Refuse a message in a direct conversation that `other`, the other member (None
    when their account is gone: nobody to refuse), does not take."""
    if other is None:
        return
    if other.hidden:
        raise BlockedConversation()
    # The one who started it accepts the answers.
    if (
        other.messages_from == MessagesPolicy.friends
        and not other.friend
        and found.created_by == viewer_id
    ):
        raise MessagesNotAccepted()


async def list_messages(
    session: AsyncSession, viewer_id: int, conversation_id: int, params: PageParams
) -> Page[MessageRead]:
    """A conversation's messages, newest first, for a current member."""
    if not await repo.is_member(session, conversation_id, viewer_id):
        raise ConversationNotFound()
    rows = await repo.messages_page(
        session, conversation_id, before=params.after, limit=params.limit + 1
    )
    items, cursor = page_of(rows, params, key=lambda message: message.id)
    # The page's images: one query per page.
    cards = await media.cards_of_messages(session, [m.id for m in items])
    return Page(items=[message_read(m, cards.get(m.id, ())) for m in items], next_cursor=cursor)


async def mark_read(
    session: AsyncSession, viewer_id: int, conversation_id: int, message_id: int
) -> None:
    """Move the viewer's read receipt forward to a message of the conversation; emits
    `message.read` when it moved (reading an older message changes nothing)."""
    found = await _member_of(session, viewer_id, conversation_id)
    if not await repo.message_in(session, conversation_id, message_id):
        raise MessageNotInConversation()
    if await repo.mark_read(session, conversation_id, viewer_id, message_id):
        record_event(
            session,
            "message.read",
            actor_id=viewer_id,
            data={
                "conversation_id": str(conversation_id),
                "member_ids": [str(m) for m in found.member_ids],
                "user_id": str(viewer_id),
                "message_id": str(message_id),
            },
        )


async def add_members(
    session: AsyncSession, viewer_id: int, conversation_id: int, body: MembersAdd
) -> ConversationRead:
    """Add people to a group the viewer is in; those already members are skipped.
    Each newcomer must accept the viewer's messages, and a group holds at most 50."""
    found = await _member_of(session, viewer_id, conversation_id, lock=True)
    if found.kind != ConversationKind.group:
        raise NotAGroup()
    newcomers = [p for p in body.user_ids if p not in found.member_ids]
    if viewer_id in body.user_ids:
        raise InvalidField("Name the other people, not yourself.", ["body", "user_ids"])
    await _may_reach(session, viewer_id, newcomers, loc=["body", "user_ids"])
    if len(found.member_ids) + len(newcomers) > GROUP_MAX:
        raise GroupFull(GROUP_MAX)
    if newcomers:
        # Joining is activity for the newcomer; what was said before is read.
        await repo.add_members(
            session,
            [_member(conversation_id, p, new_id(), found.last_message_id) for p in newcomers],
        )
        _members_changed(
            session,
            "conversation.members_added",
            viewer_id,
            conversation_id,
            member_ids=[*found.member_ids, *newcomers],
            user_ids=newcomers,
        )
    return await _read(session, viewer_id, conversation_id)


async def leave(session: AsyncSession, viewer_id: int, conversation_id: int) -> None:
    """Leave a group: from now on it does not exist for the viewer. The last one to
    leave takes it with them."""
    found = await _member_of(session, viewer_id, conversation_id, lock=True)
    if found.kind != ConversationKind.group:
        raise NotAGroup()
    await repo.remove_member(session, conversation_id, viewer_id)
    if found.member_ids == [viewer_id]:
        await repo.delete_conversation(session, conversation_id)
    _members_changed(
        session,
        "conversation.member_left",
        viewer_id,
        conversation_id,
        member_ids=found.member_ids,
        user_ids=[viewer_id],
    )
