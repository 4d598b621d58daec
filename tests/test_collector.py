"""The collector settings of a dq-monitor process (NFR-003)."""

from __future__ import annotations

import gc

import pytest

from dq_monitor.collector import YOUNG_THRESHOLD, tuned_collector


@pytest.mark.req("NFR-003")
def test_the_service_collector_settings_hold_inside_and_are_restored_after() -> None:
    before = gc.get_threshold()
    with tuned_collector():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
        assert gc.get_freeze_count() > 0  # what was alive at start is out of the scans
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # cycles are still collected
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
