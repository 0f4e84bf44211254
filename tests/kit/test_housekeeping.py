"""Housekeeping: stale outbox rows, handled-event marks and idempotency keys go; the rest stays."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select, update

from minifb.adapters.resilience import Unavailable
from minifb.bootstrap import Container
from minifb.kit import outbox
from minifb.kit.db import Database, utcnow
from minifb.kit.housekeeping import Housekeeper
from minifb.kit.ids import min_id_at
from minifb.models import IdempotencyKey, OutboxEvent, ProcessedEvent
from tests.factories import register
from tests.fixtures.http import API

KEEP = timedelta(days=7)


def _container(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


async def _event(db: Database, at: datetime, *, published: bool, offset: int = 0) -> int:
    event_id = min_id_at(at) + offset
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(OutboxEvent).values(
                id=event_id,
                type="thing.happened",
                version=1,
                occurred_at=at,
                actor_id=None,
                data={},
                published_at=at if published else None,
            )
        )
        await conn.execute(
            insert(ProcessedEvent).values(consumer="feed", event_id=event_id, handled_at=at)
        )
    return event_id


async def _ids(db: Database, column: Any) -> set[int]:
    async with db.engine.connect() as conn:
        return set((await conn.scalars(select(column))).all())


class TestOutboxPurge:
    async def test_removes_only_published_events_and_marks_past_retention(
        self, app: FastAPI
    ) -> None:
        db, now = _container(app).db, utcnow()
        old = now - KEEP - timedelta(hours=1)
        stale = await _event(db, old, published=True)
        waiting = await _event(db, old, published=False, offset=1)  # never sent: kept
        recent = await _event(db, now - timedelta(days=1), published=True)
        removed = await outbox.purge(db, now, keep=KEEP)
        assert removed == 3  # one event, two marks
        assert await _ids(db, OutboxEvent.id) == {waiting, recent}
        assert await _ids(db, ProcessedEvent.event_id) == {recent}
        assert stale not in await _ids(db, OutboxEvent.id)

    async def test_works_through_many_batches(
        self, app: FastAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(outbox, "PURGE_BATCH", 2)
        db, now = _container(app).db, utcnow()
        for n in range(5):
            await _event(db, now - KEEP - timedelta(hours=1), published=True, offset=n)
        assert await outbox.purge(db, now, keep=KEEP) == 10
        assert await _ids(db, OutboxEvent.id) == set()


class TestIdempotencyKeyPurge:
    @pytest.mark.own_consumers("runs the housekeeping jobs of the app's process")
    async def test_keys_past_a_day_go_and_newer_ones_still_replay(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        person = await register(client, "keeper")
        for key in ("old-key", "new-key"):
            response = await client.post(
                f"{API}/posts",
                json={"text": key},
                headers={**person.headers, "Idempotency-Key": key},
            )
            assert response.status_code == 201, response.text
        db = _container(app).db
        async with db.engine.begin() as conn:
            await conn.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key == "old-key")
                .values(created_at=utcnow() - timedelta(hours=25))
            )
        removed = await _container(app).housekeeper.run_once()
        assert removed["idempotency_keys"] == 1
        assert await _ids(db, IdempotencyKey.key) == {"new-key"}
        again = await client.post(
            f"{API}/posts",
            json={"text": "new-key"},
            headers={**person.headers, "Idempotency-Key": "new-key"},
        )
        assert again.headers.get("Idempotent-Replayed") == "true"


class TestHousekeeper:
    async def test_a_failing_job_does_not_stop_the_others(self, app: FastAPI) -> None:
        keeper = Housekeeper(_container(app).db)

        async def broken(db: Database, now: datetime) -> int:
            raise RuntimeError("disk on fire")

        async def fine(db: Database, now: datetime) -> int:
            return 3

        keeper.add("broken", broken)
        keeper.add("fine", fine)
        assert await keeper.run_once() == {"fine": 3}

    async def test_runs_its_jobs_every_interval_until_stopped(self, app: FastAPI) -> None:
        keeper = Housekeeper(_container(app).db, interval=0.05)
        runs: list[datetime] = []

        async def count(db: Database, now: datetime) -> int:
            runs.append(now)
            return 0

        keeper.add("count", count)
        await keeper.start()
        await asyncio.sleep(0.3)
        await keeper.stop()
        seen = len(runs)
        assert seen >= 3
        await asyncio.sleep(0.1)
        assert len(runs) == seen  # stopped means stopped

    async def test_while_the_database_is_down_it_retries_soon_and_logs_once(
        self, app: FastAPI, caplog: pytest.LogCaptureFixture
    ) -> None:
        keeper = Housekeeper(_container(app).db, interval=0.5, backoff=(0.01, 0.05))
        runs: list[str] = []
        reached = asyncio.Event()

        async def flaky(db: Database, now: datetime) -> int:
            runs.append("flaky")
            if len(runs) <= 8:
                raise Unavailable("database")
            return 0

        async def after(db: Database, now: datetime) -> int:
            runs.append("after")
            reached.set()
            return 0

        keeper.add("flaky", flaky)
        keeper.add("after", after)
        caplog.set_level(logging.INFO, logger="minifb.housekeeping")
        await keeper.start()
        try:
            async with asyncio.timeout(3):
                await reached.wait()
        finally:
            await keeper.stop()
        # Retried every few hundredths of a second, not every interval; the jobs
        # after the failing one wait for the database with it.
        assert runs[:9] == ["flaky"] * 9
        records = [r for r in caplog.records if r.name == "minifb.housekeeping"]
        lines = [r.getMessage() for r in records]
        assert len(lines) == 2, lines
        assert lines[0].startswith("housekeeping failed (database is unavailable)")
        assert lines[1].startswith("housekeeping works again after 8 failed tries")
        assert not any(r.exc_info for r in records)

    @pytest.mark.own_consumers("runs the housekeeping jobs of the app's process")
    async def test_the_app_registers_every_service_job(self, app: FastAPI) -> None:
        assert set(await _container(app).housekeeper.run_once()) == {
            "outbox",
            "idempotency_keys",
            "media",
        }
