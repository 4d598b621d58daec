"""The backward search for the latest snapshot marker, on a log in memory (NFR-001, NFR-006)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dq_monitor.kafka.changelog import SNAPSHOT_KEY, SnapshotScan

Record = tuple[bytes, bytes | None]


def scan(log: list[Record], window: int, begin: int = 0) -> tuple[dict[bytes, bytes | None], int]:
    """Drive a scan as ``restore_state`` does: read each range from its start until the scan
    says it is read. Returns the last record of each key it keeps, and the records read."""
    end = len(log)
    s = SnapshotScan(begin, end, max(begin, end - window), end, window)
    read = drive(s, [*log, MARKER])  # the restore marker at the end
    return {k: v for k, (_, v) in s.latest.items()}, read


def expected(log: list[Record], begin: int = 0) -> dict[bytes, bytes | None]:
    start = begin
    for key, value in reversed(log[begin:]):
        if key == SNAPSHOT_KEY.encode():
            start = max(begin, orjson.loads(value or b"null")["from"])
            break
    out: dict[bytes, bytes | None] = {}
    for key, value in log[start:]:
        if key != SNAPSHOT_KEY.encode():
            out[key] = value
    return out


@st.composite
def logs(draw: st.DrawFn) -> list[Record]:
    n = draw(st.integers(0, 60))
    log: list[Record] = []
    for i in range(n):
        if i and draw(st.integers(0, 9)) == 0:
            log.append((SNAPSHOT_KEY.encode(),
                        orjson.dumps({"from": draw(st.integers(0, i - 1))})))
        else:
            value = draw(st.one_of(st.none(), st.binary(max_size=3)))
            log.append((f"k{draw(st.integers(0, 8))}".encode(), value))
    return log


@pytest.mark.req("NFR-001")
@settings(max_examples=300, deadline=None)
@given(logs(), st.integers(1, 12), st.integers(0, 5))
def test_the_scan_keeps_the_last_record_of_each_key_from_the_latest_marker_on(
    log: list[Record], window: int, begin: int,
) -> None:
    begin = min(begin, len(log))
    kept, _ = scan(log, window, begin)
    assert kept == expected(log, begin)


@pytest.mark.req("NFR-001", "NFR-003")
def test_the_scan_reads_the_tail_not_the_history() -> None:
    history: list[Record] = [(f"k{i % 10}".encode(), b"old") for i in range(10_000)]
    start = len(history)
    tail: list[Record] = [(f"k{i}".encode(), b"new") for i in range(10)]
    log = [*history, *tail, (SNAPSHOT_KEY.encode(), orjson.dumps({"from": start}))]
    kept, read = scan(log, window=4)
    assert kept == {f"k{i}".encode(): b"new" for i in range(10)}
    assert read < 40  # a full replay reads 10,011


@pytest.mark.req("NFR-006")
def test_an_unreadable_marker_is_passed_over_for_an_older_one() -> None:
    log: list[Record] = [(b"a", b"1"), (b"b", b"1"), (SNAPSHOT_KEY.encode(), b'{"from": 1}'),
                         (b"a", b"2"), (SNAPSHOT_KEY.encode(), b"not json")]
    kept, _ = scan(log, window=2)
    assert kept == {b"b": b"1", b"a": b"2"}


MARKER: Record = (b"__restore_marker__|x", None)


def drive(s: SnapshotScan, log: list[Record]) -> int:
    """Read ranges of ``log`` until the scan is complete, as ``restore_state`` does."""
    read = 0
    while True:
        offset = s.lo
        while True:
            read += 1
            key, value = log[offset]
            if s.feed(offset, key, value):
                break
            offset += 1
        if not s.next_range():
            return read


@pytest.mark.req("NFR-001")
@settings(max_examples=400, deadline=None)
@given(logs(), st.data(), st.integers(1, 12), st.integers(0, 5))
def test_a_scan_read_ahead_then_resumed_equals_a_scan_read_at_the_end(
    log: list[Record], data: st.DataObject, window: int, begin: int,
) -> None:
    # The log as the broker holds it: read ahead up to a restore marker at ``split``, more
    # records written meanwhile (by the partition's previous owner), then the final marker.
    split = data.draw(st.integers(0, len(log)))
    log = [*log[:split], MARKER, *log[split:]]
    end = len(log)
    log.append(MARKER)
    begin = min(begin, split)
    ahead = SnapshotScan(begin, split, max(begin, split - window), split, window)
    drive(ahead, log)
    ahead.resume(end)
    drive(ahead, log)
    if ahead.stale:  # a newer marker pointing back before what was kept: read afresh
        ahead = SnapshotScan(begin, end, max(begin, end - window), end, window)
        drive(ahead, log)
    whole = SnapshotScan(begin, end, max(begin, end - window), end, window)
    drive(whole, log)
    kept = {k: v for k, (_, v) in ahead.latest.items()}
    assert kept == {k: v for k, (_, v) in whole.latest.items()}
    assert kept == {k: v for k, v in expected(log[:end], begin).items()
                    if not k.startswith(b"__restore_marker__")}


@pytest.mark.req("NFR-001")
def test_a_resumed_scan_reads_only_what_was_written_since_and_follows_a_newer_snapshot() -> None:
    history: list[Record] = [(f"k{i % 10}".encode(), b"old") for i in range(1_000)]
    log = [*history, (SNAPSHOT_KEY.encode(), orjson.dumps({"from": 990})), MARKER]
    split = len(log) - 1
    since: list[Record] = [(b"k1", b"new"), (b"k2", None), (b"k3", b"new"),
                           (SNAPSHOT_KEY.encode(), orjson.dumps({"from": split + 1}))]
    log += [*since, MARKER]
    ahead = SnapshotScan(0, split, split - 4, split, 4)
    drive(ahead, log)
    ahead.resume(len(log) - 1)
    assert drive(ahead, log) == len(since) + 1  # the old marker and what came after it
    assert not ahead.stale
    # the newer snapshot (from the first record after the read-ahead) is the whole state now
    assert {k: v for k, (_, v) in ahead.latest.items()} == {
        b"k1": b"new", b"k2": None, b"k3": b"new"}
