"""The circuit breaker every adapter of another service counts its failures in, and the
back-off of the loops that retry one."""

from __future__ import annotations

import logging

import pytest

from minifb.adapters.resilience import Backoff, CircuitBreaker, Unavailable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, **options: float) -> CircuitBreaker:
    return CircuitBreaker("redis", clock=clock, **options)  # type: ignore[arg-type]


class TestOpening:
    def test_stays_closed_below_the_threshold_and_a_success_resets_the_count(self) -> None:
        clock = Clock()
        b = breaker(clock, threshold=3)
        b.failure()
        b.failure()
        b.success()
        b.failure()
        b.failure()
        assert b.state == "closed"
        assert b.allow()

    def test_opens_after_threshold_failures_in_a_row_and_refuses_at_once(self) -> None:
        clock = Clock()
        b = breaker(clock, threshold=3, cooldown=2.0)
        for _ in range(3):
            b.failure()
        assert b.state == "open"
        assert not b.allow()
        with pytest.raises(Unavailable) as caught:
            b.check()
        assert caught.value.service == "redis"
        assert caught.value.retry_after == 2.0


class TestRecovery:
    def test_lets_one_trial_through_after_the_cooldown_and_closes_on_its_success(self) -> None:
        clock = Clock()
        b = breaker(clock, threshold=1, cooldown=2.0)
        b.failure()
        clock.now += 2.0
        assert b.state == "half-open"
        assert b.allow()  # the trial
        assert not b.allow()  # everyone else waits for it
        b.success()
        assert b.state == "closed"
        assert b.allow()
        assert b.allow()

    def test_a_failed_trial_doubles_the_cooldown_up_to_the_maximum(self) -> None:
        clock = Clock()
        b = breaker(clock, threshold=1, cooldown=1.0, max_cooldown=3.0)
        b.failure()
        waits = []
        for _ in range(3):
            clock.now += 10
            assert b.allow()
            b.failure()
            waits.append(b.retry_after)
        assert waits == [2.0, 3.0, 3.0]
        clock.now += 2.9
        assert not b.allow()
        clock.now += 0.1
        assert b.allow()

    def test_a_success_after_reopening_restores_the_first_cooldown(self) -> None:
        clock = Clock()
        b = breaker(clock, threshold=1, cooldown=1.0)
        b.failure()
        clock.now += 1
        assert b.allow()
        b.failure()  # cooldown now 2 s
        clock.now += 2
        assert b.allow()
        b.success()
        b.failure()
        assert b.retry_after == 1.0

    def test_a_cancelled_trial_frees_the_slot(self) -> None:
        clock = Clock()
        b = breaker(clock, threshold=1, cooldown=1.0)
        b.failure()
        clock.now += 1
        assert b.allow()
        b.release()
        assert b.allow()


def test_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker("x", threshold=0)
    with pytest.raises(ValueError, match="cooldown"):
        CircuitBreaker("x", cooldown=5, max_cooldown=1)
    with pytest.raises(ValueError, match="first"):
        Backoff("x", logging.getLogger("test"), first=2, cap=1)


class TestBackoff:
    def test_waits_double_from_the_first_up_to_the_cap(self) -> None:
        backoff = Backoff("relay", logging.getLogger("test"), first=0.5, cap=4.0)
        error = Unavailable("database")
        assert [backoff.failure(error) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
        backoff.success()
        assert backoff.failure(error) == 0.5

    def test_never_overflows_however_long_the_outage(self) -> None:
        backoff = Backoff("relay", logging.getLogger("test"), first=0.5, cap=30.0)
        backoff.tries = 5000
        assert backoff.failure(Unavailable("database")) == 30.0

    def test_logs_one_line_when_failing_starts_and_one_when_it_ends(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="test.backoff")
        backoff = Backoff("outbox relay", logging.getLogger("test.backoff"))
        for _ in range(20):
            backoff.failure(Unavailable("database"))
        backoff.success()
        backoff.success()
        messages = [r.getMessage() for r in caplog.records]
        assert messages == [
            "outbox relay failed (database is unavailable); retrying with back-off",
            messages[1],
        ]
        assert messages[1].startswith("outbox relay works again after 20 failed tries")
        assert not any(r.exc_info for r in caplog.records)

    def test_a_traceback_only_when_asked_for_one(self, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.INFO, logger="test.backoff")
        backoff = Backoff("relay", logging.getLogger("test.backoff"))
        try:
            raise RuntimeError("a bug")
        except RuntimeError as exc:
            backoff.failure(exc, trace=True)
        assert caplog.records[0].exc_info is not None
