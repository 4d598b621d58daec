"""One channel's undelivered alerts as plain code (NFR-002, FR-010): how many, how old the
oldest, and when the channel falls behind and catches up.

A job counts from when it is queued until it ended (delivered, skipped, held, dead-lettered);
while the channel is behind (its queue was full: it reads the alert topic itself, see
``dispatch.Pending``) the alert records it has not read yet count too. The age of the oldest
undelivered alert is measured from when the monitor detected it (the alert record's trigger
time), so it is what a page is late by.

An *episode* begins when the channel falls behind and ends when it reads with the others again
and its queue is at most half full (so a channel at the edge does not flap): one WARNING at the
start and one INFO at the end, not a line per alert.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from enum import Enum


class Change(Enum):
    FELL_BEHIND = "fell_behind"
    CAUGHT_UP = "caught_up"


@dataclass(frozen=True, slots=True)
class Transition:
    change: Change
    #: For ``CAUGHT_UP``: how long the episode lasted (seconds).
    lasted: float = 0.0
    #: For ``CAUGHT_UP``: the most alerts undelivered at once during the episode.
    peak: int = 0


class ChannelBacklog:
    """The undelivered alerts of one channel (see the module docstring)."""

    def __init__(self) -> None:
        self._open: dict[int, float] = {}  # job token → when its alert was detected
        #: (detected, token) of open jobs, ended ones removed lazily: the oldest in O(log n)
        self._by_age: list[tuple[float, int]] = []
        self._next = 0
        #: partition → detection time of the oldest record the channel has not read yet
        self._unread_since: dict[int, float] = {}
        self.behind_since: float | None = None
        self._peak = 0

    def add(self, detected_at: float) -> int:
        """A job was queued; returns its token for ``end``."""
        self._next += 1
        self._open[self._next] = detected_at
        heapq.heappush(self._by_age, (detected_at, self._next))
        return self._next

    def end(self, token: int) -> None:
        self._open.pop(token, None)

    def unread_from(self, partition: int, detected_at: float | None) -> None:
        """The oldest record of ``partition`` the channel has still to read was detected at
        ``detected_at`` (``None``: it reads with the others there again)."""
        if detected_at is None:
            self._unread_since.pop(partition, None)
        else:
            self._unread_since[partition] = detected_at

    def count(self, unread: int = 0) -> int:
        """Alerts queued or in flight, plus ``unread`` records not read yet."""
        return len(self._open) + unread

    def oldest(self) -> float | None:
        """Detection time of the oldest alert not delivered yet; ``None`` when there is none."""
        times = [*self._unread_since.values()]
        heap = self._by_age
        while heap and heap[0][1] not in self._open:
            heapq.heappop(heap)
        if heap:
            times.append(heap[0][0])
        return min(times) if times else None

    def observe(self, *, behind: bool, queued: int, capacity: int, backlog: int,
                now: float) -> Transition | None:
        """Note the channel's state at ``now``; returns the episode's start or end, if now."""
        if behind and self.behind_since is None:
            self.behind_since = now
            self._peak = backlog
            return Transition(Change.FELL_BEHIND)
        if self.behind_since is None:
            return None
        self._peak = max(self._peak, backlog)
        if behind or queued > capacity // 2:
            return None
        lasted, peak = now - self.behind_since, self._peak
        self.behind_since, self._peak = None, 0
        return Transition(Change.CAUGHT_UP, lasted, peak)
