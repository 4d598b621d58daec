"""The collector settings of a dq-monitor process (NFR-003)."""

from __future__ import annotations

import gc

import pytest

from dq_monitor.collector import (
    YOUNG_THRESHOLD,
    paused_collector,
    release_free_memory,
    tuned_collector,
)


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


@pytest.mark.req("NFR-001", "NFR-003")
def test_entering_the_service_settings_does_not_walk_every_object_alive() -> None:
    """A full collection at start-up walks the whole configuration (0.2 s at 10,000 sources)
    and finds nothing; only the young generations are collected before freezing."""
    generations: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            generations.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        with tuned_collector():
            pass
    finally:
        gc.callbacks.remove(seen)
    assert generations and max(generations) < 2


def _resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.req("NFR-005")
def test_memory_a_burst_freed_between_live_blocks_is_handed_back() -> None:
    # A checkpoint's records: many C-heap blocks (over pymalloc's 512 bytes), most freed once
    # acknowledged while the state allocated meanwhile stays live between them.
    blocks = [bytes(2000) + bytes([i % 256]) for i in range(100_000)]
    kept = blocks[9::10]
    del blocks
    before = _resident()
    assert release_free_memory()
    after = _resident()
    assert before - after > 50 * 2**20  # of the ~180 MB freed, whole pages are back
    assert len(kept) == 10_000


@pytest.mark.req("NFR-001")
def test_a_paused_collector_collects_nothing_inside_and_resumes_after() -> None:
    assert gc.isenabled()
    with paused_collector():
        assert not gc.isenabled()
        with paused_collector():  # re-entrant: the inner pause does not resume it
            pass
        assert not gc.isenabled()
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
    assert gc.isenabled()
    assert gc.collect() >= 1  # the cycle made meanwhile is collected after
