"""The RabbitMQ bus's dead-letter queues seen and emptied from a process that subscribes
nothing: a dead letter is sent back to the consumer that failed on it, and to no other;
`minifb events dead-letters` lists them beside the database's, and
`minifb events retry --consumer NAME EVENT` sends one back.

Against the run's RabbitMQ (`MINIFB_TEST_AMQP_URL`); each test's exchange and queues
are named with a prefix of its own and deleted after it (`amqp_prefix`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import pytest
from click.testing import Result
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from minifb.adapters.events import Event
from minifb.adapters.events.rabbitmq import RabbitMQEventBus
from minifb.adapters.resilience import Unavailable
from minifb.cli import app as cli
from minifb.kit import dead_letters
from minifb.kit.db import Database
from tests.fixtures.rabbitmq import amqp_prefix, needs_rabbitmq
from tests.fixtures.redis_server import free_port
from tests.fixtures.tiers import AMQP_URL

__all__ = ["amqp_prefix"]  # the fixture, imported for the tests below

WAIT = 5.0  # seconds any delivery may take before a test fails instead of hanging

_ids = iter(range(1, 1_000_000))


def event(type_: str = "post.created") -> Event:
    return Event(id=next(_ids), type=type_, occurred_at=datetime.now(UTC), actor_id=None, data={})


class Handler:
    """Records what it handled; raises while `failing`."""

    def __init__(self, *, failing: bool = False) -> None:
        self.failing = failing
        self.handled: list[int] = []
        self.arrived = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        if self.failing:
            raise RuntimeError("a bug")
        self.handled.append(event.id)
        self.arrived.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while len(self.handled) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def running(amqp_prefix: str) -> AsyncIterator[tuple[RabbitMQEventBus, Handler, Handler]]:
    """A started bus whose `feed` fails (2 attempts) and whose `notifications` works, both
    on every type; and, apart, the bus a command line makes (`admin`, subscribed to nothing)."""
    assert AMQP_URL
    bus = RabbitMQEventBus(AMQP_URL, prefix=amqp_prefix, max_attempts=2, retry_delay=0.001)
    feed, notifications = Handler(failing=True), Handler()
    bus.subscribe("feed", ["*"], feed)
    bus.subscribe("notifications", ["*"], notifications)
    await bus.start()
    yield bus, feed, notifications
    await bus.close()


@pytest.fixture
async def one_parked(running: tuple[RabbitMQEventBus, Handler, Handler]) -> Event:
    """An event in the dead-letter queue of `feed`."""
    parked = event()
    await park(running[0], parked)
    return parked


def admin(prefix: str) -> RabbitMQEventBus:
    assert AMQP_URL
    return RabbitMQEventBus(AMQP_URL, prefix=prefix, timeout=2)


async def park(bus: RabbitMQEventBus, *events: Event) -> None:
    """Publish, and wait until every one is handled or dead-lettered."""
    for e in events:
        await bus.publish(e)
    async with asyncio.timeout(WAIT):
        await bus.drain()


async def put_in_dead_letters(prefix: str, consumer: str, *messages: aio_pika.Message) -> None:
    """What a consumer's process could leave in its dead-letter queue, put there directly."""
    assert AMQP_URL
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        for message in messages:
            await channel.default_exchange.publish(message, routing_key=f"{prefix}{consumer}.dead")


def as_message(e: Event, *, body: bytes | None = None) -> aio_pika.Message:
    return aio_pika.Message(
        e.to_json() if body is None else body, message_id=str(e.id), type=e.type
    )


async def queue_exists(name: str) -> bool:
    assert AMQP_URL
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        try:
            await channel.declare_queue(name, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return False
        return True


@needs_rabbitmq
class TestListing:
    async def test_lists_each_named_consumers_dead_letters_and_leaves_them(
        self, running: tuple[RabbitMQEventBus, Handler, Handler], amqp_prefix: str
    ) -> None:
        bus, _, notifications = running
        first, second = event(), event("comment.created")
        await park(bus, first, second)
        assert sorted(notifications.handled) == [first.id, second.id]

        looked = await admin(amqp_prefix).dead_letters("feed", "notifications")
        assert [(d.consumer, d.event, d.event_id, d.type, d.attempts) for d in looked] == [
            ("feed", first, str(first.id), "post.created", 2),
            ("feed", second, str(second.id), "comment.created", 2),
        ]
        assert all(d.error == "RuntimeError('a bug')" for d in looked)
        # Looked at, not taken: the same again, in the same order.
        assert await admin(amqp_prefix).dead_letters("feed") == looked

    async def test_a_consumer_without_queues_has_none_and_gets_none(self, amqp_prefix: str) -> None:
        assert await admin(amqp_prefix).dead_letters("feed") == []
        assert not await queue_exists(f"{amqp_prefix}feed.dead")

    async def test_a_message_that_is_no_event_is_listed_by_its_id(
        self, running: tuple[RabbitMQEventBus, Handler, Handler], amqp_prefix: str
    ) -> None:
        odd = event()
        await put_in_dead_letters(amqp_prefix, "feed", as_message(odd, body=b"not json"))
        [letter] = await admin(amqp_prefix).dead_letters("feed")
        assert (letter.event, letter.event_id, letter.type) == (None, str(odd.id), odd.type)


@needs_rabbitmq
class TestSendBack:
    async def test_only_the_consumer_that_failed_gets_it_again_and_it_leaves(
        self, running: tuple[RabbitMQEventBus, Handler, Handler], amqp_prefix: str
    ) -> None:
        bus, feed, notifications = running
        poison, other = event(), event()
        await park(bus, poison, other)
        feed.failing = False

        sent = await admin(amqp_prefix).send_back("feed", str(poison.id))
        assert [d.event for d in sent] == [poison]
        await feed.until(1)
        async with asyncio.timeout(WAIT):
            await bus.drain()
        assert feed.handled == [poison.id]
        assert sorted(notifications.handled) == sorted([poison.id, other.id])  # not again
        assert [d.event for d in await admin(amqp_prefix).dead_letters("feed")] == [other]

    async def test_all_of_a_consumers_each_once(
        self, running: tuple[RabbitMQEventBus, Handler, Handler], amqp_prefix: str
    ) -> None:
        bus, feed, _ = running
        first, second = event(), event()
        await park(bus, first, second)
        # The same event parked twice (its process died between parking and acking it).
        await put_in_dead_letters(amqp_prefix, "feed", as_message(first))
        feed.failing = False

        sent = await admin(amqp_prefix).send_back("feed")
        assert [d.event for d in sent] == [first, second]
        await feed.until(2)
        async with asyncio.timeout(WAIT):
            await bus.drain()
        assert feed.handled == [first.id, second.id]
        assert await admin(amqp_prefix).dead_letters("feed") == []

    async def test_an_unknown_event_sends_nothing_and_keeps_the_others(
        self, one_parked: Event, amqp_prefix: str
    ) -> None:
        assert await admin(amqp_prefix).send_back("feed", "12345") == []
        assert await admin(amqp_prefix).send_back("search-indexer") == []
        assert [d.event for d in await admin(amqp_prefix).dead_letters("feed")] == [one_parked]

    async def test_a_consumer_whose_queue_is_gone_keeps_its_dead_letter(
        self, running: tuple[RabbitMQEventBus, Handler, Handler], amqp_prefix: str
    ) -> None:
        bus, _, _ = running
        parked = event()
        await park(bus, parked)
        await bus.close()
        assert AMQP_URL
        connection = await aio_pika.connect(AMQP_URL, timeout=5)
        async with connection:
            await (await connection.channel()).queue_delete(f"{amqp_prefix}feed")

        with pytest.raises(LookupError, match=f"no queue {amqp_prefix}feed"):
            await admin(amqp_prefix).send_back("feed", str(parked.id))
        assert [d.event for d in await admin(amqp_prefix).dead_letters("feed")] == [parked]


class TestUnreachable:
    async def test_listing_and_sending_back_are_unavailable(self) -> None:
        bus = RabbitMQEventBus(f"amqp://guest:guest@127.0.0.1:{free_port()}/", timeout=2)
        async with asyncio.timeout(WAIT):
            with pytest.raises(Unavailable):
                await bus.dead_letters("feed")
            with pytest.raises(Unavailable):
                await bus.send_back("feed", "1")


runner = CliRunner()


def minifb(*args: str) -> Result:
    return runner.invoke(cli, list(args))


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated SQLite database of the test's own, which the command line uses."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("MINIFB_DATABASE_URL", url)
    assert minifb("db", "upgrade").exit_code == 0
    return url


@pytest.fixture
def on_the_broker(amqp_prefix: str, database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The command line on the run's RabbitMQ, with the test's prefix."""
    assert AMQP_URL
    monkeypatch.setenv("MINIFB_EVENTS_URL", AMQP_URL)
    monkeypatch.setenv("MINIFB_EVENTS_PREFIX", amqp_prefix)
    return amqp_prefix


async def park_in_the_database(url: str, consumer: str, e: Event) -> int:
    db = Database(url)
    try:
        await dead_letters.park(db, consumer, e, attempts=5, error=ValueError("cannot digest"))
        [letter] = await dead_letters.list_parked(db)
    finally:
        await db.dispose()
    return letter.id


@needs_rabbitmq
@pytest.mark.usefixtures("on_the_broker")
class TestTheCommandLine:
    async def test_lists_both_and_sends_a_broker_dead_letter_back_to_its_consumer(
        self, running: tuple[RabbitMQEventBus, Handler, Handler], database: str
    ) -> None:
        assert AMQP_URL
        bus, feed, notifications = running
        poison, digested = event(), event("thing.happened")
        await park(bus, poison)
        letter_id = await park_in_the_database(database, "picky", digested)

        listed = await asyncio.to_thread(minifb, "events", "dead-letters")
        assert listed.exit_code == 0, listed.output
        lines = listed.output.splitlines()
        assert lines[0] == "in the database (send one back: minifb events retry ID):"
        assert lines[1].startswith(
            f"  {letter_id} consumer=picky event={digested.id} type=thing.happened attempts=5 "
        )
        assert lines[1].endswith(" error=ValueError: cannot digest")
        broker = make_url(AMQP_URL).render_as_string(hide_password=True)
        assert lines[2:] == [
            f"in the broker {broker} "
            "(send one back: minifb events retry --consumer CONSUMER EVENT):",
            f"  consumer=feed event={poison.id} type=post.created attempts=2 "
            "error=RuntimeError('a bug')",
        ]

        feed.failing = False
        retried = await asyncio.to_thread(
            minifb, "events", "retry", "--consumer", "feed", str(poison.id)
        )
        assert (retried.exit_code, retried.output) == (
            0,
            f"event {poison.id} (post.created) sent back to consumer feed\n",
        )
        await feed.until(1)
        async with asyncio.timeout(WAIT):
            await bus.drain()
        assert feed.handled == [poison.id]
        assert notifications.handled == [poison.id]  # it had it; not again

        listed = await asyncio.to_thread(minifb, "events", "dead-letters")
        assert listed.exit_code == 0, listed.output
        assert listed.output.splitlines()[-1] == "  none"
        assert f"  {letter_id} consumer=picky" in listed.output  # the database's stays

    async def test_all_of_a_consumers(
        self, running: tuple[RabbitMQEventBus, Handler, Handler]
    ) -> None:
        bus, feed, _ = running
        first, second = event(), event()
        await park(bus, first, second)
        feed.failing = False
        retried = await asyncio.to_thread(minifb, "events", "retry", "--consumer", "feed", "--all")
        assert (retried.exit_code, retried.output.splitlines()) == (
            0,
            [
                f"event {first.id} (post.created) sent back to consumer feed",
                f"event {second.id} (post.created) sent back to consumer feed",
            ],
        )
        await feed.until(2)
        again = await asyncio.to_thread(minifb, "events", "retry", "--consumer", "feed", "--all")
        assert (again.exit_code, again.output) == (
            0,
            "no dead letters of consumer feed in the broker\n",
        )

    async def test_an_unknown_event_is_one_line_and_a_failure(
        self, one_parked: Event, amqp_prefix: str
    ) -> None:
        retried = await asyncio.to_thread(minifb, "events", "retry", "--consumer", "feed", "999")
        assert (retried.exit_code, retried.output) == (
            1,
            "error: no dead letter of consumer feed for event 999 in the broker; "
            "`minifb events dead-letters` lists them\n",
        )
        assert [d.event for d in await admin(amqp_prefix).dead_letters("feed")] == [one_parked]


@pytest.mark.usefixtures("database")
class TestTheCommandLineWithoutTheBroker:
    @pytest.mark.parametrize(
        "command",
        [["events", "dead-letters"], ["events", "retry", "--consumer", "feed", "1"]],
    )
    def test_a_broker_that_does_not_answer_is_one_line_and_a_failure(
        self, command: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        port = free_port()
        monkeypatch.setenv("MINIFB_EVENTS_URL", f"amqp://guest:hunter2@127.0.0.1:{port}/")
        result = minifb(*command)
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        [line] = result.output.splitlines()
        assert line.startswith(
            f"error: cannot reach the broker amqp://guest:***@127.0.0.1:{port}/: "
        )
        assert "hunter2" not in result.output

    def test_a_consumer_needs_a_broker(self) -> None:
        result = minifb("events", "retry", "--consumer", "feed", "1")
        assert result.exit_code == 1
        assert result.output.startswith("error: --consumer sends back a broker's dead letter: ")

    @pytest.mark.parametrize(
        "args",
        [
            ["--consumer", "feeds", "1"],  # no such consumer
            ["--consumer", "feed"],  # neither an event nor --all
            ["--consumer", "feed", "--all", "1"],  # both
            ["--all"],  # whose?
            [],
        ],
    )
    def test_what_is_no_dead_letter_is_refused(self, args: list[str]) -> None:
        assert minifb("events", "retry", *args).exit_code == 2
