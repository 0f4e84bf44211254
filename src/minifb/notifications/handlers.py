"""The event consumer of the notifications service: who should hear of what someone did.

One consumer, `notifications`, turns events into notifications (each event
once: `kit.outbox.idempotent`; one that keeps failing is parked as a dead
letter and the others flow on). For each event it gathers the people
concerned, each with the kinds of notification they could get, most specific
first (a reply to your comment on your own post is a `comment_reply`, not
also a `post_comment`; a mention by someone commenting on your post is that
comment), then drops:

- the actor (nobody hears of their own acts) and anyone hidden from them
  (a block either way);
- the people who turned that kind off (they get the next kind they left on);
- for a mention, anyone who may not see the post or comment now (the posts
  service's rule).

Everyone left gets one notification. And when a post or a comment is
deleted, the notifications about it go too: nobody is told of what is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from minifb.adapters.events import Event, EventBus
from minifb.kit.db import Database
from minifb.kit.outbox import consume_in_batches, one_by_one
from minifb.models import NotificationType
from minifb.notifications import repository as repo
from minifb.notifications import service
from minifb.posts import service as posts
from minifb.users import service as users

CONSUMER = "notifications"


@dataclass
class Notice:
    """What one event may tell people: who acted, about what, and whom it concerns."""

    actor_id: int
    post_id: int | None = None
    comment_id: int | None = None
    # person -> the kinds they could get, most specific first
    concerned: dict[int, list[NotificationType]] = field(default_factory=dict)
    mentions: list[str] = field(default_factory=list)

    def concern(self, person: str | int | None, kind: NotificationType) -> None:
        """Note that `person` (an id, as events carry it) could get a `kind`."""
        if person is not None:
            self.concerned.setdefault(int(person), []).append(kind)


def friend_requested(event: Event) -> Notice:
    notice = Notice(actor_id=int(event.data["from_user_id"]))
    notice.concern(event.data["to_user_id"], NotificationType.friend_request)
    return notice


def friend_accepted(event: Event) -> Notice:
    notice = Notice(actor_id=int(event.data["to_user_id"]))
    notice.concern(event.data["from_user_id"], NotificationType.friend_accepted)
    return notice


def comment_created(event: Event) -> Notice:
    data = event.data
    notice = Notice(
        actor_id=int(data["author_id"]),
        post_id=int(data["post_id"]),
        comment_id=int(data["comment_id"]),
        mentions=list(data.get("mentions") or ()),
    )
    notice.concern(data.get("parent_author_id"), NotificationType.comment_reply)
    notice.concern(data["post_author_id"], NotificationType.post_comment)
    return notice


def reaction_added(event: Event) -> Notice | None:
    data = event.data
    # A reaction to a comment, or a change of type, tells nobody anything new.
    if data["target_kind"] != "post" or data.get("previous_type") is not None:
        return None
    notice = Notice(actor_id=int(data["user_id"]), post_id=int(data["post_id"]))
    notice.concern(data["target_author_id"], NotificationType.post_reaction)
    return notice


def post_created(event: Event) -> Notice:
    data = event.data
    return Notice(
        actor_id=int(data["author_id"]),
        post_id=int(data["post_id"]),
        mentions=list(data.get("mentions") or ()),
    )


NOTICES: dict[str, Callable[[Event], Notice | None]] = {
    "friend.requested": friend_requested,
    "friend.accepted": friend_accepted,
    "comment.created": comment_created,
    "reaction.added": reaction_added,
    "post.created": post_created,
}


async def deliver(session: AsyncSession, notice: Notice) -> list[int]:
    """Make the notifications a notice calls for; returns the ids made or grown."""
    if not notice.concerned and not notice.mentions:
        return []  # nobody to tell (most posts): nothing to look up
    if notice.post_id is not None and not await posts.still_there(
        session, notice.post_id, notice.comment_id
    ):
        return []  # deleted before its event was handled: nothing to tell
    people = await users.recipients(session, ids=list(notice.concerned), usernames=notice.mentions)
    muted = {person.id: person.muted for person in people}
    mentioned = [p.id for p in people if p.username in notice.mentions]
    if mentioned and notice.post_id is not None:
        seeing = await posts.who_may_see(
            session, mentioned, post_id=notice.post_id, comment_id=notice.comment_id
        )
        for person in mentioned:
            if person in seeing:
                notice.concern(person, NotificationType.mention)
    concerned = {p: kinds for p, kinds in notice.concerned.items() if p in muted}
    concerned.pop(notice.actor_id, None)
    for person in await repo.hidden_among(session, notice.actor_id, concerned):
        concerned.pop(person, None)
    made: list[int] = []
    for person, kinds in concerned.items():
        kind = next((k for k in kinds if k.value not in muted[person]), None)
        if kind is None:
            continue
        notification_id = await service.notify(
            session,
            person,
            kind,
            actor_id=notice.actor_id,
            post_id=notice.post_id,
            comment_id=notice.comment_id,
        )
        if notification_id is not None:
            made.append(notification_id)
    return made


async def forget(session: AsyncSession, event: Event) -> None:
    """Remove the notifications about a deleted post, or about a deleted comment and
    its replies (whichever comments of the post some notification names and are gone)."""
    post_id = int(event.data["post_id"])
    if event.type == "post.deleted":
        await repo.delete_about_post(session, post_id)
        return
    named = await repo.comment_ids_about(session, post_id)
    gone = named - await posts.remaining_comments(session, post_id, named)
    await repo.delete_about_comments(session, gone)


FORGETS = ("post.deleted", "comment.deleted")


async def handle(session: AsyncSession, event: Event) -> None:
    """The consumer's effect: the notifications one event calls for, or removes."""
    if event.type in FORGETS:
        await forget(session, event)
        return
    notice = NOTICES[event.type](event)
    if notice is not None:
        await deliver(session, notice)


def register(bus: EventBus, db: Database) -> None:
    """Subscribe the notifications consumer to `bus`; each event is handled once, a
    batch of them in a transaction of `db` (`workers.registry` wires it)."""
    consume_in_batches(bus, db, CONSUMER, [*NOTICES, *FORGETS], one_by_one(handle))
