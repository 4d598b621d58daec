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
holds: a completed snapshot stays valid whatever is appended after it).
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

    __slots__ = ("cycles", "floor", "tails")

    def __init__(self, floor: int = FLOOR) -> None:
        self.floor = floor
        self.cycles: dict[int, _Cycle] = {}
        #: Partitions not in a cycle: what a restore would read now. A partition missing here
        #: and in ``cycles`` starts a cycle at its next checkpoint.
        self.tails: dict[int, _Tail] = {}

    def restored(self, partition: int, records: int, keys: int) -> None:
        """``partition`` was restored by reading ``records`` and applying ``keys`` keys."""
        self.cycles.pop(partition, None)
        self.tails[partition] = _Tail(max(0, records - keys), keys)

    def plan(self, partition: int, written: Collection[str],
             live: Callable[[], Iterable[str]]) -> Plan:
        """The snapshot part of a checkpoint that writes ``written`` on ``partition``.

        Call it once per checkpoint and owned partition, in order, and only once the previous
        checkpoint is durable (``acked`` or ``restart`` called for it): a cycle found paid then
        is complete, and its marker goes first in this checkpoint. ``live`` lists the
        partition's live state keys; it is called only when a cycle starts.
        """
        out = Plan()
        cycle = self.cycles.get(partition)
        if cycle is not None and cycle.paid:
            del self.cycles[partition]
            out.marker_from = cycle.start  # None: its start is unknown, so no marker
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

    def acked(self, partition: int, first_offset: int) -> None:
        """The checkpoint last planned for ``partition`` is durable; its first record there
        is at ``first_offset`` (the cycle's start if the cycle began with it)."""
        cycle = self.cycles.get(partition)
        if cycle is not None and cycle.start is None:
            cycle.start = first_offset

    def restart(self, partitions: Iterable[int]) -> None:
        """A send to these partitions failed or was refused: their cycles start over at the
        next checkpoint (what they wrote may not be where the acknowledgements said)."""
        for p in partitions:
            self.cycles.pop(p, None)
            self.tails.pop(p, None)

    def drop(self, partitions: Iterable[int]) -> None:
        """Partitions no longer owned: their cycles end unfinished (the next owner restores
        them and plans its own)."""
        self.restart(partitions)

    def owed(self, partition: int) -> int:
        """Keys the partition's cycle still owes (0 with no cycle)."""
        cycle = self.cycles.get(partition)
        return 0 if cycle is None else len(cycle.owed)


__all__ = ["FLOOR", "Plan", "SnapshotPlanner"]
