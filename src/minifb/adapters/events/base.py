"""The event bus port and the event envelope (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class Event:
    """The envelope every event travels in: `{id, type, version, occurred_at, actor_id, data}`."""

    id: int
    type: str
    occurred_at: datetime
    actor_id: int | None
    data: dict[str, Any] = field(default_factory=dict)
    version: int = 1

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "id": str(self.id),
                "type": self.type,
                "version": self.version,
                "occurred_at": self.occurred_at.isoformat(),
                "actor_id": None if self.actor_id is None else str(self.actor_id),
                "data": self.data,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        body = orjson.loads(raw)
        actor = body.get("actor_id")
        return cls(
            id=int(body["id"]),
            type=body["type"],
            version=int(body.get("version", 1)),
            occurred_at=datetime.fromisoformat(body["occurred_at"]),
            actor_id=None if actor is None else int(actor),
            data=body.get("data") or {},
        )


Handler = Callable[[Event], Awaitable[None]]


class EventBus(Protocol):
    """Carries published events to the consumers subscribed to their types.

    Delivery is at least once: a consumer may see an event again (after a
    crash, a retry or a redelivery), so consumers must be idempotent.
    """

    def subscribe(self, consumer: str, types: Iterable[str], handler: Handler) -> None:
        """Register `handler` as consumer `consumer` for the given event types ("*" is all)."""

    async def publish(self, event: Event) -> None:
        """Hand an event to the bus; returns once the bus has accepted it."""

    async def start(self) -> None:
        """Begin delivering to the subscribed consumers."""

    async def drain(self) -> None:
        """Wait until every accepted event has been delivered (tests and shutdown)."""

    async def ping(self) -> None:
        """Raise if the bus is unreachable."""

    async def close(self) -> None:
        """Stop delivering and release connections."""
