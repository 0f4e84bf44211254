"""Every query of the messages service.

A conversation's current members are its `conversation_members` rows; a person's
list is one index range of them (`user_id`, `activity_id`), read with the last
message and the unread count in one statement.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, delete, false, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from minifb.kit.db import Database, affected, among, insert_ignore
from minifb.models import Conversation, ConversationKind, ConversationMember, Message, User
from minifb.models.user import MessagesPolicy
from minifb.users import service as users

Member = ConversationMember


@dataclass(frozen=True, slots=True)
class Membership:
    """A conversation as its rules need it: its kind, creator, last message and members."""

    kind: ConversationKind
    created_by: int
    last_message_id: int | None
    member_ids: list[int]


@dataclass(frozen=True, slots=True)
class Stance:
    """What one person's settings and ties say about the viewer's messages."""

    messages_from: MessagesPolicy
    friend: bool
    hidden: bool


async def membership(
    session: AsyncSession, conversation_id: int, *, lock: bool = False
) -> Membership | None:
    """The conversation with its current members (joining order), or None. With `lock`,
    the conversation's row is locked until the transaction ends, so changes of its
    membership happen one at a time (the size limit, the last one out)."""
    stmt = (
        select(
            Conversation.kind,
            Conversation.created_by,
            Conversation.last_message_id,
            Member.user_id,
        )
        .outerjoin(Member, Member.conversation_id == Conversation.id)
        .where(Conversation.id == conversation_id)
        .order_by(Member.joined_at, Member.user_id)
    )
    if lock:
        await _lock(session, conversation_id)
    rows = (await session.execute(stmt)).all()
    if not rows:
        return None
    first = rows[0]
    return Membership(
        kind=first.kind,
        created_by=first.created_by,
        last_message_id=first.last_message_id,
        member_ids=[row.user_id for row in rows if row.user_id is not None],
    )


async def _lock(session: AsyncSession, conversation_id: int) -> None:
    """Take the conversation's lock before reading what to decide on. On PostgreSQL a
    row lock in a statement of its own: the reads after it see what the holder before
    committed. SQLite has one writer, but its driver runs reads before the first write
    outside the transaction: a write that changes nothing takes the write lock now."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            select(Conversation.id).where(Conversation.id == conversation_id).with_for_update()
        )
    else:
        await session.execute(delete(Conversation).where(false()))


async def is_member(session: AsyncSession, conversation_id: int, user_id: int) -> bool:
    found = await session.scalar(
        select(Member.user_id).where(
            Member.conversation_id == conversation_id, Member.user_id == user_id
        )
    )
    return found is not None


async def stances(
    session: AsyncSession, viewer_id: int, people: Collection[int]
) -> dict[int, Stance]:
    """Each existing person's `messages_from`, friendship with and block either way
    with the viewer, in one statement."""
    rows = await session.execute(
        select(
            User.id,
            User.messages_from,
            users.are_friends(viewer_id, User.id),
            users.blocked_either_way(viewer_id, User.id),
        ).where(among(session, User.id, people))
    )
    return {
        person: Stance(messages_from=policy, friend=bool(friend), hidden=bool(hidden))
        for person, policy, friend, hidden in rows
    }


async def direct_id(session: AsyncSession, pair_key: str) -> int | None:
    found: int | None = await session.scalar(
        select(Conversation.id).where(Conversation.pair_key == pair_key)
    )
    return found


async def insert_conversation(
    session: AsyncSession, row: dict[str, Any], members: Sequence[dict[str, Any]]
) -> bool:
    """Insert a conversation and its members; False (nothing written) when a direct
    conversation of the same pair exists already."""
    result = await session.execute(insert_ignore(session, Conversation).values(row))
    if not affected(result):
        return False
    await session.execute(insert(Member), list(members))
    return True


async def add_members(session: AsyncSession, members: Sequence[dict[str, Any]]) -> None:
    await session.execute(insert_ignore(session, Member), list(members))


async def remove_member(session: AsyncSession, conversation_id: int, user_id: int) -> None:
    await session.execute(
        delete(Member).where(Member.conversation_id == conversation_id, Member.user_id == user_id)
    )


async def delete_conversation(session: AsyncSession, conversation_id: int) -> None:
    await session.execute(delete(Message).where(Message.conversation_id == conversation_id))
    await session.execute(delete(Conversation).where(Conversation.id == conversation_id))


async def message_by_client_id(
    session: AsyncSession, conversation_id: int, sender_id: int, client_message_id: str
) -> Message | None:
    found: Message | None = await session.scalar(
        select(Message).where(
            Message.conversation_id == conversation_id,
            Message.sender_id == sender_id,
            Message.client_message_id == client_message_id,
        )
    )
    return found


async def insert_message(session: AsyncSession, row: dict[str, Any]) -> bool:
    """Insert a message; False when one with the same client id was there first."""
    if row["client_message_id"] is None:
        await session.execute(insert(Message).values(row))
        return True
    return bool(affected(await session.execute(insert_ignore(session, Message).values(row))))


async def note_message(
    session: AsyncSession, conversation_id: int, sender_id: int, message_id: int
) -> None:
    """Make a new message the conversation's last, every member's latest activity and
    the sender's last read. Keys only move forward, so concurrent sends need no lock."""
    await session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            or_(Conversation.last_message_id.is_(None), Conversation.last_message_id < message_id),
        )
        .values(last_message_id=message_id)
    )
    await session.execute(
        update(Member)
        .where(Member.conversation_id == conversation_id, Member.activity_id < message_id)
        .values(activity_id=message_id)
    )
    await mark_read(session, conversation_id, sender_id, message_id)


# The hot path of sending (`service.publish_message`): on PostgreSQL, the rules' checks,
# the message and everything it changes in one statement straight on the driver
# (docs/decisions/0108); no session, no ORM. The message goes in only while the
# sender is a member, no message of theirs has its client id, and (in a direct
# conversation) the other member takes it: no block either way, and unless they
# accept everyone or are friends, the sender did not start it (`service._may_write_direct`,
# which decides on every other path). Then it becomes the conversation's last, every
# member's latest activity and the sender's last read (one UPDATE of the members: a row
# may change once per statement), and its event, naming the members, goes to the outbox.
_PUBLISH_MESSAGE_PG = """
WITH facts AS (
    SELECT ARRAY(SELECT m.user_id::text FROM conversation_members m
                 WHERE m.conversation_id = c.id ORDER BY m.joined_at, m.user_id) AS members
    FROM conversations c
    WHERE c.id = $2
      AND EXISTS (SELECT 1 FROM conversation_members WHERE conversation_id = $2 AND user_id = $3)
      AND (c.kind <> 'direct' OR NOT EXISTS (
          SELECT 1 FROM conversation_members m JOIN users o ON o.id = m.user_id
          WHERE m.conversation_id = $2 AND m.user_id <> $3
            AND (EXISTS (SELECT 1 FROM blocks b
                         WHERE (b.blocker_id = $3 AND b.blocked_id = o.id)
                            OR (b.blocker_id = o.id AND b.blocked_id = $3))
                 OR (c.created_by = $3 AND o.messages_from = 'friends'
                     AND NOT EXISTS (SELECT 1 FROM friendships f
                                     WHERE f.user_id = $3 AND f.friend_id = o.id)))))
), message AS (
    INSERT INTO messages (id, conversation_id, sender_id, text, client_message_id, created_at)
    SELECT $1, $2, $3, $4, $5, $6 FROM facts
    ON CONFLICT (conversation_id, sender_id, client_message_id) DO NOTHING
    RETURNING id
), conversation AS (
    UPDATE conversations SET last_message_id = $1
    WHERE id = $2 AND (last_message_id IS NULL OR last_message_id < $1)
      AND EXISTS (SELECT 1 FROM message)
), members AS (
    UPDATE conversation_members SET
        activity_id = GREATEST(activity_id, $1),
        last_read_message_id = CASE WHEN user_id = $3
            THEN GREATEST(last_read_message_id, $1) ELSE last_read_message_id END
    WHERE conversation_id = $2 AND (activity_id < $1 OR user_id = $3)
      AND EXISTS (SELECT 1 FROM message)
), event AS (
    INSERT INTO outbox (id, type, version, occurred_at, actor_id, data)
    SELECT $7, $8, $9, $10, $3, json_build_object(
        'conversation_id', $2::text, 'member_ids', facts.members, 'message', $11::json)
    FROM message, facts
)
SELECT facts.members FROM message, facts
"""


async def publish_message(
    db: Database, row: dict[str, Any], *, event: dict[str, Any]
) -> list[str] | None:
    """Write a message (the row `service._new_message` builds) with its outbox `event`
    (whose data's `member_ids` the statement fills in), as one statement on PostgreSQL;
    returns the members' ids as the event names them. None, writing nothing, when the
    sender is not a member, a message of theirs has the same `client_message_id`, or
    the rules refuse it."""
    rows = await db.fetch(
        _PUBLISH_MESSAGE_PG,
        row["id"],
        row["conversation_id"],
        row["sender_id"],
        row["text"],
        row["client_message_id"],
        row["created_at"],
        event["id"],
        event["type"],
        event["version"],
        event["occurred_at"],
        orjson.dumps(event["data"]["message"]).decode(),
    )
    return list(rows[0][0]) if rows else None


async def mark_read(
    session: AsyncSession, conversation_id: int, user_id: int, message_id: int
) -> bool:
    """Move a member's last read message forward to `message_id`; False if it was there."""
    result = await session.execute(
        update(Member)
        .where(
            Member.conversation_id == conversation_id,
            Member.user_id == user_id,
            or_(
                Member.last_read_message_id.is_(None),
                Member.last_read_message_id < message_id,
            ),
        )
        .values(last_read_message_id=message_id)
    )
    return bool(affected(result))


async def message_in(session: AsyncSession, conversation_id: int, message_id: int) -> bool:
    found = await session.scalar(
        select(Message.id).where(
            Message.id == message_id, Message.conversation_id == conversation_id
        )
    )
    return found is not None


async def messages_page(
    session: AsyncSession, conversation_id: int, *, before: int | None, limit: int
) -> Sequence[Message]:
    """Up to `limit` messages, newest first, older than `before` when given."""
    stmt = select(Message).where(Message.conversation_id == conversation_id)
    if before is not None:
        stmt = stmt.where(Message.id < before)
    return (await session.scalars(stmt.order_by(Message.id.desc()).limit(limit))).all()


# A person's conversations: each with its last message and the viewer's unread count.

Last = aliased(Message, name="last_message")


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: int
    kind: ConversationKind
    title: str | None
    created_at: datetime
    activity_id: int
    last_message: Message | None
    unread_count: int


def _conversations(viewer_id: int) -> Select[Any]:
    unread = (
        select(func.count())
        .where(
            Message.conversation_id == Member.conversation_id,
            Message.id > func.coalesce(Member.last_read_message_id, 0),
            Message.sender_id != viewer_id,
        )
        .scalar_subquery()
    )
    return (
        select(Conversation, Member.activity_id, Last, unread.label("unread"))
        .select_from(Member)
        .join(Conversation, Conversation.id == Member.conversation_id)
        .outerjoin(Last, Last.id == Conversation.last_message_id)
        .where(Member.user_id == viewer_id)
    )


def _row(
    conversation: Conversation, activity_id: int, last: Message | None, unread: int
) -> ConversationRow:
    return ConversationRow(
        id=conversation.id,
        kind=conversation.kind,
        title=conversation.title,
        created_at=conversation.created_at,
        activity_id=activity_id,
        last_message=last,
        unread_count=unread,
    )


async def conversations_page(
    session: AsyncSession, viewer_id: int, *, before: int | None, limit: int
) -> list[ConversationRow]:
    """Up to `limit` of the viewer's conversations, newest activity first."""
    stmt = _conversations(viewer_id)
    if before is not None:
        stmt = stmt.where(Member.activity_id < before)
    rows = await session.execute(stmt.order_by(Member.activity_id.desc()).limit(limit))
    return [_row(*row) for row in rows]


async def conversation(
    session: AsyncSession, viewer_id: int, conversation_id: int
) -> ConversationRow | None:
    """One of the viewer's conversations; None when they are not a member of it."""
    row = (
        await session.execute(
            _conversations(viewer_id).where(Member.conversation_id == conversation_id)
        )
    ).first()
    return _row(*row) if row is not None else None


@dataclass(frozen=True, slots=True)
class MemberRow:
    conversation_id: int
    user_id: int
    username: str
    display_name: str
    avatar_url: str | None
    last_read_message_id: int | None


async def members_of(
    session: AsyncSession, conversation_ids: Collection[int]
) -> dict[int, list[MemberRow]]:
    """The current members of some conversations with their cards, joining order."""
    rows = await session.execute(
        select(
            Member.conversation_id,
            User.id,
            User.username,
            User.display_name,
            User.avatar_url,
            Member.last_read_message_id,
        )
        .join(User, User.id == Member.user_id)
        .where(among(session, Member.conversation_id, conversation_ids))
        .order_by(Member.conversation_id, Member.joined_at, Member.user_id)
    )
    found: dict[int, list[MemberRow]] = {}
    for row in rows:
        found.setdefault(row[0], []).append(MemberRow(*row))
    return found
