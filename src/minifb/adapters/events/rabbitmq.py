"""RabbitMQ event bus (aio-pika): a topic exchange routed by event type, a queue per consumer.

Topology, all durable, named after `prefix` (`mini-facebook-` by default,
the names of the AWS tier's topic and queues):

- the exchange `{prefix}events`, of type topic: an event goes out with its
  type as routing key (`post.created`), persistent, and `publish` returns
  once the broker has confirmed it (publisher confirms);
- a queue `{prefix}{consumer}` per consumer, bound by each type it named
  (`#` for "*"): every process running that consumer takes from the same
  queue, so the consumers of several processes share the work;
- a queue `{prefix}{consumer}.dead` of what the consumer gave up on, each
  message with the error, the consumer and the attempts in its headers.

A consumer's messages are handled in the order they arrive, one at a time or
in batches of what the process holds (`subscribe_batches`), with `prefetch`
messages at most held in the process; each is acknowledged once its handler
has returned (its transaction committed), so a process that dies mid-handler
leaves it to the broker to deliver again. The tries are `delivery`'s: a
failing batch is tried one event at a time, a failing event again with a
doubling delay up to `max_attempts` tries, then the message goes to the
dead-letter queue (confirmed) and is acknowledged; a handler that finds a
service `Unavailable` spends no attempt and is tried again after a back-off as
long as it takes. See
docs/decisions/0126 for why retries wait in the process rather than in
delay queues of the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from minifb.adapters.aio import cancel_and_wait, finish_or_cancel
from minifb.adapters.events.base import (
    BatchHandler,
    Event,
    Handler,
    NotAllPublished,
    one_at_a_time,
)
from minifb.adapters.events.delivery import Delivery, batch_from
from minifb.adapters.resilience import Backoff, Unavailable

log = logging.getLogger("minifb.events")

EVENTS = "events"  # the service's name in `Unavailable` and readiness
ERROR_LENGTH = 2000  # what of an error's text a dead letter keeps
# Connection and channel errors: the broker is down or went away.
_BROKER_ERRORS = (aio_pika.exceptions.AMQPError, ConnectionError, OSError, TimeoutError)


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
        timeout: float = 5.0,
    ) -> None:
        """A failing handler is tried `max_attempts` times, `retry_delay` seconds apart
        and doubling, then dead-lettered; one that finds a service `Unavailable` is
        retried without end, waiting from `backoff[0]` up to `backoff[1]` seconds.
        `timeout` bounds connecting, and each publish's wait for its confirm."""
        self._url = url
        self._prefix = prefix
        self._backoff = backoff
        self._prefetch = prefetch
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
            await self._send(exchange, event)
        except _BROKER_ERRORS as exc:
            raise Unavailable(EVENTS) from exc

    async def publish_many(self, events: Sequence[Event]) -> None:
        """All of them sent at once, in order, on the one channel; returns once the broker
        has confirmed every one (`NotAllPublished`: how many of the first it had)."""
        try:
            exchange = await self._ready()
        except Unavailable as exc:
            raise NotAllPublished(0, exc) from exc
        sent = await asyncio.gather(
            *(self._send(exchange, event) for event in events), return_exceptions=True
        )
        for done, outcome in enumerate(sent):
            if isinstance(outcome, BaseException):
                cause = Unavailable(EVENTS) if isinstance(outcome, _BROKER_ERRORS) else outcome
                raise NotAllPublished(done, cause) from outcome

    async def _send(self, exchange: AbstractExchange, event: Event) -> None:
        message = aio_pika.Message(
            event.to_json(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(event.id),
            type=event.type,
        )
        # Not mandatory: an event no consumer listens to is dropped, not returned.
        await exchange.publish(
            message, routing_key=event.type, mandatory=False, timeout=self._timeout
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
        try:
            connection = await aio_pika.connect(
                self._url,
                timeout=self._timeout,
                client_properties={"connection_name": "minifb dead letters"},
            )
        except _BROKER_ERRORS as exc:
            raise Unavailable(EVENTS) from exc
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

    async def _connect(self) -> None:
        try:
            connection = await aio_pika.connect_robust(
                self._url,
                timeout=self._timeout,
                client_properties={"connection_name": "minifb"},
            )
        except _BROKER_ERRORS as exc:
            raise Unavailable(EVENTS) from exc
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
                batch, taken = await batch_from(first, entry.inbox, entry.size, entry.linger)
                stopping = taken > len(batch)
                if batch:
                    await self._handle(entry, batch)
            finally:
                entry.handling = False
                for _ in range(taken):
                    entry.inbox.task_done()

    async def _handle(self, entry: _Consumer, batch: list[AbstractIncomingMessage]) -> None:
        """Hand the batch's events over; acknowledge what was handled, park what was
        given up on, give back what the bus closed on."""
        events: dict[int, tuple[Event, AbstractIncomingMessage]] = {}
        for message in batch:
            try:
                event = Event.from_json(message.body)
            except Exception as exc:
                # No try can read it: straight to the dead letters, with why.
                log.exception("consumer %s got an unreadable message", entry.name)
                await self._dead_letter(entry, message, exc, attempts=0)
                continue
            if event.id in events:
                # Published twice and both copies here: one is handled, both are settled.
                await _settle(message.ack())
                continue
            events[event.id] = (event, message)
        if not events:
            return
        missed = await self._delivery.deliver(
            entry.name, entry.handler, entry.backoff, [event for event, _ in events.values()]
        )
        for not_handled in missed:
            _, message = events.pop(not_handled.event.id)
            if not_handled.error is None:
                await _settle(message.nack(requeue=True))
            else:
                await self._dead_letter(
                    entry, message, not_handled.error, attempts=not_handled.attempts
                )
        for _, message in events.values():
            await _settle(message.ack())

    async def _dead_letter(
        self,
        entry: _Consumer,
        message: AbstractIncomingMessage,
        error: BaseException,
        *,
        attempts: int,
    ) -> None:
        """Park the message in the consumer's dead-letter queue (confirmed), then take it
        off the consumer's queue; if the broker cannot take it, the message goes back."""
        parked = aio_pika.Message(
            message.body,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            type=message.type,
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
            log.warning("consumer %s could not park message %s", entry.name, message.message_id)
            await _settle(message.nack(requeue=True))
            return
        await _settle(message.ack())


async def _settle(acknowledgement: Any) -> None:
    """Ack or nack a message; on a channel that is gone there is nothing to settle (the
    broker delivers the message again once a consumer is back)."""
    with contextlib.suppress(*_BROKER_ERRORS):
        await acknowledgement
