"""The event bus port and the event envelope (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
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
        return cls.from_dict(orjson.loads(raw))

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Event:
        """The event of its JSON object, decoded (`to_json`'s inverse)."""
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
# Takes several events at once, in the order they were published, or raises for them all.
BatchHandler = Callable[[Sequence[Event]], Awaitable[None]]


def one_at_a_time(handler: Handler) -> BatchHandler:
    """A batch handler of batches of one, for `subscribe`."""

    async def handle(events: Sequence[Event]) -> None:
        for event in events:
            await handler(event)

    return handle


class NotAllPublished(Exception):
    """A batch went out only in part: its first `published` events were accepted, the
    rest were not (a broker that went away mid-batch)."""

    def __init__(self, published: int, cause: BaseException) -> None:
        super().__init__(f"{published} published, then: {cause!r}")
        self.published = published
        self.cause = cause


async def publish_each(
    publish: Callable[[Event], Awaitable[None]], events: Sequence[Event]
) -> None:
    """`publish_many` one event after the other: for a bus that accepts each at once."""
    for done, event in enumerate(events):
        try:
            await publish(event)
        except Exception as exc:
            raise NotAllPublished(done, exc) from exc


class EventBus(Protocol):
    """Carries published events to the consumers subscribed to their types.

    Every implementation promises the following; the contract suite
    (tests/adapters/test_events.py) runs the same tests against each.

    - By type, a copy each: a consumer receives every event of the types it
      named ("*" is all) published once it is subscribed, before or after
      `start`; each consumer gets its own copy, the event as it was
      published, and a slow or failing consumer holds up no other.
    - At least once: a consumer may see an event again (after a crash, a
      retry or a redelivery), so consumers must be idempotent.
    - A handler that raises gets the event again, up to the bus's maximum
      attempts; then the event is dead-lettered (kept for inspection) and
      the consumer goes on with the next one.
    - In batches if asked (`subscribe_batches`): the handler gets what is
      waiting, and what arrives within the linger, up to its size, in order; a
      batch that raises is tried again one event at a time, each with its own
      attempts.
    - A service down is not the event's fault: a handler that raises
      `Unavailable` gets the event again after a back-off, as often as it
      takes, spending no attempt and never dead-lettered for it; the bus
      logs one line when the failures start and one when they end.
    - Order is what the implementation says: the in-process bus delivers to
      each consumer in publication order, retries and waits for a service
      included; a broker may keep order only per key (an SQS FIFO group) or
      not at all (an SQS standard queue).
    - Nothing accepted is lost on `close`, which stops waiting for a service
      that is down: the in-process bus delivers what it holds within its
      grace period; a broker's bus finishes the event in hand and gives the
      rest back to the broker, for the consumer's next process.
    """

    def subscribe(self, consumer: str, types: Iterable[str], handler: Handler) -> None:
        """Register `handler` as consumer `consumer` for the given event types ("*" is all).

        Allowed after `start`: the new consumer receives from then on.
        """

    def subscribe_batches(
        self,
        consumer: str,
        types: Iterable[str],
        handler: BatchHandler,
        *,
        size: int,
        linger: float = 0.0,
    ) -> None:
        """`subscribe`, the handler taking up to `size` events at once: those waiting
        when it is free, and those arriving within `linger` seconds of a batch's first
        (a little latency for fewer, fuller batches when events come steadily)."""

    async def publish(self, event: Event) -> None:
        """Hand an event to the bus; returns once the bus has accepted it.

        An event accepted before `start` waits for it.
        """

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Hand a batch to the bus, in order; returns once the bus has accepted all of it.

        A broker takes the batch in one go, its confirms arriving together. If
        only part was accepted, raises `NotAllPublished` saying how many of
        the first were.
        """

    async def start(self) -> None:
        """Begin delivering to the subscribed consumers."""

    async def drain(self) -> None:
        """Wait until every accepted event has been delivered (tests and shutdown)."""

    async def ping(self) -> None:
        """Raise if the bus is unreachable."""

    async def close(self) -> None:
        """Stop delivering, losing nothing that was accepted (see above), and release
        connections."""
