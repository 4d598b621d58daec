"""FR-028: the open windows of one partition of an observed topic, and its watermark.

Sans I/O: the Kafka loop hands records in (value, Kafka timestamp, offset) and wall-clock
time; what comes out is the partials of closed windows and the offset that is safe to commit.

Rules:

- A record belongs to the tumbling window ``[k·window, (k+1)·window)`` of its Kafka timestamp
  (taken as at most ``grace`` ahead of the clock).
- The partition's watermark is the newest record time it has seen. A window closes once the
  watermark is ``grace`` past its end; a record of a closed window is late (counted, dropped).
- An idle partition does not hold windows open: when it has yielded no record for one
  ``window`` of wall time, its watermark follows the clock (now − ``grace``).
- The offset safe to commit is the first offset of the oldest open window (every record of an
  open window is read again after a crash, so its partial is rebuilt whole), or the position
  when no window is open.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dq_monitor.config import ObserveConfig
from dq_monitor.observe.profile import Profile, parse_fields, sampled


@dataclass(frozen=True, slots=True)
class Closed:
    """What one partition reports when windows close: the partials of the closed windows
    (start ms, profile), and ``closed_to``: every window ending at or before it is closed
    here, with or without records."""

    topic: str
    partition: int
    closed_to: int
    partials: list[tuple[int, Profile]] = field(default_factory=list)


class PartitionWindows:
    """The windows of one (observed topic, partition) this instance owns."""

    __slots__ = ("_fields", "_sample", "closed_to", "grace_ms", "idle_since_ms", "late",
                 "partition", "topic", "watermark", "window_ms", "windows")

    def __init__(self, cfg: ObserveConfig, partition: int, now_ms: int) -> None:
        self.topic, self.partition = cfg.topic, partition
        self.window_ms, self.grace_ms = cfg.window_ms, cfg.grace_ms
        self._fields, self._sample = parse_fields(cfg.fields), cfg.sample
        self.windows: dict[int, Profile] = {}
        #: Newest record time seen (ms); None before the first record.
        self.watermark: int | None = None
        #: Windows ending at or before it are closed (None: none yet).
        self.closed_to: int | None = None
        #: Wall time (ms) of the last record, or of the assignment.
        self.idle_since_ms = now_ms
        self.late = 0

    def add(self, raw: bytes | None, ts_ms: int, offset: int, now_ms: int) -> None:
        """One record of this partition, in offset order. A record stamped more than ``grace``
        ahead of the clock counts as stamped ``grace`` ahead (NFR-006: one producer clock far
        in the future must not close every window before its records arrive)."""
        self.idle_since_ms = now_ms
        if ts_ms > now_ms + self.grace_ms:
            ts_ms = now_ms + self.grace_ms
        w = self.window_ms
        start = ts_ms - ts_ms % w
        if self.closed_to is not None and start + w <= self.closed_to:
            self.late += 1
            return
        profile = self.windows.get(start)
        if profile is None:
            profile = self.windows[start] = Profile()
        profile.add(raw, ts_ms, offset, self.partition, self._fields,
                    sampled(offset, self._sample))
        if self.watermark is None or ts_ms > self.watermark:
            self.watermark = ts_ms

    def close(self, now_ms: int) -> Closed | None:
        """The windows closed since the last call (idle rule applied first); None when
        ``closed_to`` did not move."""
        if now_ms - self.idle_since_ms >= self.window_ms:
            idle_mark = now_ms - self.grace_ms
            if self.watermark is None or idle_mark > self.watermark:
                self.watermark = idle_mark
        if self.watermark is None:
            return None
        edge = self.watermark - self.grace_ms
        closed_to = edge - edge % self.window_ms
        if self.closed_to is not None and closed_to <= self.closed_to:
            return None
        self.closed_to = closed_to
        done = sorted(s for s in self.windows if s + self.window_ms <= closed_to)
        return Closed(self.topic, self.partition, closed_to,
                      [(s, self.windows.pop(s)) for s in done])

    def safe_offset(self, position: int) -> int:
        """The offset to commit: the first offset of the oldest open window's records, or
        ``position`` (the next offset to read) when no window is open."""
        firsts = [p.first_offset for p in self.windows.values() if p.first_offset >= 0]
        return min([*firsts, position])
