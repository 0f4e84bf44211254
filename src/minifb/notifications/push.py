"""The stream's event consumer: messages, read receipts, who joined or left a conversation,
and notifications, pushed as they happen.

Each event names the people it is for (`member_ids`, `user_id`); the frame
carries the rest of its data. A push is not a stored effect: it is not
recorded as handled (`kit.outbox.idempotent`), so an event delivered twice is
pushed twice, and clients drop a frame whose message or notification id they
already have. An event whose data is not what the contract says is logged
and dropped: retrying it could not make it right.
"""

from __future__ import annotations

import logging
from typing import Any

from minifb.adapters.events import Event, EventBus
from minifb.notifications.hub import Hub

log = logging.getLogger("minifb.stream")
CONSUMER = "stream"


def _message_created(data: dict[str, Any]) -> tuple[list[int], dict[str, Any]]:
    members = [int(m) for m in data["member_ids"]]
    return members, {"conversation_id": data["conversation_id"], "message": data["message"]}


def _message_read(data: dict[str, Any]) -> tuple[list[int], dict[str, Any]]:
    members = [int(m) for m in data["member_ids"]]
    frame = {k: data[k] for k in ("conversation_id", "user_id", "message_id")}
    return members, frame


def _notification_created(data: dict[str, Any]) -> tuple[list[int], dict[str, Any]]:
    return [int(data["user_id"])], data["notification"]


def _members_changed(data: dict[str, Any]) -> tuple[list[int], dict[str, Any]]:
    members = [int(m) for m in data["member_ids"]]
    return members, {k: data[k] for k in ("conversation_id", "user_ids", "by_user_id")}


FRAMES = {
    "message.created": _message_created,
    "message.read": _message_read,
    "notification.created": _notification_created,
    "conversation.created": _members_changed,
    "conversation.members_added": _members_changed,
    "conversation.member_left": _members_changed,
}


def register(bus: EventBus, hub: Hub) -> None:
    """Subscribe the stream consumer to `bus` (`workers.registry` wires it)."""

    async def push(event: Event) -> None:
        try:
            users, data = FRAMES[event.type](event.data)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("dropped a %s event %s with bad data: %r", event.type, event.id, exc)
            return
        await hub.push(users, event.type, data, occurred_at=event.occurred_at)

    bus.subscribe(CONSUMER, list(FRAMES), push)
