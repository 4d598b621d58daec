"""The monitor's scheduler alone: typed deadlines in instant order, and the sweep (NFR-001)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dq_monitor.monitor.scheduler import Deadline, Scheduler

T0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.req("NFR-001", "FR-003")
def test_deadlines_come_due_in_instant_order_then_in_the_order_they_were_armed() -> None:
    s = Scheduler(60.0)
    s.push(at(5), "watch", "b", "k1")
    s.push(at(1), "fresh", "a", "")
    s.push(at(5), "fresh", "c", "")
    assert s.next_wakeup() == at(1) and len(s) == 3
    assert [(d.source, d.kind) for d in s.due(at(4))] == [("a", "fresh")]
    due = list(s.due(at(5)))
    assert [(d.source, d.key) for d in due] == [("b", "k1"), ("c", "")]
    assert isinstance(due[0], Deadline) and due[0].when == at(5)
    assert s.next_wakeup() is None and len(s) == 0


@pytest.mark.req("NFR-001")
def test_a_deadline_armed_while_due_ones_are_handled_comes_due_in_the_same_turn() -> None:
    s = Scheduler(60.0)
    s.push(at(1), "watch", "a", "k")
    seen = []
    for d in s.due(at(10)):
        seen.append(d.when)
        if d.when == at(1):
            s.push(at(2), "watch", "a", "k")  # due already: handled now
            s.push(at(20), "watch", "a", "k")  # not yet
    assert seen == [at(1), at(2)]
    assert s.next_wakeup() == at(20)


@pytest.mark.req("NFR-001")
def test_the_sweep_is_due_every_interval_and_wakes_the_monitor_first_when_earliest() -> None:
    s = Scheduler(30.0)
    assert s.next_wakeup() is None and not s.sweep_due(at(100))  # not started: no sweep
    s.start(T0)
    s.start(at(10))  # a second start keeps the first schedule
    s.push(at(45), "fresh", "a", "")
    assert s.next_wakeup() == at(30)
    assert not s.sweep_due(at(29))
    assert s.sweep_due(at(31))
    assert s.next_wakeup() == at(45)  # the next sweep is at 61
    assert [d.source for d in s.due(at(50))] == ["a"]
    assert s.next_wakeup() == at(61)
