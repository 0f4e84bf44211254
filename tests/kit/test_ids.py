from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from minifb.kit.ids import (
    MAX_ID,
    MAX_SCORE,
    IdGenerator,
    WorkerIdUnavailable,
    id_time,
    lease_clock,
    min_id_at,
    score,
    worker_of,
)


class TestIds:
    def test_ids_are_unique_and_increasing_across_threads(self) -> None:
        gen = IdGenerator(7)
        with ThreadPoolExecutor(4) as pool:
            batches = list(pool.map(lambda _: [gen.next_id() for _ in range(5000)], range(4)))
        every = [i for batch in batches for i in batch]
        assert len(set(every)) == len(every)
        for batch in batches:
            assert batch == sorted(batch)

    def test_ids_fit_signed_64_bits_and_carry_their_time(self) -> None:
        id_ = IdGenerator(1023).next_id()
        assert 0 < id_ < 2**63
        assert abs(id_time(id_) - datetime.now(UTC)) < timedelta(seconds=2)

    def test_min_id_at_bounds_ids_minted_later(self) -> None:
        before = min_id_at(datetime.now(UTC) - timedelta(milliseconds=5))
        assert IdGenerator(3).next_id() > before

    def test_workers_never_collide(self) -> None:
        a, b = IdGenerator(1), IdGenerator(2)
        assert not {a.next_id() for _ in range(1000)} & {b.next_id() for _ in range(1000)}

    def test_worker_out_of_range_is_refused(self) -> None:
        with pytest.raises(ValueError, match="worker_id"):
            IdGenerator(1024)


class TestScores:
    def test_a_score_is_exact_and_ordered_like_the_ids(self) -> None:
        ids = [IdGenerator(w).next_id() for w in (0, 5, 1023)] + [1, 4096, MAX_ID]
        for id_ in ids:
            assert int(score(id_)) == id_ >> 12  # no bit lost in the float
        assert [score(i) for i in sorted(ids)] == sorted(score(i) for i in ids)

    def test_every_id_scores_below_the_maximum(self) -> None:
        assert score(MAX_ID) < MAX_SCORE < float("inf")


class TestGrants:
    def test_without_a_grant_no_id_is_minted(self) -> None:
        generator = IdGenerator()
        assert generator.worker_id is None
        with pytest.raises(WorkerIdUnavailable):
            generator.next_id()

    def test_ids_carry_the_granted_worker_id(self) -> None:
        generator = IdGenerator()
        generator.grant("lease", 42, lease_clock() + 60)
        assert generator.worker_id == 42
        assert {worker_of(generator.next_id()) for _ in range(100)} == {42}

    def test_past_its_deadline_a_grant_mints_nothing(self) -> None:
        generator = IdGenerator()
        generator.grant("lease", 5, lease_clock() + 0.05)
        generator.next_id()
        time.sleep(0.06)
        assert generator.worker_id is None
        with pytest.raises(WorkerIdUnavailable) as raised:
            generator.next_id()
        assert raised.value.service == "worker id lease"  # answered as a 503

    def test_a_renewed_grant_mints_on(self) -> None:
        generator = IdGenerator()
        generator.grant("lease", 5, lease_clock() + 0.05)
        time.sleep(0.06)
        generator.grant("lease", 5, lease_clock() + 60)
        assert worker_of(generator.next_id()) == 5

    def test_the_newest_holder_is_used_and_the_one_before_after_it(self) -> None:
        generator = IdGenerator()
        generator.grant("first", 1)
        generator.grant("second", 2, lease_clock() + 60)
        generator.grant("first", 1, lease_clock() + 60)  # a renewal keeps its place
        assert worker_of(generator.next_id()) == 2
        generator.withdraw("second")
        assert worker_of(generator.next_id()) == 1
        generator.withdraw("first")
        with pytest.raises(WorkerIdUnavailable):
            generator.next_id()

    def test_ids_stay_distinct_across_a_change_of_worker(self) -> None:
        generator = IdGenerator()
        generator.grant("lease", 9)
        before = [generator.next_id() for _ in range(10)]
        generator.grant("lease", 3)
        after = [generator.next_id() for _ in range(10)]
        assert len(set(before + after)) == 20
        assert {worker_of(i) for i in after} == {3}
