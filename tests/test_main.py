"""App assembly: what a server process sets up beyond the app itself."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from minifb.main import tune_collector


@pytest.fixture
def collector() -> Iterator[None]:
    """Give the collector back as it was: thresholds, and nothing left frozen."""
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


class TestTuneCollector:
    def test_sets_the_thresholds_and_freezes_what_start_up_built(self, collector: None) -> None:
        tune_collector((50_000, 20, 100))
        assert gc.get_threshold() == (50_000, 20, 100)
        assert gc.get_freeze_count() > 0

    def test_off_leaves_the_collector_alone(self, collector: None) -> None:
        before = gc.get_threshold()
        tune_collector(None)
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
