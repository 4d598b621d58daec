"""Checkpointing monitor state to a compacted changelog topic, and reading it back.

Partition *p* of the changelog holds the state owned by input partition *p* (keys such as
``ser|source|subject``), so restoring after a restart or a rebalance reads only the partitions
this instance was given. A restore reads up to a marker record it writes itself first: that
works on brokers whose high watermark is approximate as well as on Apache Kafka.

NFR-006: any record may be unreadable (bytes that are not JSON, a shape from another version, a
value the current config cannot hold). Such a record is skipped, logged and handed to
``on_unreadable`` as an ``unreadable_state`` dead-letter record; the rest restores. Losing one
state record costs at most a re-warm-up of one series or one repeated alert, while refusing to
start would stop every alert.

NFR-001/NFR-003: the monitor's state restores with ``restore_state``, whose cost follows the live
keys, not the checkpoints ever written. It looks backwards from the end, in windows that double,
for the latest snapshot marker (key ``SNAPSHOT_KEY``, value ``{"from": S}``, written by the
service when a rolling snapshot completed: ``state.snapshots``) and reads from S on; with no
marker (a changelog of an older version, a new topic) it reads everything. Only the last record
of each key is decoded and applied, in the offset order of those last records; an unreadable
record that a later one of its key supersedes is never looked at, so it is not reported.

``read_ahead`` does the reading before the partitions are assigned (while the consumer group
join is still under way); ``restore_state(..., ahead=)`` then reads only the records written
since and applies the result, which equals a restore that read everything after the assignment.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dq_monitor.collector import paused_collector
from dq_monitor.config import KafkaConfig
from dq_monitor.kafka.clients import common_kwargs

log = logging.getLogger(__name__)

MARKER_PREFIX = "__restore_marker__|"
#: The key of a partition's snapshot end marker (one key, so compaction keeps the latest).
SNAPSHOT_KEY = "__snapshot__"
_SNAPSHOT = SNAPSHOT_KEY.encode()
_MARKER = MARKER_PREFIX.encode()
#: Records of the first window searched backwards for a snapshot marker; each next one doubles.
FIRST_WINDOW = 1024

#: The first bytes of a packed (binary) state value (``state.checkpoint.MAGIC`` starts with
#: them); every other state value is a JSON object.
PACKED = b"DQS"
#: A state value as read: a JSON object, a packed value (its bytes), or None (a tombstone).
StateValue = dict[str, Any] | bytes | None
Apply = Callable[[int, str, StateValue], None]
Unreadable = Callable[[dict[str, Any]], None]


def encode(value: StateValue) -> bytes | None:
    """A state value as written: a JSON object as JSON, a packed value as it is."""
    if value is None or isinstance(value, bytes):
        return value
    return orjson.dumps(value)


def decode(raw: bytes | None) -> StateValue:
    """A state value as read (``encode`` undone): a packed value is handed over as its bytes,
    for its owner to unpack; anything else must be a JSON object (``TypeError`` or
    ``orjson.JSONDecodeError`` if it is not)."""
    if raw is None or raw.startswith(PACKED):
        return raw
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise TypeError(f"value must be a JSON object, not {type(value).__name__}")
    return value


async def restore(
    cfg: KafkaConfig,
    topic: str,
    partitions: Iterable[int],
    producer: AIOKafkaProducer,
    apply: Apply,
    on_unreadable: Unreadable | None = None,
) -> int:
    """Replay every changelog record of ``partitions`` into ``apply``; returns records applied."""
    parts = sorted(set(partitions))
    if not parts:
        return 0
    ends = await _write_ends(topic, parts, producer)
    consumer = AIOKafkaConsumer(**common_kwargs(cfg), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    applied = 0
    try:
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        pending = set(parts)
        while pending:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batch.items():
                for rec in records:
                    if rec.offset >= ends[tp.partition]:
                        pending.discard(tp.partition)
                        break
                    if not rec.key or rec.key.startswith(_MARKER):
                        continue
                    applied += _apply_record(topic, tp.partition, rec.offset, rec.key,
                                             rec.value, apply, on_unreadable)
    finally:
        await consumer.stop()
    log.info("restored %d state records from %s partitions %s", applied, topic, parts)
    return applied


async def _write_ends(topic: str, parts: list[int], producer: AIOKafkaProducer) -> dict[int, int]:
    """A restore marker on each partition: its offset is where the restore stops reading."""
    ends: dict[int, int] = {}
    for p in parts:
        meta = await producer.send_and_wait(
            topic, key=f"{MARKER_PREFIX}{uuid.uuid4()}".encode(), value=None, partition=p
        )
        ends[p] = meta.offset
    return ends


def snapshot_marker(start: int) -> tuple[bytes, bytes]:
    """The end marker of a completed snapshot cycle: replaying from ``start`` is enough."""
    return _SNAPSHOT, orjson.dumps({"from": start})


@dataclass(slots=True)
class Restored:
    """What ``restore_state`` did."""

    #: Changelog records read (markers and superseded records included).
    replayed: int = 0
    #: Keys whose last record was applied.
    applied: int = 0
    #: Records found unreadable (each dead-lettered).
    unreadable: int = 0
    #: Per partition, the offset the replay started from (0 or the log start: no snapshot).
    started_at: dict[int, int] = field(default_factory=dict)
    #: Per partition, records read and keys applied.
    read: dict[int, int] = field(default_factory=dict)
    keys: dict[int, int] = field(default_factory=dict)
    #: Per partition, the offset of the restore marker (the last record written there).
    ends: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(slots=True)
class SnapshotScan:
    """One partition's backward search for the latest snapshot marker, then its replay."""

    begin: int
    end: int
    #: The range being read, ``[lo, hi)``.
    lo: int
    hi: int
    window: int
    #: Last record of each key read so far: key → (offset, value).
    latest: dict[bytes, tuple[int, bytes | None]] = field(default_factory=dict)
    #: This range's records, before they join ``latest`` (later ranges win there).
    reading: dict[bytes, tuple[int, bytes | None]] = field(default_factory=dict)
    #: ``from`` of the latest snapshot marker, once found.
    start: int | None = None
    #: Offset and value of the latest snapshot marker seen (-1: none yet).
    marker: int = -1
    start_candidate: bytes | None = None
    done: bool = False
    #: Reading forwards the records written after a finished scan (``resume``).
    tail: bool = False
    #: The tail held a snapshot marker this scan cannot follow: read the partition afresh.
    stale: bool = False
    #: Records read, tail included.
    read: int = 0

    def feed(self, offset: int, key: bytes | None, value: bytes | None) -> bool:
        """One record; True when the range is read (``offset`` is past it or its last)."""
        if offset >= self.hi:
            return True
        if offset >= self.lo and key and not key.startswith(_MARKER):
            if key == _SNAPSHOT:
                if (self.start is None or self.tail) and offset > self.marker:
                    self.marker = offset
                    self.start_candidate = value
            else:
                self.reading[key] = (offset, value)
        return offset >= self.hi - 1

    def resume(self, end: int) -> None:
        """Read on, forwards, from this finished scan's end to ``end`` (the records written
        since it was read), so that the result is the scan of the whole log up to ``end``."""
        self.lo, self.hi, self.end = self.end, end, end
        self.marker, self.start_candidate = -1, None
        self.tail, self.done = True, False

    def next_range(self) -> bool:
        """Merge the range just read; set the next one. False when the replay is complete."""
        latest = self.latest
        if self.tail:
            return self._merge_tail()
        for key, item in self.reading.items():
            if key not in latest:
                latest[key] = item
        self.reading = {}
        if self.start is not None:  # the range up to the snapshot start was the last one
            return self._finish()
        if self.marker >= 0:
            self.start = _start_of(self.start_candidate)
            if self.start is not None:
                if self.start >= self.lo:
                    return self._finish()
                self.lo, self.hi = max(self.start, self.begin), self.lo
                return self.lo < self.hi or self._finish()
            self.marker = -1  # unreadable marker: look further back
        if self.lo <= self.begin:
            self.start = self.begin
            return self._finish()
        self.window = 2 * self.window  # each window reaches twice as far back
        self.lo, self.hi = max(self.begin, self.lo - self.window), self.lo
        return True

    def _merge_tail(self) -> bool:
        """Later records win; a newer snapshot marker moves the start up. A marker that would
        move it down (or cannot be read) needs records this scan dropped: ``stale``."""
        self.latest.update(self.reading)
        self.reading = {}
        self.done = True
        if self.marker >= 0:
            start = _start_of(self.start_candidate)
            held = self.start if self.start is not None else self.begin
            if start is None or start < held:
                self.stale = True
                return False
            if start > held:
                self.latest = {k: v for k, v in self.latest.items() if v[0] >= start}
            self.start = start
        return False

    def _finish(self) -> bool:
        start = self.start if self.start is not None else self.begin
        if start > self.begin:
            self.latest = {k: v for k, v in self.latest.items() if v[0] >= start}
        self.done = True
        return False


def _start_of(value: bytes | None) -> int | None:
    try:
        start = orjson.loads(value or b"null")["from"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        return None
    return start if isinstance(start, int) and not isinstance(start, bool) else None


async def read_ahead(
    cfg: KafkaConfig,
    topic: str,
    partitions: Iterable[int],
    producer: AIOKafkaProducer,
    *,
    window: int = FIRST_WINDOW,
) -> dict[int, SnapshotScan]:
    """Read ``partitions`` as a restore would, before knowing which of them will be ours, and
    apply nothing: ``restore_state(..., ahead=)`` then reads only what was written since."""
    return await _read(cfg, topic, sorted(set(partitions)), producer, window, {}, Restored())


async def restore_state(
    cfg: KafkaConfig,
    topic: str,
    partitions: Iterable[int],
    producer: AIOKafkaProducer,
    apply: Apply,
    on_unreadable: Unreadable | None = None,
    *,
    window: int = FIRST_WINDOW,
    ahead: dict[int, SnapshotScan] | None = None,
) -> Restored:
    """Restore ``partitions`` from their latest complete snapshot (everything if none): the
    last record of each key is decoded and applied, in offset order of those records.

    A partition in ``ahead`` (``read_ahead``) is read on from where that scan ended; the result
    is the same as reading it now (a newer snapshot marker it cannot follow: read afresh)."""
    began = time.monotonic()
    done = Restored()
    parts = sorted(set(partitions))
    if not parts:
        return done
    scans = await _read(cfg, topic, parts, producer, window, ahead or {}, done)
    read_s = time.monotonic() - began
    for p in parts:
        scan = scans[p]
        done.started_at[p] = scan.start if scan.start is not None else scan.begin
        # Latest first in the list, so that each record is dropped as soon as it is applied
        # (NFR-005: the state built next reuses its memory rather than adding to the peak).
        last = sorted(scan.latest.items(), key=lambda item: item[1][0], reverse=True)
        scan.latest = {}
        done.keys[p] = 0
        with paused_collector():
            while last:
                raw_key, (offset, raw) = last.pop()
                if _apply_record(topic, p, offset, raw_key, raw, apply, on_unreadable):
                    done.applied += 1
                    done.keys[p] += 1
                else:
                    done.unreadable += 1
    done.seconds = time.monotonic() - began
    log.info("restored %d state records from %s partitions %s", done.replayed, topic, parts)
    log.info("state of %s partitions %s: read in %.2fs, %d keys applied in %.2fs, replayed "
             "from offsets %s", topic, parts, read_s, done.applied, done.seconds - read_s,
             done.started_at)
    return done


async def _read(cfg: KafkaConfig, topic: str, parts: list[int], producer: AIOKafkaProducer,
                window: int, ahead: dict[int, SnapshotScan], done: Restored
                ) -> dict[int, SnapshotScan]:
    """Each partition's scan, read up to a restore marker written now; counts into ``done``."""
    if not parts:
        return {}
    ends = done.ends = await _write_ends(topic, parts, producer)
    consumer = AIOKafkaConsumer(**common_kwargs(cfg), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    scans: dict[int, SnapshotScan] = {}
    try:
        tps = {p: TopicPartition(topic, p) for p in parts}
        consumer.assign(list(tps.values()))
        begins = await consumer.beginning_offsets(list(tps.values()))

        def fresh(p: int) -> SnapshotScan:
            begin, end = min(begins[tps[p]], ends[p]), ends[p]
            return SnapshotScan(begin, end, max(begin, end - window), end, window)

        for p, tp in tps.items():
            scan = ahead.get(p)
            if (scan is not None and scan.done and not scan.stale and not scan.tail
                    and scan.begin >= begins[tp] and scan.end < ends[p]):
                scan.resume(ends[p])
                done.replayed += scan.read  # read ahead: still part of this restore's cost
            else:
                scan = fresh(p)
            scans[p] = scan
            consumer.seek(tp, scan.lo)
        active = set(parts)
        while active:
            batch = await consumer.getmany(*(tps[p] for p in active), timeout_ms=500,
                                           max_records=5000)
            for tp, records in batch.items():
                scan = scans[tp.partition]
                if scan.done or tp.partition not in active:
                    continue
                scan.read += len(records)
                for rec in records:
                    done.replayed += 1
                    if not scan.feed(rec.offset, rec.key, rec.value):
                        continue
                    if scan.next_range():
                        consumer.seek(tp, scan.lo)
                    elif scan.stale:
                        log.info("state of %s[%d]: a newer snapshot than the one read ahead; "
                                 "reading it afresh", topic, tp.partition)
                        read, scan = scan.read, fresh(tp.partition)
                        scan.read = read
                        scans[tp.partition] = scan
                        consumer.seek(tp, scan.lo)
                    else:
                        active.discard(tp.partition)
                        consumer.pause(tp)
                    break
    finally:
        await consumer.stop()
    for p, scan in scans.items():
        done.read[p] = done.read.get(p, 0) + scan.read
    return scans


def _apply_record(topic: str, partition: int, offset: int, raw_key: bytes,
                  raw_value: bytes | None, apply: Apply, on_unreadable: Unreadable | None
                  ) -> bool:
    """Decode one state record and hand it to ``apply``; True if applied. An unreadable one
    (any record, any shape) is logged and dead-lettered, never a stall (NFR-006)."""
    try:
        key = raw_key.decode()
        apply(partition, key, decode(raw_value))
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("state topic %s[%d] offset %d: unreadable record skipped (%s)",
                    topic, partition, offset, reason)
        if on_unreadable is not None:
            on_unreadable(unreadable_state(topic, partition, offset, raw_key, reason))
        return False
    return True


def unreadable_state(
    topic: str, partition: int, offset: int, key: bytes | None, reason: str
) -> dict[str, Any]:
    """The dead-letter record of a state record that could not be restored."""
    return {
        "kind": "unreadable_state",
        "reason": reason,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": None if key is None else key.decode("utf-8", "backslashreplace")[:1024],
    }
