"""FR-028: the partials of every partition of an observed topic, merged once per window.

Sans I/O. One ``SourceWindows`` per observed source lives on the source's home partition
(where its checks run); partials reach it re-keyed by source through the repartition topic.

- A partial is keyed by (window, observed partition): one that comes again replaces the one
  held, unless it starts at a later input offset (then it was re-aggregated from the middle of
  the window after a crash and saw only part of it; the one held is whole).
- Each partition reports ``closed_to`` (windows ending at or before it are closed there). A
  window is complete once every partition of the topic has closed it; complete windows are
  merged and handed out in order, exactly once (``emitted_to`` marks them). A partial of a
  window already handed out is late: counted, dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dq_monitor.observe.profile import Profile


@dataclass(slots=True)
class SourceWindows:
    """The merge state of one observed source (checkpointed whole, on its home partition)."""

    source: str
    topic: str
    #: Partition count of the observed topic.
    partitions: int
    window_ms: int
    #: Per observed partition: its ``closed_to``.
    closed: dict[int, int] = field(default_factory=dict)
    #: window start → observed partition → partial.
    pending: dict[int, dict[int, Profile]] = field(default_factory=dict)
    #: Windows ending at or before it were handed out (None: none yet).
    emitted_to: int | None = None
    late: int = 0

    def add(self, partition: int, closed_to: int, partials: dict[int, Profile]) -> None:
        """One report of ``partition``: the partials of the windows it closed (by start), and
        its closed mark. The partials are held before the mark moves, so a window is never
        complete without them."""
        for window, partial in partials.items():
            self._hold(partition, window, partial)
        if closed_to > self.closed.get(partition, closed_to - 1):
            self.closed[partition] = closed_to

    def _hold(self, partition: int, window: int, partial: Profile) -> None:
        if self.emitted_to is not None and window + self.window_ms <= self.emitted_to:
            self.late += partial.records + partial.malformed
            return
        held = self.pending.setdefault(window, {})
        old = held.get(partition)
        if old is not None and 0 <= old.first_offset < partial.first_offset:
            return  # re-aggregated from the middle of the window: the one held is whole
        held[partition] = partial

    def complete_to(self) -> int | None:
        """Windows ending at or before it are closed on every partition (None: not yet)."""
        marks = [self.closed.get(p) for p in range(self.partitions)]
        if any(m is None for m in marks):
            return None
        return min(m for m in marks if m is not None)

    def take_complete(self) -> list[tuple[int, Profile]]:
        """Windows every partition closed, merged, oldest first; each handed out once."""
        upto = self.complete_to()
        if upto is None:
            return []
        out: list[tuple[int, Profile]] = []
        for start in sorted(s for s in self.pending if s + self.window_ms <= upto):
            merged = Profile()
            for partition in sorted(self.pending[start]):
                merged.merge(self.pending[start][partition])
            del self.pending[start]
            out.append((start, merged))
        if self.emitted_to is None or upto > self.emitted_to:
            self.emitted_to = upto
        return out

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "partitions": self.partitions, "window_ms": self.window_ms,
                "closed": {str(p): c for p, c in self.closed.items()},
                "pending": {str(s): {str(p): prof.to_json() for p, prof in held.items()}
                            for s, held in self.pending.items()},
                "emitted_to": self.emitted_to, "late": self.late}

    @classmethod
    def from_json(cls, source: str, value: Any) -> SourceWindows:
        """Read back a checkpoint; ``ValueError`` for anything ``to_json`` does not write."""
        if not isinstance(value, dict):
            raise ValueError("observe state is an object")
        topic, parts, window = value.get("topic"), value.get("partitions"), value.get("window_ms")
        closed, pending = value.get("closed"), value.get("pending")
        emitted, late = value.get("emitted_to"), value.get("late", 0)
        if not (isinstance(topic, str) and type(parts) is int and parts > 0
                and type(window) is int and window > 0 and isinstance(closed, dict)
                and isinstance(pending, dict) and (emitted is None or type(emitted) is int)
                and type(late) is int):
            raise ValueError("observe state is malformed")
        state = cls(source, topic, parts, window, emitted_to=emitted, late=late)
        for p, c in closed.items():
            if type(c) is not int:
                raise ValueError("observe state: closed marks are integers")
            state.closed[int(p)] = c
        for s, held in pending.items():
            if not isinstance(held, dict):
                raise ValueError("observe state: pending partials are objects")
            state.pending[int(s)] = {int(p): Profile.from_json(v) for p, v in held.items()}
        return state
