"""RabbitMQ event bus (aio-pika): a topic exchange routed by event type, a queue per consumer.

Topology, all durable, named after `prefix` (`mini-facebook-` by default,
the names of the AWS tier's topic and queues):

- the exchange `{prefix}events`, of type topic: an event goes out with its
  type as routing key (`post.created`), persistent, and `publish` returns
  once the broker has confirmed it (publisher confirms); `publish_many` sends
  each run of up to `bundle` consecutive events of one type as one message,
  a JSON array (docs/decisions/0131);
- a queue `{prefix}{consumer}` per consumer, bound by each type it named
  (`#` for "*"): every process running that consumer takes from the same
  queue, so the consumers of several processes share the work;
- a queue `{prefix}{consumer}.dead` of what the consumer gave up on, each
  message with the error, the consumer and the attempts in its headers.

A consumer's events are handled in the order they arrive, one at a time or
in batches of what the process holds (`subscribe_batches`), with `prefetch`
messages at most held in the process; a message is acknowledged once its
events' handler has returned (its transaction committed), so a process that
dies mid-handler leaves it to the broker to deliver again. The tries are
`delivery`'s: a failing batch is tried one event at a time, a failing event
again with a doubling delay up to `max_attempts` tries, then the event goes
to the dead-letter queue alone (confirmed) and its message is acknowledged
once its other events are handled; a handler that finds a service
`Unavailable` spends no attempt and is tried again after a back-off as long as
it takes. See docs/decisions/0126 for why retries wait in the process rather
than in delay queues of the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aio_pika
import orjson
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
    HeadersType,
)

from minifb.adapters.aio import cancel_and_wait, finish_or_cancel
from minifb.adapters.events.base import (
    BatchHandler,
    Event,
    Handler,
    NotAllPublished,
    one_at_a_time,
)
from minifb.adapters.events.delivery import Delivery, NotHandled, batch_from
from minifb.adapters.resilience import Backoff, Unavailable

log = logging.getLogger("minifb.events")

EVENTS = "events"  # the service's name in `Unavailable` and readiness
ERROR_LENGTH = 2000  # what of an error's text a dead letter keeps
# Connection and channel errors: the broker is down or went away.
_BROKER_ERRORS = (aio_pika.exceptions.AMQPError, ConnectionError, OSError, TimeoutError)
C = TypeVar("C", bound=AbstractConnection)


@dataclass
class _Consumer:
    name: str
    types: frozenset[str]
    handler: BatchHandler
    size: int  # the most messages handed over at once
    linger: float  # how long a batch waits for more after its first message
    backoff: Backoff  # paces the retries while a service the handler needs is down
    # Delivered messages waiting in this process; None asks the delivery task to stop.
    inbox: asyncio.Queue[AbstractIncomingMessage | None] = field(default_factory=asyncio.Queue)
    channel: AbstractChannel | None = None
    queue: AbstractQueue | None = None
    declared: asyncio.Task[None] | None = None
    consuming: bool = False
    tag: str | None = None
    task: asyncio.Task[None] | None = None
    handling: bool = False

    @property
    def routing_keys(self) -> list[str]:
        return ["#"] if "*" in self.types else sorted(self.types)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message a consumer gave up on, as its dead-letter queue holds it."""

    consumer: str
    event: Event | None  # None: a body that is no event (it was parked unread)
    error: str
    attempts: int
    event_id: str | None = None  # the message's id, the event's: `send_back` finds it by it
    type: str | None = None


class RabbitMQEventBus:
    """Publishes events to a RabbitMQ topic exchange and delivers each consumer's queue."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "mini-facebook-",
        max_attempts: int = 5,
        retry_delay: float = 0.05,
        backoff: tuple[float, float] = (0.5, 30.0),
        prefetch: int = 512,
        bundle: int = 100,
        timeout: float = 5.0,
    ) -> None:
        """A failing handler is tried `max_attempts` times, `retry_delay` seconds apart
        and doubling, then dead-lettered; one that finds a service `Unavailable` is
        retried without end, waiting from `backoff[0]` up to `backoff[1]` seconds.
        `publish_many` sends up to `bundle` events of a type in one message.
        `timeout` bounds connecting, and each publish's wait for its confirm."""
        self._url = url
        self._prefix = prefix
        self._backoff = backoff
        self._prefetch = prefetch
        self._bundle = bundle
        self._timeout = timeout
        self._consumers: dict[str, _Consumer] = {}
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._publisher: AbstractChannel | None = None
        self._connecting = asyncio.Lock()
        self._started = False
        self._starting: asyncio.Task[None] | None = None  # while the broker is down at start
        self._closing = asyncio.Event()
        self._delivery = Delivery(
            max_attempts=max_attempts, retry_delay=retry_delay, closing=self._closing
        )

    # --- names ---------------------------------------------------------------------------

    @property
    def exchange_name(self) -> str:
        return f"{self._prefix}events"

    def queue_name(self, consumer: str) -> str:
        return f"{self._prefix}{consumer}"

    def dead_letter_queue_name(self, consumer: str) -> str:
        return f"{self._prefix}{consumer}.dead"

    def queue_names(self) -> list[str]:
        """Every queue of the consumers subscribed here (tests delete them)."""
        return [
            name
            for consumer in self._consumers
            for name in (self.queue_name(consumer), self.dead_letter_queue_name(consumer))
        ]

    # --- the port ------------------------------------------------------------------------

    def subscribe(self, consumer: str, types: Iterable[str], handler: Handler) -> None:
        self.subscribe_batches(consumer, types, one_at_a_time(handler), size=1)

    def subscribe_batches(
        self,
        consumer: str,
        types: Iterable[str],
        handler: BatchHandler,
        *,
        size: int,
        linger: float = 0.0,
    ) -> None:
        """A batch holds at most the prefetch: what the broker lets a consumer hold."""
        if consumer in self._consumers:
            raise ValueError(f"consumer {consumer!r} is subscribed already")
        if not 1 <= size <= self._prefetch:
            raise ValueError(f"size must be 1 to the prefetch, {self._prefetch}")
        first, cap = self._backoff
        entry = _Consumer(
            consumer,
            frozenset(types),
            handler,
            size,
            linger,
            Backoff(f"consumer {consumer}", log, first=first, cap=cap),
        )
        self._consumers[consumer] = entry
        if self._connection is not None:
            # Connected already: its queue is declared now, and a publish waits for it.
            entry.declared = asyncio.create_task(self._declare(entry), name=f"declare:{consumer}")

    async def publish(self, event: Event) -> None:
        """Returns once the broker has confirmed the event; `Unavailable` if it cannot."""
        exchange = await self._ready()
        try:
            await self._send(exchange, [event])
        except _BROKER_ERRORS as exc:
            raise Unavailable(EVENTS) from exc

    async def publish_many(self, events: Sequence[Event]) -> None:
        """All of them sent at once, in order, on the one channel, in `bundles`; returns
        once the broker has confirmed every one (`NotAllPublished`: how many of the first
        it had)."""
        try:
            exchange = await self._ready()
        except Unavailable as exc:
            raise NotAllPublished(0, exc) from exc
        runs = bundles(events, self._bundle)
        sent = await asyncio.gather(
            *(self._send(exchange, run) for run in runs), return_exceptions=True
        )
        done = 0
        for run, outcome in zip(runs, sent, strict=True):
            if isinstance(outcome, BaseException):
                cause = Unavailable(EVENTS) if isinstance(outcome, _BROKER_ERRORS) else outcome
                raise NotAllPublished(done, cause) from outcome
            done += len(run)

    async def _send(self, exchange: AbstractExchange, events: Sequence[Event]) -> None:
        """One message of `events`, all of one type."""
        # Not mandatory: an event no consumer listens to is dropped, not returned.
        await exchange.publish(
            _message(events), routing_key=events[0].type, mandatory=False, timeout=self._timeout
        )

    async def start(self) -> None:
        """Connect and start consuming; a broker that is down now does not stop the
        process from starting: the consumers start once it answers."""
        self._closing.clear()
        self._started = True
        try:
            await self._ready()
        except Unavailable as exc:
            log.warning("the broker does not answer (%r): consumers start once it does", exc)
            self._starting = asyncio.create_task(self._start_when_reachable(), name="bus-start")
            return
        for entry in self._consumers.values():
            await self._consume(entry)

    async def _start_when_reachable(self) -> None:
        backoff = Backoff("the broker", log, first=0.5, cap=10.0)
        while not self._closing.is_set():
            try:
                await self._ready()
            except Unavailable as exc:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), backoff.failure(exc))
                continue
            backoff.success()
            for entry in self._consumers.values():
                await self._consume(entry)
            return

    async def drain(self) -> None:
        """Wait until no queue of the consumers running here holds a message and none is
        being handled (seen twice, 20 ms apart: a message on its way in counts in neither)."""
        idle_in_a_row = 0
        while idle_in_a_row < 2:
            idle = True
            for entry in self._consumers.values():
                if entry.task is None or entry.channel is None:
                    continue
                # On the channel under aio-pika's: its passive declare answers from a cache.
                underlay = await entry.channel.get_underlay_channel()
                declared = await underlay.queue_declare(self.queue_name(entry.name), passive=True)
                waiting = declared.message_count or 0
                if waiting or entry.inbox.qsize() or entry.handling:
                    idle = False
            idle_in_a_row = idle_in_a_row + 1 if idle else 0
            await asyncio.sleep(0.02)

    async def ping(self) -> None:
        await self._ready()
        if self._connection is None or not self._connection.connected.is_set():
            raise Unavailable(EVENTS)

    async def close(self, *, grace: float = 5.0) -> None:
        """Stop taking messages, finish the one in hand (within `grace` seconds) and give
        the rest back to the broker, which delivers them to the next consumer."""
        self._closing.set()  # a handler waiting for a service stops waiting
        if self._starting is not None:
            await cancel_and_wait(self._starting, grace=1.0)
            self._starting = None
        running = [c for c in self._consumers.values() if c.task is not None]
        for entry in running:
            if entry.tag is not None and entry.queue is not None:
                with contextlib.suppress(*_BROKER_ERRORS):
                    await entry.queue.cancel(entry.tag)
            entry.tag, entry.consuming = None, False
            while not entry.inbox.empty():
                message = entry.inbox.get_nowait()
                entry.inbox.task_done()
                if message is not None:
                    await _settle(message.nack(requeue=True))
            entry.inbox.put_nowait(None)
        await finish_or_cancel({c.task for c in running if c.task is not None}, grace=grace)
        for entry in self._consumers.values():
            entry.task = None
            if entry.declared is not None:
                await cancel_and_wait(entry.declared, grace=1.0)
                entry.declared = None
        self._started = False
        connection, self._connection = self._connection, None
        self._exchange = self._publisher = None
        if connection is not None:
            with contextlib.suppress(*_BROKER_ERRORS):
                await connection.close()
        for entry in self._consumers.values():
            entry.channel = entry.queue = None

    # --- dead letters --------------------------------------------------------------------

    async def dead_letters(self, *consumers: str) -> list[DeadLetter]:
        """What the dead-letter queues of `consumers` (none named: of every consumer
        subscribed here) hold, oldest first; they stay in their queues. Needs no
        subscription, and creates nothing: a queue that is not there holds nothing."""
        found: list[DeadLetter] = []
        async with self._dead_letters_connection() as connection:
            for name in consumers or list(self._consumers):
                async with self._dead_letter_queue(connection, name) as opened:
                    if opened is None:
                        continue
                    _, queue, count = opened
                    held: list[AbstractIncomingMessage] = []
                    try:
                        # At most what it held when looked at: one parked meanwhile waits.
                        for _ in range(count):
                            message = await queue.get(no_ack=False, fail=False)
                            if message is None:
                                break
                            held.append(message)
                            found.append(self._read_dead_letter(name, message))
                    finally:
                        # Put back on every way out, so none stays taken until the channel goes.
                        for message in held:
                            await _settle(message.nack(requeue=True))
        return found

    async def send_back(self, consumer: str, event_id: str | None = None) -> list[DeadLetter]:
        """Send `consumer`'s dead letter of the event `event_id` (None: every one of its
        dead letters) back to that consumer's own queue, and to no other consumer's (they
        handled it); each leaves the dead-letter queue once the broker has confirmed it
        back. Returns those sent back (none: no such dead letter). A second copy of an
        event sent back (parked twice after a redelivery) is dropped, not sent again.
        LookupError if the consumer's queue is gone (the dead letter stays)."""
        sent: list[DeadLetter] = []
        async with (
            self._dead_letters_connection() as connection,
            self._dead_letter_queue(connection, consumer) as opened,
        ):
            if opened is None:
                return sent
            channel, queue, count = opened
            seen: set[str] = set()
            held: list[AbstractIncomingMessage] = []
            try:
                for _ in range(count):
                    message = await queue.get(no_ack=False, fail=False)
                    if message is None:
                        break
                    held.append(message)
                    if event_id is not None and message.message_id != event_id:
                        continue
                    if message.message_id is None or message.message_id not in seen:
                        await self._send_back_one(channel, consumer, message)
                        sent.append(self._read_dead_letter(consumer, message))
                    if message.message_id is not None:
                        seen.add(message.message_id)
                    await message.ack()
                    held.pop()
            finally:
                for message in held:
                    await _settle(message.nack(requeue=True))
        return sent

    async def _send_back_one(
        self, channel: AbstractChannel, consumer: str, message: AbstractIncomingMessage
    ) -> None:
        # Through the default exchange, which routes by queue name: the consumer's queue
        # alone (mandatory: a queue that is gone returns it, rather than drop it).
        again = aio_pika.Message(
            message.body,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            type=message.type,
        )
        try:
            await channel.default_exchange.publish(
                again, routing_key=self.queue_name(consumer), mandatory=True, timeout=self._timeout
            )
        except aio_pika.exceptions.PublishError as exc:
            raise LookupError(f"no queue {self.queue_name(consumer)}") from exc

    @contextlib.asynccontextmanager
    async def _dead_letters_connection(self) -> AsyncIterator[AbstractConnection]:
        """A connection of its own, closed after: it needs no subscription and no started
        bus, and is not robust (a queue that is not there closes the channel that asked,
        which a robust connection would open again). The broker's errors: `Unavailable`."""
        connection = await self._open(aio_pika.connect, "minifb dead letters")
        try:
            yield connection
        except _BROKER_ERRORS as exc:
            raise Unavailable(EVENTS) from exc
        finally:
            with contextlib.suppress(*_BROKER_ERRORS):
                await connection.close()

    @contextlib.asynccontextmanager
    async def _dead_letter_queue(
        self, connection: AbstractConnection, consumer: str
    ) -> AsyncIterator[tuple[AbstractChannel, AbstractQueue, int] | None]:
        """`consumer`'s dead-letter queue on a channel of its own (with publisher
        confirms), and how many messages it holds; None if there is no such queue."""
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            try:
                queue = await channel.declare_queue(
                    self.dead_letter_queue_name(consumer), passive=True
                )
            except aio_pika.exceptions.ChannelNotFoundEntity:
                opened = None  # the broker closed the channel
            else:
                opened = channel, queue, queue.declaration_result.message_count or 0
            yield opened
        finally:
            with contextlib.suppress(*_BROKER_ERRORS):
                await channel.close()

    @staticmethod
    def _read_dead_letter(consumer: str, message: AbstractIncomingMessage) -> DeadLetter:
        headers = message.headers or {}
        try:
            event: Event | None = Event.from_json(message.body)
        except Exception:
            event = None  # parked unread: what it is, only its properties tell
        return DeadLetter(
            consumer=str(headers.get("x-consumer", consumer)),
            event=event,
            error=str(headers.get("x-error", "")),
            attempts=int(str(headers.get("x-attempts", 0))),
            event_id=message.message_id,
            type=message.type,
        )

    # --- inside --------------------------------------------------------------------------

    async def _ready(self) -> AbstractExchange:
        """Connected, the exchange and every subscribed consumer's queue declared."""
        if self._exchange is None:
            async with self._connecting:
                if self._exchange is None:
                    await self._connect()
        for entry in self._consumers.values():
            failed = (
                entry.declared is not None
                and entry.declared.done()
                and (entry.declared.cancelled() or entry.declared.exception() is not None)
            )
            if failed:
                # The broker went away while it was declared: declare it again now.
                entry.declared = asyncio.create_task(
                    self._declare(entry), name=f"declare:{entry.name}"
                )
        pending = [
            c.declared for c in self._consumers.values() if c.declared and not c.declared.done()
        ]
        if pending:
            try:
                await asyncio.gather(*pending)
            except _BROKER_ERRORS as exc:
                raise Unavailable(EVENTS) from exc
        assert self._exchange is not None
        return self._exchange

    async def _open(self, connect: Callable[..., Awaitable[C]], name: str) -> C:
        """A connection to the broker by `connect` (aio-pika's, robust or not), named
        `name` in the broker's list; `Unavailable` if the broker does not answer."""
        try:
            return await connect(
                self._url, timeout=self._timeout, client_properties={"connection_name": name}
            )
        except _BROKER_ERRORS as exc:
            raise Unavailable(EVENTS) from exc

    async def _connect(self) -> None:
        connection = await self._open(aio_pika.connect_robust, "minifb")
        try:
            publisher = await connection.channel(publisher_confirms=True)
            exchange = await publisher.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
        except _BROKER_ERRORS as exc:
            with contextlib.suppress(*_BROKER_ERRORS):
                await connection.close()
            raise Unavailable(EVENTS) from exc
        self._connection, self._publisher, self._exchange = connection, publisher, exchange
        for entry in self._consumers.values():
            entry.declared = asyncio.create_task(self._declare(entry), name=f"declare:{entry.name}")

    async def _declare(self, entry: _Consumer) -> None:
        """The consumer's channel, its queue bound by its types, its dead-letter queue; it
        starts taking messages if the bus has started."""
        assert self._connection is not None
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        queue = await channel.declare_queue(self.queue_name(entry.name), durable=True)
        for key in entry.routing_keys:
            await queue.bind(self.exchange_name, routing_key=key)
        await channel.declare_queue(self.dead_letter_queue_name(entry.name), durable=True)
        entry.channel, entry.queue = channel, queue
        if self._started:
            await self._consume(entry)

    async def _consume(self, entry: _Consumer) -> None:
        if entry.consuming or entry.queue is None:
            return
        entry.consuming = True  # before the await: a second caller must not consume too
        if entry.task is None:
            entry.task = asyncio.create_task(self._deliver(entry), name=f"consumer:{entry.name}")
        try:
            entry.tag = await entry.queue.consume(entry.inbox.put)
        except BaseException:
            entry.consuming = False
            raise

    async def _deliver(self, entry: _Consumer) -> None:
        stopping = False
        while not stopping:
            first = await entry.inbox.get()
            entry.handling = True  # held from now on, lingering for more included
            taken = 1
            try:
                batch, taken = await batch_from(
                    first, entry.inbox, entry.size, entry.linger, weight=_carried
                )
                stopping = taken > len(batch)
                if batch:
                    await self._handle(entry, batch)
            finally:
                entry.handling = False
                for _ in range(taken):
                    entry.inbox.task_done()

    async def _handle(self, entry: _Consumer, batch: list[AbstractIncomingMessage]) -> None:
        """Hand the events of the batch's messages over, `size` at a time; then settle
        each message by what became of its events."""
        events: dict[int, Event] = {}
        carried: list[tuple[AbstractIncomingMessage, list[int]]] = []
        for message in batch:
            try:
                read = read_events(message.body)
            except Exception as exc:
                # No try can read it: straight to the dead letters, with why.
                log.exception("consumer %s got an unreadable message", entry.name)
                parked = await self._park(
                    entry,
                    message.body,
                    message_id=message.message_id,
                    type=message.type,
                    error=exc,
                    attempts=0,
                )
                await _settle(message.ack() if parked else message.nack(requeue=True))
                continue
            carried.append((message, [event.id for event in read]))
            for event in read:
                # Published twice and both copies here: handled once, both settled.
                events.setdefault(event.id, event)
        pending = list(events.values())
        missed: dict[int, NotHandled] = {}
        for start in range(0, len(pending), entry.size):
            chunk = pending[start : start + entry.size]
            for not_handled in await self._delivery.deliver(
                entry.name, entry.handler, entry.backoff, chunk
            ):
                missed[not_handled.event.id] = not_handled
        parked_ids: set[int] = set()
        for message, ids in carried:
            await self._settle_carrier(
                entry, message, [missed[i] for i in ids if i in missed], parked_ids
            )

    async def _settle_carrier(
        self,
        entry: _Consumer,
        message: AbstractIncomingMessage,
        missed: list[NotHandled],
        parked_ids: set[int],
    ) -> None:
        """Acknowledge a message whose events were all handled or parked; give it back
        whole if one of them was given back or could not be parked (those handled are
        skipped when it comes again: the consumers are idempotent)."""
        if any(m.error is None for m in missed):
            await _settle(message.nack(requeue=True))
            return
        for not_handled in missed:
            if not_handled.event.id in parked_ids:
                continue
            event = not_handled.event
            assert not_handled.error is not None
            parked = await self._park(
                entry,
                event.to_json(),
                message_id=str(event.id),
                type=event.type,
                error=not_handled.error,
                attempts=not_handled.attempts,
            )
            if not parked:
                await _settle(message.nack(requeue=True))
                return
            parked_ids.add(event.id)
        await _settle(message.ack())

    async def _park(
        self,
        entry: _Consumer,
        body: bytes,
        *,
        message_id: str | None,
        type: str | None,
        error: BaseException,
        attempts: int,
    ) -> bool:
        """Put `body` (one event, or a message no one could read) in the consumer's
        dead-letter queue, with why; whether the broker confirmed it."""
        parked = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            type=type,
            headers={
                "x-consumer": entry.name,
                "x-error": repr(error)[:ERROR_LENGTH],
                "x-attempts": attempts,
            },
        )
        try:
            assert self._publisher is not None
            await self._publisher.default_exchange.publish(
                parked,
                routing_key=self.dead_letter_queue_name(entry.name),
                timeout=self._timeout,
            )
        except (*_BROKER_ERRORS, AssertionError):
            log.warning("consumer %s could not park message %s", entry.name, message_id)
            return False
        return True


def bundles(events: Sequence[Event], most: int) -> list[list[Event]]:
    """`events` in runs of one type, each at most `most` long, in order: each run goes out
    as one message, so every queue gets its events in the order they were published."""
    runs: list[list[Event]] = []
    for event in events:
        if runs and runs[-1][0].type == event.type and len(runs[-1]) < most:
            runs[-1].append(event)
        else:
            runs.append([event])
    return runs


def _message(events: Sequence[Event]) -> aio_pika.Message:
    """One event as its JSON object, several of one type as an array of them."""
    first, last = events[0], events[-1]
    headers: HeadersType | None = None
    if len(events) == 1:
        body, message_id = first.to_json(), str(first.id)
    else:
        body = b"[" + b",".join(event.to_json() for event in events) + b"]"
        message_id, headers = f"{first.id}-{last.id}", {"x-events": len(events)}
    return aio_pika.Message(
        body,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message_id,
        type=first.type,
        headers=headers,
    )


def read_events(body: bytes) -> list[Event]:
    """The events of a message's body: one JSON object, or an array of them."""
    decoded = orjson.loads(body)
    return [Event.from_dict(item) for item in (decoded if isinstance(decoded, list) else [decoded])]


def _carried(message: AbstractIncomingMessage) -> int:
    """How many events a delivered message says it carries (1 if it does not say)."""
    count = (message.headers or {}).get("x-events", 1)
    return count if isinstance(count, int) and count > 0 else 1


async def _settle(acknowledgement: Any) -> None:
    """Ack or nack a message; on a channel that is gone there is nothing to settle (the
    broker delivers the message again once a consumer is back)."""
    with contextlib.suppress(*_BROKER_ERRORS):
        await acknowledgement
