"""A channel's queue with no event loop: bounded, several deliveries at once, and in order per
fingerprint (NFR-002, FR-010)."""

from __future__ import annotations

import pytest

from dq_monitor.routing.lanes import Lanes


def fp(job: str) -> str:
    """Jobs are ``<fingerprint>:<what>`` strings here."""
    return job.split(":")[0]


@pytest.mark.req("NFR-002", "FR-010")
def test_several_fingerprints_are_delivered_at_once_up_to_max_in_flight() -> None:
    lanes = Lanes(10, 3, fp)
    for job in ("a:firing", "b:firing", "c:firing", "d:firing"):
        assert lanes.put(job)
    assert [lanes.take(), lanes.take(), lanes.take()] == ["a:firing", "b:firing", "c:firing"]
    assert lanes.take() is None  # three under way: the fourth waits
    lanes.done("b:firing")
    assert lanes.take() == "d:firing"


@pytest.mark.req("NFR-002", "FR-010", "FR-009")
def test_a_recovery_never_overtakes_its_firing_alert_and_waits_alone() -> None:
    lanes = Lanes(10, 4, fp)
    for job in ("a:firing", "a:resolved", "b:firing", "a:reminder", "c:firing"):
        lanes.put(job)
    taken = [lanes.take() for _ in range(4)]
    # a's recovery waits for a's firing alert; b and c behind it are not held up
    assert taken == ["a:firing", "b:firing", "c:firing", None]
    lanes.done("a:firing")
    assert lanes.take() == "a:resolved"
    assert lanes.take() is None  # a's reminder waits for the recovery
    lanes.done("a:resolved")
    assert lanes.take() == "a:reminder"


@pytest.mark.req("FR-010")
def test_a_full_queue_refuses_without_counting_what_is_under_way() -> None:
    lanes = Lanes(2, 1, fp)
    assert lanes.put("a:1") and lanes.put("b:1")
    assert not lanes.put("c:1") and lanes.full
    assert lanes.take() == "a:1"
    assert lanes.put("c:1")  # a taken job makes room, though still in flight
    assert len(lanes) == 2 and lanes.in_flight == 1


@pytest.mark.req("FR-010", "FR-021")
def test_closing_finishes_once_queue_and_flight_are_empty_and_drop_removes_jobs() -> None:
    lanes = Lanes(5, 2, fp)
    for job in ("a:1", "b:1", "c:1"):
        lanes.put(job)
    assert lanes.drop(lambda j: j != "b:1") == ["b:1"]
    lanes.closed = True
    assert lanes.take() == "a:1" and not lanes.finished
    assert lanes.take() == "c:1"
    lanes.done("a:1")
    lanes.done("c:1")
    assert lanes.finished
    with pytest.raises(ValueError, match="not in flight"):
        lanes.done("c:1")
    with pytest.raises(ValueError, match="at least 1"):
        Lanes(0, 1, fp)
