"""Rolling snapshot cycles: replaying from the latest marker equals replaying everything."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dq_monitor.state.snapshots import Plan, SnapshotPlanner

MARKER = "__snapshot__"

#: (key, value or None) appended to one partition's log.
Entry = tuple[str, int | str | None]


def replay(log: list[Entry], start: int = 0) -> dict[str, int | str]:
    """The state a restore builds: the last record of each key wins, markers skipped."""
    state: dict[str, int | str | None] = {}
    for key, value in log[start:]:
        if key != MARKER:
            state[key] = value
    return {k: v for k, v in state.items() if v is not None}


def latest_start(log: list[Entry]) -> int:
    for key, value in reversed(log):
        if key == MARKER:
            assert isinstance(value, int)
            return value
    return 0


@dataclass
class Instance:
    """One partition's owner, as the service runs it: memory, changed keys, planner, log."""

    log: list[Entry]
    floor: int = 2
    memory: dict[str, int] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    planner: SnapshotPlanner = field(init=False)

    def __post_init__(self) -> None:
        self.planner = SnapshotPlanner(floor=self.floor)
        start = latest_start(self.log)
        self.memory = {k: v for k, v in replay(self.log, start).items()
                       if isinstance(v, int)}
        self.planner.restored(0, len(self.log) - start, len(self.memory), len(self.log))

    def put(self, key: str, value: int) -> None:
        self.memory[key] = value
        self.dirty.add(key)

    def delete(self, key: str) -> None:
        if self.memory.pop(key, None) is not None:
            self.dirty.add(key)

    def checkpoint(self, outcome: str) -> None:
        """One checkpoint; ``outcome``: ok, retried (a partial first attempt, then all again),
        refused (one record never written), or lost (sent, then the process dies)."""
        written = sorted(self.dirty)
        self.dirty.clear()
        plan = self.planner.plan(0, written, lambda: list(self.memory))
        records: list[Entry] = []
        if plan.marker_from is not None:
            records.append((MARKER, plan.marker_from))
        records += [(k, self.memory.get(k)) for k in written]
        records += [(k, self.memory.get(k)) for k in plan.refresh]
        first = len(self.log)
        if outcome == "ok":
            self.log += records
            if records:
                self.planner.acked(0, first, len(records))
        elif outcome == "retried":
            self.log += records[: len(records) // 2]
            self.log += records
            self.planner.restart([0])
        elif outcome == "refused":
            # one state record refused for good (too large): skipped, the log keeps an older
            # version of that key than memory (a tombstone is never too large)
            big = next((i for i, (k, v) in enumerate(records) if k != MARKER and v is not None),
                       None)
            self.log += [r for i, r in enumerate(records) if i != big]
            self.planner.restart([0])
        else:  # lost: some records durable, no acknowledgement seen, the process dies
            self.log += records[: len(records) // 2]


ops = st.lists(st.one_of(
    st.tuples(st.just("put"), st.integers(0, 11), st.integers(0, 5)),
    st.tuples(st.just("delete"), st.integers(0, 11), st.just(0)),
    st.tuples(st.just("checkpoint"),
              st.sampled_from(["ok", "ok", "ok", "ok", "retried", "refused", "lost"]),
              st.just(0)),
    st.tuples(st.just("crash"), st.just(0), st.just(0)),
    # another writer (dq-monitor seed) puts a key this instance does not hold
    st.tuples(st.just("seed"), st.integers(12, 14), st.integers(0, 5)),
), max_size=120)


@pytest.mark.req("NFR-001", "NFR-003")
@settings(max_examples=400, deadline=None)
@given(ops, st.integers(1, 4))
# a seeded record, then a re-sent checkpoint: the gap before the next acknowledgement holds both
@example([("put", 0, 0), ("seed", 12, 0), ("checkpoint", "retried", 0), ("checkpoint", "ok", 0),
          ("checkpoint", "ok", 0), ("checkpoint", "ok", 0)], 1)
def test_replaying_from_the_latest_marker_equals_replaying_everything(
    steps: list[tuple[str, int | str, int]], floor: int,
) -> None:
    log: list[Entry] = []
    inst = Instance(log, floor)
    for op, a, b in steps:
        if op == "put":
            inst.put(f"k{a}", b)
        elif op == "delete":
            inst.delete(f"k{a}")
        elif op == "checkpoint":
            assert isinstance(a, str)
            inst.checkpoint(a)
            if a == "lost":
                inst = Instance(log, floor)
        elif op == "seed":
            log.append((f"k{a}", b))
        else:  # crash: unwritten changes are lost, a new owner restores
            inst = Instance(log, floor)
        assert replay(log, latest_start(log)) == replay(log)


@pytest.mark.req("NFR-001", "NFR-003")
def test_a_cycle_refreshes_at_least_the_floor_and_as_many_keys_as_changed() -> None:
    planner = SnapshotPlanner(floor=3)
    live = [f"k{i}" for i in range(10)]
    first = planner.plan(0, ["k0", "k1", "k2", "k3"], lambda: live)
    assert first.marker_from is None
    assert len(first.refresh) == 4 and not {"k0", "k1", "k2", "k3"} & set(first.refresh)
    planner.acked(0, 100, 4 + 4)
    second = planner.plan(0, [], lambda: live)
    assert len(second.refresh) == 2 and planner.owed(0) == 0
    planner.acked(0, 108, 2)
    third = planner.plan(0, ["k5"], lambda: live)
    # the cycle is complete and durable: its marker names its first record
    assert third.marker_from == 100


@pytest.mark.req("NFR-001", "NFR-006")
def test_a_failed_send_or_a_lost_partition_starts_the_cycle_over() -> None:
    planner = SnapshotPlanner(floor=100)
    live = ["a", "b"]
    planner.plan(0, [], lambda: live)
    planner.restart([0])  # the checkpoint that began the cycle was re-sent
    again = planner.plan(0, [], lambda: live)
    assert again.marker_from is None and sorted(again.refresh) == ["a", "b"]
    planner.acked(0, 7, 2)
    planner.drop([0])  # revoked before the marker was written
    assert planner.plan(0, [], lambda: []).marker_from is None


@pytest.mark.req("NFR-001", "NFR-006")
def test_a_state_record_refused_mid_cycle_keeps_the_next_marker_from_skipping_it() -> None:
    log: list[Entry] = []
    inst = Instance(log, floor=1)
    for i in range(10):
        inst.put(f"k{i}", 1)
    inst.checkpoint("ok")  # the first cycle: every key written
    for i in range(20):  # one key keeps changing until the next cycle starts
        inst.put("k0", i)
        inst.checkpoint("ok")
        if inst.planner.owed(0):
            break
    owed = sorted(inst.planner.cycles[0].owed)
    inst.put(owed[0], 2)
    inst.checkpoint("refused")  # that key's new value never reaches the log
    for _ in range(12):
        inst.checkpoint("ok")
        assert replay(log, latest_start(log)) == replay(log)
    assert replay(log)[owed[0]] == 2  # a later cycle wrote it again


@pytest.mark.req("NFR-001", "NFR-003")
def test_a_cycle_starts_only_once_the_tail_since_the_last_snapshot_is_as_long_as_it() -> None:
    planner = SnapshotPlanner(floor=2)
    live = [f"k{i}" for i in range(6)]
    planner.restored(0, records=20, keys=6)  # a long tail read: a cycle starts at once
    assert len(planner.plan(0, [], lambda: live).refresh) == 2
    planner.acked(0, 50, 2)
    offset = 52
    while planner.owed(0):
        assert len(planner.plan(0, [], lambda: live).refresh) == 2
        planner.acked(0, offset, 2)
        offset += 2
    done = planner.plan(0, [], lambda: live)  # paid and durable: its marker, no new cycle
    assert done.marker_from == 50 and done.refresh == []
    for _ in range(5):  # quiet: nothing changes, nothing is rewritten
        assert planner.plan(0, [], lambda: live) == Plan()
    assert planner.plan(0, ["k3"], lambda: live) == Plan()
    # the records since the marker (the marker, k3 and these 4) reach its 6 keys: a new cycle
    assert sorted(planner.plan(0, ["k0", "k1", "k2", "k4"], lambda: live).refresh) == [
        "k3", "k5"]


@pytest.mark.req("NFR-001", "NFR-006")
def test_a_record_another_writer_put_is_never_hidden_by_a_later_marker() -> None:
    log: list[Entry] = []
    inst = Instance(log, floor=1)
    for i in range(4):
        inst.put(f"k{i}", 1)
    inst.checkpoint("ok")
    log.append(("seeded", 7))  # dq-monitor seed, while this instance runs
    for i in range(30):
        inst.put(f"k{i % 4}", i)
        inst.checkpoint("ok")
    assert replay(log, latest_start(log))["seeded"] == 7
    assert latest_start(log) < log.index(("seeded", 7))
    # after a restart (which reads it), snapshots go on
    inst = Instance(log, floor=1)
    for i in range(30):
        inst.put(f"k{i % 4}", i)
        inst.checkpoint("ok")
    assert latest_start(log) > log.index(("seeded", 7))
    assert replay(log, latest_start(log)) == replay(log)
