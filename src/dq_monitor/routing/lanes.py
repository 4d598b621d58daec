"""One channel's queue as plain code (NFR-002, FR-010): bounded, several deliveries in flight,
and in order per fingerprint.

A channel delivers up to ``max_in_flight`` jobs at once, so a receiver that answers in 50 ms
still takes hundreds of alerts a second. Jobs of one fingerprint never overlap and keep their
order (a firing alert is delivered before its recovery, a copy after its original, so the
delivery log's decision at a job's turn sees what went before). ``take`` hands out the oldest
queued job whose fingerprint has nothing in flight: a busy fingerprint delays only its own
later jobs, never the queue behind it.

``put`` refuses a job when ``capacity`` jobs are queued (in-flight jobs are not counted): the
caller then reads that channel's alerts later from the alert topic (``dispatch.Pending``), so a
full queue loses nothing.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lanes(Generic[T]):
    """The queued and in-flight jobs of one channel; ``key`` gives a job's fingerprint."""

    def __init__(self, capacity: int, max_in_flight: int, key: Callable[[T], str]) -> None:
        if capacity < 1 or max_in_flight < 1:
            raise ValueError("a channel queue needs capacity and max_in_flight of at least 1")
        self.capacity = capacity
        self.max_in_flight = max_in_flight
        self._key = key
        self._queued: deque[T] = deque()
        #: fingerprint → jobs in flight (0 or 1, a Counter so ``done`` is forgiving)
        self._busy: Counter[str] = Counter()
        self.in_flight = 0
        self.closed = False

    def __len__(self) -> int:
        """Jobs queued, not yet taken."""
        return len(self._queued)

    @property
    def full(self) -> bool:
        return len(self._queued) >= self.capacity

    def put(self, job: T) -> bool:
        """Queue ``job``; ``False`` (nothing queued) when the queue is full."""
        if self.full:
            return False
        self._queued.append(job)
        return True

    def take(self) -> T | None:
        """The oldest queued job whose fingerprint has nothing in flight, now in flight; ``None``
        when ``max_in_flight`` jobs are under way or every queued job waits for its fingerprint."""
        if self.in_flight >= self.max_in_flight:
            return None
        for i, job in enumerate(self._queued):
            key = self._key(job)
            if not self._busy[key]:
                del self._queued[i]
                self._busy[key] += 1
                self.in_flight += 1
                return job
        return None

    def done(self, job: T) -> None:
        """``job`` (taken before) ended: its fingerprint may go on."""
        key = self._key(job)
        if self._busy[key] <= 0:
            raise ValueError(f"job of {key!r} ended but was not in flight")
        self._busy[key] -= 1
        if not self._busy[key]:
            del self._busy[key]
        self.in_flight -= 1

    def drop(self, keep: Callable[[T], bool]) -> list[T]:
        """Remove the queued jobs ``keep`` refuses (a partition moved away); returns them."""
        gone = [j for j in self._queued if not keep(j)]
        if gone:
            self._queued = deque(j for j in self._queued if keep(j))
        return gone

    @property
    def finished(self) -> bool:
        """Closed, and nothing queued or in flight: the channel's workers may end."""
        return self.closed and not self._queued and not self.in_flight
