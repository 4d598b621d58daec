"""Rolling snapshots of the changelog, planned sans I/O (NFR-001, NFR-003).

A restore that replays every changelog record costs series × checkpoints: the embedded broker
never compacts and Apache Kafka compacts only closed segments. So each changelog partition runs
a snapshot *cycle*: at its start the live state keys of the partition are taken as owed; each
checkpoint then rewrites, besides its changed keys, up to ``max(floor, changed)`` owed keys with
their current values (the same keys as ever, so compaction and a full replay stay correct), and
every key the checkpoint writes is paid. Once nothing is owed and those records are durable, the
next checkpoint writes an end marker ``{"from": S}``, S being the offset of the cycle's first
record: every key live at S has been written at or after S, and every other key's last record
before S is a tombstone, so replaying from S yields what a full replay yields.

A cycle starts only once the records written since the last end marker reach the size of that
snapshot (and ``floor``): a restore then reads one cycle (at most about twice the keys it owed),
that much again and the records of a cycle under way, a few times the live keys in all, while
a quiet partition writes nothing but its changes.

The planner never sees Kafka: the adapter tells it what a checkpoint writes (``plan``), the
first acknowledged offset of a checkpoint on a partition (``acked``), and sends that failed or
were refused (``restart``), which start that partition's cycle over (the previous marker still
holds: a completed snapshot stays valid whatever is appended after it). Where a re-sent
checkpoint's records landed is not known, so the next cycle starts where this instance's last
acknowledged record ended, before them (starting earlier is always safe). A record another writer
put on the partition (``dq-monitor seed``) is not in this instance's memory, so a later marker
could hide it: the acknowledged offsets show it (a gap after this instance's last record), and
the partition writes no marker until its next restore, which reads that record.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

#: Fewest owed keys a checkpoint rewrites, so a quiet partition's cycle still ends.
FLOOR = 256


@dataclass(slots=True)
class Plan:
    """What one checkpoint writes for a partition's snapshot cycle."""

    #: The end marker's ``from`` offset when the previous cycle completed, else None.
    marker_from: int | None = None
    #: Owed keys to rewrite with their current value (a tombstone if there is none).
    refresh: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Cycle:
    owed: set[str]
    #: Keys owed at the start.
    size: int
    #: Offset of the cycle's first record, once its first checkpoint is acknowledged.
    start: int | None = None
    #: Nothing is owed any more (the records that paid it may still be in flight).
    paid: bool = False
    #: Records written on the partition since the cycle started.
    records: int = 0


@dataclass(slots=True)
class _Tail:
    """Since a partition's last complete snapshot (or its restore)."""

    #: Records written since the snapshot's end marker (or read beyond the keys restored).
    records: int
    #: Keys of that snapshot (or keys restored).
    keys: int


class SnapshotPlanner:
    """The snapshot cycles of the changelog partitions this instance owns."""

    __slots__ = ("cycles", "floor", "next_offset", "pinned", "suspended", "tails", "uncertain")

    def __init__(self, floor: int = FLOOR) -> None:
        self.floor = floor
        self.cycles: dict[int, _Cycle] = {}
        #: Partitions not in a cycle: what a restore would read now. A partition missing here
        #: and in ``cycles`` starts a cycle at its next checkpoint.
        self.tails: dict[int, _Tail] = {}
        #: Where this instance's next record on each partition lands if nobody else writes.
        self.next_offset: dict[int, int] = {}
        #: Partitions another writer wrote to since their restore (``dq-monitor seed``): a
        #: marker could hide that record, so none is written until the next restore.
        self.suspended: set[int] = set()
        #: Partitions with records of a failed send somewhere after ``next_offset``: their
        #: next acknowledgement is not checked for a gap, and their next cycle starts at
        #: ``next_offset`` (before whatever landed since, another writer's records included).
        self.uncertain: set[int] = set()
        #: Partitions where a failed send's records lay in a gap with maybe another writer's
        #: among them: every marker names this offset or an earlier one until the next restore,
        #: so a restore reads the gap whatever it holds (cycles go on refreshing keys).
        self.pinned: dict[int, int] = {}

    def restored(self, partition: int, records: int, keys: int,
                 next_offset: int | None = None) -> None:
        """``partition`` was restored by reading ``records`` and applying ``keys`` keys; the
        next record written there lands at ``next_offset`` (None: unknown)."""
        self.cycles.pop(partition, None)
        self.suspended.discard(partition)
        self.uncertain.discard(partition)
        self.pinned.pop(partition, None)
        self.tails[partition] = _Tail(max(0, records - keys), keys)
        self._expect(partition, next_offset)

    def _expect(self, partition: int, offset: int | None) -> None:
        if offset is None:
            self.next_offset.pop(partition, None)
        else:
            self.next_offset[partition] = offset

    def plan(self, partition: int, written: Collection[str],
             live: Callable[[], Iterable[str]]) -> Plan:
        """The snapshot part of a checkpoint that writes ``written`` on ``partition``.

        Call it once per checkpoint and owned partition, in order, and only once the previous
        checkpoint is durable (``acked`` or ``restart`` called for it): a cycle found paid then
        is complete, and its marker goes first in this checkpoint. ``live`` lists the
        partition's live state keys; it is called only when a cycle starts.
        """
        out = Plan()
        if partition in self.suspended:
            return out
        cycle = self.cycles.get(partition)
        if cycle is not None and cycle.paid:
            del self.cycles[partition]
            out.marker_from = cycle.start  # None: its start is unknown, so no marker
            pin = self.pinned.get(partition)
            if pin is not None and out.marker_from is not None:
                out.marker_from = min(out.marker_from, pin)
            if cycle.start is not None:
                self.tails[partition] = _Tail(0, cycle.size)
            cycle = None
        if cycle is None:
            tail = self.tails.get(partition)
            if tail is not None:
                tail.records += len(written) + (out.marker_from is not None)
                if tail.records < max(self.floor, tail.keys):
                    return out  # a restore reads little enough yet: no cycle
                del self.tails[partition]
            owed = set(live())
            cycle = self.cycles[partition] = _Cycle(owed, len(owed))
        owed = cycle.owed
        owed.difference_update(written)
        n = min(len(owed), max(self.floor, len(written)))
        out.refresh = [owed.pop() for _ in range(n)]
        cycle.paid = not owed
        cycle.records += len(written) + len(out.refresh) + (out.marker_from is not None)
        return out

    def acked(self, partition: int, first_offset: int, records: int) -> None:
        """The checkpoint last planned for ``partition`` is durable: its ``records`` records
        there start at ``first_offset`` (the cycle's start if the cycle began with it). A first
        offset past where this instance's last record ended means another writer wrote in
        between: snapshots of the partition stop until its next restore."""
        expected = self.next_offset.get(partition)
        self._expect(partition, first_offset + records)
        start = first_offset
        if partition in self.uncertain:
            # a failed send's records (and maybe another writer's) lie before these: a cycle
            # starting now starts where the last acknowledged record ended, or not at all
            self.uncertain.discard(partition)
            if expected is None:  # nothing known to start from: the next cycle will be
                self.cycles.pop(partition, None)
                return
            start = expected
            if first_offset != expected:  # the gap may hold another writer's records too
                self.pinned[partition] = min(expected, self.pinned.get(partition, expected))
        elif expected is not None and first_offset != expected:
            self.suspended.add(partition)
            self.cycles.pop(partition, None)
            self.tails.pop(partition, None)
            return
        cycle = self.cycles.get(partition)
        if cycle is not None and cycle.start is None:
            cycle.start = start

    def restart(self, partitions: Iterable[int]) -> None:
        """A send to these partitions failed or was refused: their cycles start over at the
        next checkpoint (what they wrote may not be where the acknowledgements said)."""
        for p in partitions:
            self.cycles.pop(p, None)
            self.tails.pop(p, None)
            self.uncertain.add(p)  # ``next_offset`` stays: where the known records end

    def drop(self, partitions: Iterable[int]) -> None:
        """Partitions no longer owned: their cycles end unfinished (the next owner restores
        them and plans its own)."""
        for p in partitions:
            self.cycles.pop(p, None)
            self.tails.pop(p, None)
            self.next_offset.pop(p, None)
            self.uncertain.discard(p)
            self.suspended.discard(p)
            self.pinned.pop(p, None)

    def owed(self, partition: int) -> int:
        """Keys the partition's cycle still owes (0 with no cycle)."""
        cycle = self.cycles.get(partition)
        return 0 if cycle is None else len(cycle.owed)


__all__ = ["FLOOR", "Plan", "SnapshotPlanner"]
