"""Dead letters: a poison event is tried 5 times, parked with its error, and the others flow;
`minifb events dead-letters` lists it and `minifb events retry ID` sends it back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from minifb.adapters.events import Event
from minifb.adapters.resilience import Unavailable
from minifb.bootstrap import Container
from minifb.cli import app as cli
from minifb.kit import dead_letters
from minifb.kit.dead_letters import dead_lettered
from minifb.kit.outbox import idempotent, purge, record_event
from minifb.models import DeadLetter, OutboxEvent, ProcessedEvent

runner = CliRunner()
FAST = 0.001  # the first wait between attempts in these tests


def _container(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


async def _write_events(container: Container, *names: str) -> list[int]:
    """Commit one `thing.happened` event per name; their ids, in order."""
    async with container.db.transaction() as session:
        return [
            record_event(session, "thing.happened", actor_id=None, data={"name": name})
            for name in names
        ]


async def _flush(container: Container) -> None:
    while await container.relay.relay_once():
        pass
    await container.bus.drain()


async def _letters(container: Container) -> list[DeadLetter]:
    return list(await dead_letters.list_parked(container.db, include_retried=True))


class Poisoned:
    """A consumer's effect that fails on the events named `poison` while `poisoned`."""

    def __init__(self) -> None:
        self.poisoned = True
        self.tries: dict[str, int] = {}
        self.handled: list[str] = []

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        name = event.data["name"]
        self.tries[name] = self.tries.get(name, 0) + 1
        if name == "poison" and self.poisoned:
            raise ValueError(f"cannot digest {name}")
        self.handled.append(name)


@pytest.fixture
async def poisoned(app: FastAPI) -> Poisoned:
    """The consumer `picky`, subscribed to `thing.happened`."""
    container = _container(app)
    effect = Poisoned()
    container.bus.subscribe(
        "picky", ["thing.happened"], idempotent(container.db, "picky", effect, first_delay=FAST)
    )
    return effect


class TestAPoisonEvent:
    async def test_is_tried_five_times_then_parked_and_the_others_flow(
        self, app: FastAPI, poisoned: Poisoned
    ) -> None:
        container = _container(app)
        ids = await _write_events(container, "before", "poison", "after")
        await _flush(container)
        assert poisoned.tries == {"before": 1, "poison": 5, "after": 1}
        assert poisoned.handled == ["before", "after"]
        [letter] = await _letters(container)
        assert letter.consumer == "picky"
        assert letter.event_id == ids[1]
        assert letter.event_type == "thing.happened"
        assert letter.attempts == 5
        assert letter.error == "ValueError: cannot digest poison"
        assert letter.retried_at is None
        assert letter.event["data"] == {"name": "poison"}
        assert datetime.now(UTC) - letter.failed_at < timedelta(minutes=1)

    async def test_leaves_no_mark_so_it_is_not_taken_for_handled(
        self, app: FastAPI, poisoned: Poisoned
    ) -> None:
        container = _container(app)
        [poison] = await _write_events(container, "poison")
        await _flush(container)
        async with container.db.transaction() as session:
            marks = await session.scalar(
                select(func.count())
                .select_from(ProcessedEvent)
                .where(ProcessedEvent.consumer == "picky", ProcessedEvent.event_id == poison)
            )
        assert marks == 0

    async def test_a_failure_that_passes_spends_attempts_but_parks_nothing(
        self, app: FastAPI
    ) -> None:
        container = _container(app)
        tries: list[int] = []

        async def flaky(session: AsyncSession, event: Event) -> None:
            tries.append(event.id)
            if len(tries) < 4:
                raise RuntimeError("not yet")

        handler = idempotent(container.db, "flaky", flaky, first_delay=FAST)
        await handler(Event(id=77, type="t", occurred_at=datetime.now(UTC), actor_id=None))
        assert tries == [77] * 4
        assert await _letters(container) == []

    async def test_an_outage_spends_no_attempt_and_goes_back_to_the_bus(self, app: FastAPI) -> None:
        container = _container(app)
        tries: list[int] = []

        async def down(event: Event) -> None:
            tries.append(event.id)
            raise Unavailable("database")

        handler = dead_lettered(container.db, "down", down, first_delay=FAST)
        with pytest.raises(Unavailable):
            await handler(Event(id=78, type="t", occurred_at=datetime.now(UTC), actor_id=None))
        assert tries == [78]
        assert await _letters(container) == []

    async def test_the_error_kept_is_cut_to_a_size(self) -> None:
        text = dead_letters.describe(ValueError("x" * 5000))
        assert text.startswith("ValueError: xxx")
        assert len(text) == dead_letters.ERROR_LENGTH


class TestSendingBack:
    async def test_only_the_consumer_that_failed_handles_it_again(
        self, app: FastAPI, poisoned: Poisoned
    ) -> None:
        container = _container(app)
        others: list[str] = []

        async def other(session: AsyncSession, event: Event) -> None:
            others.append(event.data["name"])

        container.bus.subscribe(
            "other", ["thing.happened"], idempotent(container.db, "other", other)
        )
        await _write_events(container, "poison")
        await _flush(container)
        [letter] = await _letters(container)
        poisoned.poisoned = False  # the bug is fixed

        sent = await dead_letters.send_back(container.db, letter.id)
        assert sent is not None
        assert sent.retried_at is not None
        await _flush(container)
        assert poisoned.handled == ["poison"]
        assert others == ["poison"]  # the other consumer had it already: not twice
        [after] = await _letters(container)
        assert after.retried_at is not None
        assert await dead_letters.list_parked(container.db) == []

    async def test_failing_again_parks_it_again_with_the_attempts_added(
        self, app: FastAPI, poisoned: Poisoned
    ) -> None:
        container = _container(app)
        await _write_events(container, "poison")
        await _flush(container)
        [letter] = await _letters(container)
        await dead_letters.send_back(container.db, letter.id)
        await _flush(container)
        [again] = await _letters(container)
        assert again.id == letter.id
        assert again.attempts == 10
        assert again.retried_at is None
        assert poisoned.tries["poison"] == 10

    async def test_an_event_whose_row_is_gone_is_written_again(
        self, app: FastAPI, poisoned: Poisoned
    ) -> None:
        container = _container(app)
        [poison] = await _write_events(container, "poison")
        await _flush(container)
        [letter] = await _letters(container)
        async with container.db.transaction() as session:
            await session.delete(await session.get(OutboxEvent, poison))
        poisoned.poisoned = False
        await dead_letters.send_back(container.db, letter.id)
        await _flush(container)
        assert poisoned.handled == ["poison"]

    async def test_an_unknown_id_is_none(self, app: FastAPI) -> None:
        assert await dead_letters.send_back(_container(app).db, 12345) is None


class TestPurge:
    async def test_keeps_the_event_and_marks_of_a_dead_letter_until_it_goes(
        self, app: FastAPI, poisoned: Poisoned
    ) -> None:
        container = _container(app)
        seen: list[str] = []

        async def other(session: AsyncSession, event: Event) -> None:
            seen.append(event.data["name"])

        container.bus.subscribe(
            "other", ["thing.happened"], idempotent(container.db, "other", other)
        )
        poison, _fine = await _write_events(container, "poison", "fine")
        await _flush(container)
        later = datetime.now(UTC) + timedelta(days=30)
        await purge(container.db, later, keep=timedelta(days=7))
        async with container.db.transaction() as session:
            rows = set(await session.scalars(select(OutboxEvent.id)))
            marked = set(await session.scalars(select(ProcessedEvent.event_id)))
        assert rows == {poison}
        assert marked == {poison}  # the other consumer's mark of it
        # Sent back long ago, the dead letter goes, and what it kept with it.
        [letter] = await _letters(container)
        async with container.db.transaction() as session:
            await session.execute(
                update(DeadLetter)
                .where(DeadLetter.id == letter.id)
                .values(retried_at=datetime.now(UTC) - timedelta(days=8))
            )
        await purge(container.db, later, keep=timedelta(days=7))
        assert await _letters(container) == []
        await purge(container.db, later, keep=timedelta(days=7))
        async with container.db.transaction() as session:
            assert list(await session.scalars(select(OutboxEvent.id))) == []


def _cli(database_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args), env={"MINIFB_DATABASE_URL": database_url})
    return result.exit_code, result.output


class TestTheCommandLine:
    async def test_lists_the_parked_events_and_retries_one(
        self, app: FastAPI, poisoned: Poisoned, database_url: str
    ) -> None:
        container = _container(app)
        [poison] = await _write_events(container, "poison")
        await _flush(container)
        [letter] = await _letters(container)

        code, out = await asyncio.to_thread(_cli, database_url, "events", "dead-letters")
        assert code == 0, out
        assert out.startswith(
            f"{letter.id} consumer=picky event={poison} type=thing.happened attempts=5 failed="
        )
        assert out.rstrip().endswith("error=ValueError: cannot digest poison")

        poisoned.poisoned = False
        code, out = await asyncio.to_thread(_cli, database_url, "events", "retry", str(letter.id))
        assert code == 0, out
        assert out == f"event {poison} (thing.happened) sent back to consumer picky\n"
        # A running process's relay publishes it again; this test's app is that process.
        await _flush(container)
        assert poisoned.handled == ["poison"]

        code, out = await asyncio.to_thread(_cli, database_url, "events", "dead-letters")
        assert (code, out) == (0, "no dead letters\n")
        code, out = await asyncio.to_thread(_cli, database_url, "events", "dead-letters", "--all")
        assert code == 0
        assert f"{letter.id} consumer=picky" in out
        assert " retried=" in out

    async def test_an_unknown_id_is_one_line_and_a_failure(self, database_url: str) -> None:
        code, out = await asyncio.to_thread(_cli, database_url, "events", "retry", "999")
        assert code == 1
        assert out == "error: no dead letter 999; `minifb events dead-letters` lists them\n"

    async def test_an_id_that_is_no_number_is_refused(self, database_url: str) -> None:
        code, _ = await asyncio.to_thread(_cli, database_url, "events", "retry", "abc")
        assert code == 2
