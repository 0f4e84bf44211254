"""The event bus contract: every test runs against each bus implementation alike.

The in-process `MemoryEventBus`, and `RabbitMQEventBus` when the run has a
RabbitMQ (`MINIFB_TEST_AMQP_URL`; the full pass requires one): each test's
exchange and queues are named with a prefix of its own and deleted after it.
The SNS/SQS bus joins `KINDS` the same way. Order is promised per
implementation: the tests of publication order run only for the buses that
promise it (`in_order`); a broker's bus gives back on `close` what it has not
handled, for the next one (`keeps_on_close`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from minifb.adapters.events import Event, EventBus, NotAllPublished
from minifb.adapters.events.memory import MemoryEventBus
from minifb.adapters.events.rabbitmq import RabbitMQEventBus
from minifb.adapters.resilience import Unavailable
from tests.fixtures.rabbitmq import delete_topology
from tests.fixtures.tiers import AMQP_REQUIRED, AMQP_URL

WAIT = 5.0  # seconds any delivery may take before a test fails instead of hanging


@dataclass(frozen=True)
class BusKind:
    """How the contract opens one implementation, and what it promises beyond the Protocol."""

    name: str
    # A bus whose failing handler gets `max_attempts` tries, with retries and
    # back-off short enough for a test; its names start with the given prefix.
    open: Callable[[int, str], EventBus]
    # What the bus dead-lettered so far: (consumer, event).
    dead_letters: Callable[[EventBus], Awaitable[list[tuple[str, Event]]]]
    # Each consumer receives events in publication order, retries and waits included.
    in_order: bool
    # What `close` did not handle stays with a broker for the next bus (else: handled).
    keeps_on_close: bool = False
    # Deletes what the buses of a test declared (a broker's exchange and queues).
    clean_up: Callable[[list[EventBus]], Awaitable[None]] | None = None


def _memory_bus(max_attempts: int, _prefix: str) -> EventBus:
    return MemoryEventBus(max_attempts=max_attempts, retry_delay=0.001, backoff=(0.001, 0.01))


async def _memory_dead_letters(bus: EventBus) -> list[tuple[str, Event]]:
    assert isinstance(bus, MemoryEventBus)
    return list(bus.dead_letters)


def _rabbitmq_bus(max_attempts: int, prefix: str) -> EventBus:
    assert AMQP_URL
    return RabbitMQEventBus(
        AMQP_URL,
        prefix=prefix,
        max_attempts=max_attempts,
        retry_delay=0.001,
        backoff=(0.001, 0.01),
    )


async def _rabbitmq_dead_letters(bus: EventBus) -> list[tuple[str, Event]]:
    assert isinstance(bus, RabbitMQEventBus)
    return [(letter.consumer, letter.event) for letter in await bus.dead_letters()]


async def _rabbitmq_clean_up(buses: list[EventBus]) -> None:
    for bus in buses:
        assert isinstance(bus, RabbitMQEventBus)
        await delete_topology(bus.exchange_name, bus.queue_names())


KINDS = [BusKind("memory", _memory_bus, _memory_dead_letters, in_order=True)]
if AMQP_URL or AMQP_REQUIRED:
    # Without a URL in the full pass's run against the services, its tests fail (never skip).
    KINDS.append(
        BusKind(
            "rabbitmq",
            _rabbitmq_bus,
            _rabbitmq_dead_letters,
            in_order=False,
            keeps_on_close=True,
            clean_up=_rabbitmq_clean_up,
        )
    )
ORDERED = [kind for kind in KINDS if kind.in_order]

Opener = Callable[..., EventBus]


@pytest.fixture(params=KINDS, ids=lambda kind: kind.name)
def kind(request: pytest.FixtureRequest) -> BusKind:
    bus_kind: BusKind = request.param
    return bus_kind


@pytest.fixture
async def open_bus(kind: BusKind) -> AsyncIterator[Opener]:
    """Open buses of this kind (`max_attempts` 3 unless given); each is closed after the test,
    and what they declared is deleted."""
    if kind.clean_up is not None and not AMQP_URL:
        pytest.fail(f"the full pass (MINIFB_FULL_PASS) runs the {kind.name} bus: set its URL")
    opened: list[EventBus] = []
    prefix = f"minifb-test-{uuid.uuid4().hex[:12]}-"

    def make(*, max_attempts: int = 3) -> EventBus:
        bus = kind.open(max_attempts, prefix)
        opened.append(bus)
        return bus

    yield make
    for bus in opened:
        await bus.close()
    if kind.clean_up is not None:
        await kind.clean_up(opened)


@pytest.fixture
def bus(open_bus: Opener) -> EventBus:
    return open_bus()


_ids = iter(range(1, 1_000_000))


def event(type_: str = "post.created", **data: object) -> Event:
    """A new event with the next id."""
    return Event(
        id=next(_ids), type=type_, occurred_at=datetime.now(UTC), actor_id=None, data=dict(data)
    )


class Recorder:
    """A handler that records what it received; `fail(event, tries)` decides how each try goes."""

    def __init__(self, fail: Callable[[Event, int], BaseException | None] | None = None) -> None:
        self.received: list[Event] = []
        self.tries: dict[int, int] = {}
        self._fail = fail
        self._arrived = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        tries = self.tries[event.id] = self.tries.get(event.id, 0) + 1
        error = self._fail(event, tries) if self._fail else None
        if error is not None:
            raise error
        self.received.append(event)
        self._arrived.set()

    async def until(self, count: int) -> None:
        """Wait until `count` events have been received."""
        while len(self.received) < count:
            self._arrived.clear()
            await self._arrived.wait()

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.received]


async def publish_all(bus: EventBus, events: Iterable[Event]) -> list[Event]:
    sent = list(events)
    for e in sent:
        await bus.publish(e)
    return sent


async def drain(bus: EventBus) -> None:
    async with asyncio.timeout(WAIT):
        await bus.drain()


def ids(events: Iterable[Event]) -> list[int]:
    return [e.id for e in events]


async def mixed_types_published_together(
    bus: EventBus,
) -> tuple[list[Event], BatchRecorder, Recorder]:
    """300 events of three types in one `publish_many`, to a consumer of them all (in
    batches) and one of `post.created`; returns them and the two consumers' records."""
    everything, posts = BatchRecorder(), Recorder()
    bus.subscribe_batches("all", ["*"], everything, size=50)
    bus.subscribe("posts", ["post.created"], posts)
    await bus.start()
    types = ["post.created", "post.created", "user.updated", "follow.created"]
    sent = [event(types[i % 4], n=i) for i in range(300)]
    await bus.publish_many(sent)
    await drain(bus)
    return sent, everything, posts


class TestSubscription:
    async def test_a_consumer_receives_the_types_it_named_and_no_others(
        self, bus: EventBus
    ) -> None:
        posts = Recorder()
        bus.subscribe("posts", ["post.created", "post.deleted"], posts)
        await bus.start()
        sent = await publish_all(
            bus, [event("post.created"), event("user.updated"), event("post.deleted")]
        )
        await drain(bus)
        assert sorted(posts.ids) == [sent[0].id, sent[2].id]

    async def test_events_of_several_types_published_together_reach_whom_they_should(
        self, bus: EventBus
    ) -> None:
        sent, everything, posts = await mixed_types_published_together(bus)
        assert sorted(everything.ids) == ids(sent)
        assert sorted(posts.ids) == [e.id for e in sent if e.type == "post.created"]

    async def test_star_receives_every_type(self, bus: EventBus) -> None:
        everything = Recorder()
        bus.subscribe("all", ["*"], everything)
        await bus.start()
        sent = await publish_all(bus, [event("post.created"), event("block.created")])
        await drain(bus)
        assert sorted(everything.ids) == ids(sent)

    async def test_every_consumer_receives_its_own_copy(self, bus: EventBus) -> None:
        feed, search = Recorder(), Recorder()
        bus.subscribe("feed", ["post.created"], feed)
        bus.subscribe("search", ["post.created"], search)
        await bus.start()
        sent = await publish_all(bus, [event(), event()])
        await drain(bus)
        assert sorted(feed.ids) == sorted(search.ids) == ids(sent)

    async def test_an_event_arrives_as_it_was_published(self, bus: EventBus) -> None:
        received = Recorder()
        bus.subscribe("feed", ["*"], received)
        await bus.start()
        sent = Event(
            id=2**62 + 5,
            type="comment.created",
            occurred_at=datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
            actor_id=2**61 + 7,
            data={"post_id": "42", "text": "héllo", "nested": {"n": [1, 2]}},
            version=2,
        )
        await bus.publish(sent)
        await drain(bus)
        assert received.received == [sent]

    async def test_a_consumer_subscribed_after_start_receives(self, bus: EventBus) -> None:
        early, late = Recorder(), Recorder()
        bus.subscribe("early", ["*"], early)
        await bus.start()
        bus.subscribe("late", ["*"], late)
        sent = await publish_all(bus, [event(), event()])
        await drain(bus)
        assert sorted(late.ids) == sorted(early.ids) == ids(sent)

    async def test_events_published_before_start_are_delivered_once_started(
        self, bus: EventBus
    ) -> None:
        received = Recorder()
        bus.subscribe("feed", ["*"], received)
        sent = await publish_all(bus, [event(), event()])
        await bus.start()
        await drain(bus)
        assert sorted(received.ids) == ids(sent)

    async def test_a_slow_consumer_does_not_hold_up_another(self, bus: EventBus) -> None:
        release = asyncio.Event()
        fast = Recorder()

        async def slow(_: Event) -> None:
            await release.wait()

        bus.subscribe("slow", ["*"], slow)
        bus.subscribe("fast", ["*"], fast)
        await bus.start()
        sent = await publish_all(bus, [event(), event(), event()])
        async with asyncio.timeout(WAIT):
            await fast.until(len(sent))
        release.set()
        await drain(bus)
        assert sorted(fast.ids) == ids(sent)

    async def test_a_batch_arrives_whole(self, bus: EventBus) -> None:
        received = Recorder()
        bus.subscribe("feed", ["post.created", "comment.created"], received)
        await bus.start()
        batch = [event("post.created" if i % 2 else "comment.created", n=i) for i in range(40)]
        await bus.publish_many(batch)
        await drain(bus)
        assert sorted(received.ids) == ids(batch)
        assert {e.id: e for e in received.received} == {e.id: e for e in batch}

    async def test_ping_answers_when_the_bus_is_up(self, bus: EventBus) -> None:
        await bus.start()
        await bus.ping()


class TestAtLeastOnce:
    async def test_a_handler_that_fails_gets_the_event_again(self, open_bus: Opener) -> None:
        bus = open_bus(max_attempts=5)
        flaky = Recorder(lambda _, tries: RuntimeError("a bug") if tries <= 2 else None)
        bus.subscribe("feed", ["*"], flaky)
        await bus.start()
        sent = await publish_all(bus, [event()])
        await drain(bus)
        assert flaky.ids == ids(sent)
        assert flaky.tries == {sent[0].id: 3}

    async def test_after_its_last_attempt_an_event_is_dead_lettered_and_the_next_one_comes(
        self, kind: BusKind, open_bus: Opener
    ) -> None:
        bus = open_bus(max_attempts=2)
        poison, fine = event(), event()
        handler = Recorder(lambda e, _: RuntimeError("a bug") if e.id == poison.id else None)
        bus.subscribe("feed", ["*"], handler)
        await bus.start()
        await publish_all(bus, [poison, fine])
        await drain(bus)
        assert handler.tries[poison.id] == 2
        assert handler.ids == [fine.id]
        assert await kind.dead_letters(bus) == [("feed", poison)]

    async def test_a_failing_consumer_does_not_cost_another_its_events(
        self, kind: BusKind, open_bus: Opener
    ) -> None:
        bus = open_bus(max_attempts=2)
        broken, healthy = Recorder(lambda _, __: RuntimeError("a bug")), Recorder()
        bus.subscribe("broken", ["*"], broken)
        bus.subscribe("healthy", ["*"], healthy)
        await bus.start()
        sent = await publish_all(bus, [event(), event()])
        await drain(bus)
        assert sorted(healthy.ids) == ids(sent)
        assert sorted(e.id for name, e in await kind.dead_letters(bus) if name == "broken") == ids(
            sent
        )
        assert [name for name, _ in await kind.dead_letters(bus)] == ["broken", "broken"]


class TestServiceDown:
    async def test_a_handler_that_finds_a_service_down_is_retried_until_it_works(
        self, kind: BusKind, open_bus: Opener, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="minifb.events")
        bus = open_bus(max_attempts=2)
        waiting = Recorder(lambda _, tries: Unavailable("database") if tries <= 6 else None)
        bus.subscribe("feed", ["*"], waiting)
        await bus.start()
        sent = await publish_all(bus, [event()])
        await drain(bus)
        # Seven tries of an event that may have two: the outage spent none of them.
        assert waiting.tries == {sent[0].id: 7}
        assert waiting.ids == ids(sent)
        assert await kind.dead_letters(bus) == []
        records = [r for r in caplog.records if r.name == "minifb.events"]
        lines = [r.getMessage() for r in records]
        assert len(lines) == 2, lines  # the outage starts, and ends; not a line per try
        assert lines[0].startswith("consumer feed failed (database is unavailable)")
        assert lines[1].startswith("consumer feed works again after 6 failed tries")
        assert not any(r.exc_info for r in records)

    async def test_close_does_not_wait_out_a_service_that_stays_down(self, bus: EventBus) -> None:
        tried = asyncio.Event()

        async def down(_: Event) -> None:
            tried.set()
            raise Unavailable("database")

        bus.subscribe("feed", ["*"], down)
        await bus.start()
        await bus.publish(event())
        async with asyncio.timeout(WAIT):
            await tried.wait()
        started = time.monotonic()
        async with asyncio.timeout(WAIT):
            await bus.close()
        # Well under the in-process bus's 5-second grace: it stopped waiting at once.
        assert time.monotonic() - started < 1.0


class TestShutdown:
    @pytest.mark.parametrize("together", [False, True], ids=["one by one", "together"])
    async def test_close_loses_nothing_that_was_accepted(
        self, kind: BusKind, open_bus: Opener, together: bool
    ) -> None:
        """In process, `close` handles what was queued; a broker's bus gives back what it
        had not handled, and the next bus of the same consumer handles it (published
        `together`, in one `publish_many`, too)."""
        handled: list[int] = []

        async def slow(e: Event) -> None:
            await asyncio.sleep(0.005)
            handled.append(e.id)

        bus = open_bus()
        bus.subscribe("feed", ["*"], slow)
        await bus.start()
        sent = [event() for _ in range(20)]
        if together:
            await bus.publish_many(sent)
        else:
            await publish_all(bus, sent)
        async with asyncio.timeout(WAIT):
            await bus.close()
        if not kind.keeps_on_close:
            assert sorted(handled) == ids(sent)
            return
        assert len(handled) == len(set(handled))  # the one in hand was finished, once
        after = open_bus()
        after.subscribe("feed", ["*"], slow)
        await after.start()
        await drain(after)
        assert sorted(set(handled)) == ids(sent)


class BatchRecorder:
    """A batch handler that records the batches it took; `fail(batch, tries)` decides how
    each try of a batch goes (tries: how often this batch's first event was tried)."""

    def __init__(
        self,
        fail: Callable[[list[Event], int], BaseException | None] | None = None,
        *,
        first_wait: float = 0.0,
    ) -> None:
        self.batches: list[list[Event]] = []
        self.tries: dict[int, int] = {}
        self._fail = fail
        self._first_wait = first_wait

    async def __call__(self, events: Sequence[Event]) -> None:
        batch = list(events)
        if self._first_wait and not self.tries:
            await asyncio.sleep(self._first_wait)  # the rest arrive meanwhile
        tries = self.tries[batch[0].id] = self.tries.get(batch[0].id, 0) + 1
        error = self._fail(batch, tries) if self._fail else None
        if error is not None:
            raise error
        self.batches.append(batch)

    @property
    def ids(self) -> list[int]:
        return [e.id for batch in self.batches for e in batch]


class TestBatches:
    async def test_a_batch_handler_takes_what_is_waiting_up_to_its_size(
        self, bus: EventBus
    ) -> None:
        handler = BatchRecorder(first_wait=0.3)
        bus.subscribe_batches("feed", ["*"], handler, size=8)
        await bus.start()
        sent = await publish_all(bus, [event(n=i) for i in range(40)])
        await drain(bus)
        assert sorted(handler.ids) == ids(sent)  # each once
        sizes = [len(batch) for batch in handler.batches]
        assert max(sizes) == 8, sizes  # what waited went together, never more than 8
        assert len(sizes) < 40, sizes

    async def test_a_batch_that_fails_is_tried_one_event_at_a_time(
        self, kind: BusKind, open_bus: Opener
    ) -> None:
        bus = open_bus(max_attempts=2)
        sent = [event(n=i) for i in range(12)]
        poison = sent[5]
        handler = BatchRecorder(
            lambda batch, _: RuntimeError("a bug") if poison in batch else None, first_wait=0.3
        )
        bus.subscribe_batches("feed", ["*"], handler, size=8)
        await bus.start()
        await publish_all(bus, sent)
        await drain(bus)
        assert sorted(handler.ids) == [e.id for e in sent if e != poison]
        assert handler.tries[poison.id] >= 2  # alone, it had its attempts
        assert await kind.dead_letters(bus) == [("feed", poison)]

    async def test_a_batch_waiting_for_a_service_is_tried_whole_again(
        self, kind: BusKind, bus: EventBus
    ) -> None:
        handler = BatchRecorder(
            lambda _, tries: Unavailable("database") if tries <= 4 else None, first_wait=0.3
        )
        bus.subscribe_batches("feed", ["*"], handler, size=8)
        await bus.start()
        sent = await publish_all(bus, [event(n=i) for i in range(8)])
        await drain(bus)
        assert sorted(handler.ids) == ids(sent)
        assert handler.tries[handler.batches[0][0].id] == 5  # the outage spent no attempt
        assert await kind.dead_letters(bus) == []

    async def test_a_batch_lingers_for_what_comes_soon_after_its_first(self, bus: EventBus) -> None:
        lingering, eager = BatchRecorder(), BatchRecorder()
        bus.subscribe_batches("lingering", ["*"], lingering, size=10, linger=1.0)
        bus.subscribe_batches("eager", ["*"], eager, size=10)
        await bus.start()
        first = await publish_all(bus, [event()])
        await asyncio.sleep(0.2)  # the first is taken by now
        rest = await publish_all(bus, [event(), event()])
        await drain(bus)
        assert [ids(batch) for batch in lingering.batches] == [ids(first + rest)]
        assert sorted(eager.ids) == ids(first + rest)
        assert ids(eager.batches[0]) == ids(first)  # no linger: it went alone

    async def test_what_was_published_together_is_handled_in_batches_of_the_size(
        self, bus: EventBus
    ) -> None:
        handler = BatchRecorder()
        bus.subscribe_batches("feed", ["*"], handler, size=8)
        await bus.start()
        sent = [event(n=i) for i in range(250)]
        await bus.publish_many(sent)
        await drain(bus)
        assert handler.ids == ids(sent)  # each once, in order
        assert max(len(batch) for batch in handler.batches) == 8

    async def test_a_bad_event_published_with_others_costs_them_nothing(
        self, kind: BusKind, open_bus: Opener
    ) -> None:
        bus = open_bus(max_attempts=2)
        sent = [event(n=i) for i in range(30)]
        poison = [sent[17], sent[20]]
        handler = BatchRecorder(
            lambda batch, _: RuntimeError("a bug") if any(e in batch for e in poison) else None
        )
        bus.subscribe_batches("feed", ["*"], handler, size=8)
        await bus.start()
        await bus.publish_many(sent)
        await drain(bus)
        assert sorted(handler.ids) == [e.id for e in sent if e not in poison]
        assert await kind.dead_letters(bus) == [("feed", e) for e in poison]  # each alone

    def test_a_batch_holds_one_event_at_least(self, bus: EventBus) -> None:
        with pytest.raises(ValueError, match="size"):
            bus.subscribe_batches("feed", ["*"], BatchRecorder(), size=0)


@pytest.mark.parametrize("kind", ORDERED, ids=lambda kind: kind.name, indirect=True)
class TestOrder:
    async def test_each_consumer_receives_events_in_publication_order(self, bus: EventBus) -> None:
        everything, posts = Recorder(), Recorder()
        bus.subscribe("all", ["*"], everything)
        bus.subscribe("posts", ["post.created"], posts)
        await bus.start()
        types = ["post.created", "user.updated", "follow.created"]
        sent = await publish_all(bus, [event(types[i % 3], n=i) for i in range(60)])
        await drain(bus)
        assert everything.ids == ids(sent)
        assert posts.ids == [e.id for e in sent if e.type == "post.created"]

    async def test_a_batch_arrives_in_its_order(self, bus: EventBus) -> None:
        received = Recorder()
        bus.subscribe("feed", ["*"], received)
        await bus.start()
        batch = [event(n=i) for i in range(40)]
        await bus.publish_many(batch)
        await drain(bus)
        assert received.ids == ids(batch)

    async def test_events_of_several_types_published_together_keep_their_order(
        self, bus: EventBus
    ) -> None:
        sent, everything, posts = await mixed_types_published_together(bus)
        assert everything.ids == ids(sent)
        assert posts.ids == [e.id for e in sent if e.type == "post.created"]

    async def test_batches_keep_the_order(self, bus: EventBus) -> None:
        handler = BatchRecorder(first_wait=0.05)
        bus.subscribe_batches("feed", ["*"], handler, size=7)
        await bus.start()
        sent = await publish_all(bus, [event(n=i) for i in range(30)])
        await drain(bus)
        assert handler.ids == ids(sent)

    async def test_a_retried_event_keeps_its_place(self, open_bus: Opener) -> None:
        bus = open_bus(max_attempts=5)
        first, second, third = event(), event(), event()
        handler = Recorder(
            lambda e, tries: RuntimeError("a bug") if e.id == first.id and tries < 3 else None
        )
        bus.subscribe("feed", ["*"], handler)
        await bus.start()
        await publish_all(bus, [first, second, third])
        await drain(bus)
        assert handler.ids == ids([first, second, third])

    async def test_an_event_waiting_for_a_service_keeps_its_place(self, bus: EventBus) -> None:
        first, second = event(), event()
        handler = Recorder(
            lambda e, tries: Unavailable("database") if e.id == first.id and tries <= 4 else None
        )
        bus.subscribe("feed", ["*"], handler)
        await bus.start()
        await publish_all(bus, [first, second])
        await drain(bus)
        assert handler.ids == ids([first, second])
        assert handler.tries == {first.id: 5, second.id: 1}

    async def test_close_delivers_in_order(self, bus: EventBus) -> None:
        received = Recorder()
        bus.subscribe("feed", ["*"], received)
        await bus.start()
        sent = await publish_all(bus, [event() for _ in range(20)])
        async with asyncio.timeout(WAIT):
            await bus.close()
        assert received.ids == ids(sent)


def test_the_envelope_survives_its_json_form() -> None:
    """What a bus that serialises events (RabbitMQ, SNS/SQS) hands its consumers."""
    sent = Event(
        id=2**63 - 1,
        type="reaction.added",
        occurred_at=datetime(2024, 5, 1, 23, 59, 59, 999999, tzinfo=UTC),
        actor_id=None,
        data={"type": "love", "target_id": "9", "many": list(range(3))},
        version=3,
    )
    assert Event.from_json(sent.to_json()) == sent
    assert Event.from_json(sent.to_json().decode()) == sent


class TestRabbitMQUnreachable:
    """What a RabbitMQ bus says when no broker answers (no broker needed for these)."""

    def _bus(self) -> RabbitMQEventBus:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return RabbitMQEventBus(f"amqp://guest:guest@127.0.0.1:{port}/", timeout=2)

    async def test_publish_and_ping_are_unavailable(self) -> None:
        bus = self._bus()
        async with asyncio.timeout(WAIT):
            with pytest.raises(Unavailable):
                await bus.publish(event())
            with pytest.raises(Unavailable):
                await bus.ping()
        await bus.close()

    async def test_a_batch_says_none_went_out(self) -> None:
        bus = self._bus()
        async with asyncio.timeout(WAIT):
            with pytest.raises(NotAllPublished) as caught:
                await bus.publish_many([event(), event()])
        assert caught.value.published == 0
        assert isinstance(caught.value.cause, Unavailable)
        await bus.close()
