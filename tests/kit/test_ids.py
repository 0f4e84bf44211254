from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from minifb.kit.ids import MAX_ID, MAX_SCORE, IdGenerator, id_time, min_id_at, score


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
