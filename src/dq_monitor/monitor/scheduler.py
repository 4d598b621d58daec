"""The monitor's clock work, sans I/O: one heap of typed deadlines and the periodic sweep.

Freshness deadlines (``fresh``) and damping timers of alert machines (``watch``) are entries on
one heap ordered by instant, then by the order they were armed. ``next_wakeup`` is the earliest
instant with work, a deadline or the next sweep (NFR-001: every check is re-evaluated at least
once per ``sweep_interval``); ``due`` hands out the deadlines that have come, and
``sweep_due`` says whether the sweep has. The scheduler only keeps time: what an entry means is
the monitor's business.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

DeadlineKind = Literal["fresh", "watch"]


class Deadline(NamedTuple):
    """One armed timer: at ``when``, re-judge ``key`` of ``source`` (``fresh``: its freshness;
    ``watch``: the alert machine of that watch key). ``seq`` keeps equal instants in order."""

    when: datetime
    seq: int
    kind: DeadlineKind
    source: str
    key: str


class Scheduler:
    def __init__(self, sweep_interval: float) -> None:
        self.sweep_interval = timedelta(seconds=sweep_interval)
        self._heap: list[Deadline] = []
        self._seq = itertools.count()
        self.next_sweep: datetime | None = None

    def __len__(self) -> int:
        """Deadlines on the heap (each source keeps at most one freshness entry armed)."""
        return len(self._heap)

    def start(self, now: datetime) -> None:
        """Schedule the first sweep one interval after ``now``, unless one is scheduled."""
        if self.next_sweep is None:
            self.next_sweep = now + self.sweep_interval

    def push(self, when: datetime, kind: DeadlineKind, source: str, key: str) -> None:
        heapq.heappush(self._heap, Deadline(when, next(self._seq), kind, source, key))

    def next_wakeup(self) -> datetime | None:
        """The earliest instant with work: a deadline or the next sweep."""
        nxt = self._heap[0].when if self._heap else None
        if self.next_sweep is not None and (nxt is None or self.next_sweep < nxt):
            return self.next_sweep
        return nxt

    def due(self, now: datetime) -> Iterator[Deadline]:
        """Pop and yield every deadline at or before ``now``, earliest first (entries pushed
        while iterating are yielded too once they are due)."""
        heap = self._heap
        while heap and heap[0].when <= now:
            yield heapq.heappop(heap)

    def sweep_due(self, now: datetime) -> bool:
        """Whether the sweep is due at ``now``; if so the next one is scheduled an interval
        after ``now``."""
        if self.next_sweep is None or now < self.next_sweep:
            return False
        self.next_sweep = now + self.sweep_interval
        return True
