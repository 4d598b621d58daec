"""RollingWindow: a fixed-capacity ring buffer of floats with O(1) mean and variance per push.

The buffer is one ``array('d')`` (8 bytes a value). Mean and the sum of squared deviations (M2)
are updated per value in O(1) — Welford's update while the window grows, its sliding form when a
value replaces the oldest. Two measures keep them accurate over millions of updates:

* values are stored as given (so ``values()`` and every refresh are exact) and summed
  relative to an anchor ``K`` near the window's mean, so on a series like 1e9 + small noise the
  running figures describe the noise, not the level;
* once per full turnover of the window the anchor moves to the current mean and the figures are
  refreshed exactly from the buffer. That costs about two float operations per value (amortised
  O(1)) and bounds rounding error to one window's worth: a purely sliding update would carry
  forever the error of, say, a jump from 0 to 1e8;
* a sliding update also tracks a bound on the rounding error it may have added to M2; when the
  bound is no longer tiny against M2 itself (a large value just left a window of small ones, so
  M2 came out of a near-cancellation) the figures are refreshed at once. That is rare on real
  series and keeps the variance exact to about 1e-10 relative, whatever the sequence.

M2 is clamped at 0, so a constant series has variance exactly 0, never negative.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable
from typing import Any

#: A few units in the last place of a double: the rounding error of one sliding update, relative.
_EPS = 4 * sys.float_info.epsilon
#: Refresh once the accumulated error bound exceeds this fraction of M2.
_REL = 1e-9


class RollingWindow:
    __slots__ = ("_buf", "_cap", "_err", "_head", "_k", "_m2", "_mean", "_n", "_turn")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("window capacity must be at least 1")
        self._cap = capacity
        self._buf = array("d", bytes(8 * capacity))
        self._head = 0  # index of the oldest value once full; next write slot while filling
        self._n = 0
        self._k = 0.0
        self._mean = 0.0  # mean of (x - K)
        self._m2 = 0.0
        self._turn = 0  # values replaced since the last refresh
        self._err = 0.0  # bound on the rounding error sliding updates added to M2

    @property
    def capacity(self) -> int:
        return self._cap

    @property
    def count(self) -> int:
        return self._n

    @property
    def mean(self) -> float:
        return self._k + self._mean

    @property
    def variance(self) -> float:
        """Population variance of the values in the window (0 when empty)."""
        return self._m2 / self._n if self._n else 0.0

    @property
    def std(self) -> float:
        return math.sqrt(self._m2 / self._n) if self._n else 0.0

    def push(self, x: float) -> None:
        n = self._n
        if n == 0:
            self._k = x
        d = x - self._k
        if n < self._cap:
            self._buf[(self._head + n) % self._cap] = x
            n += 1
            self._n = n
            delta = d - self._mean
            self._mean += delta / n
            self._m2 += delta * (d - self._mean)
        else:
            head = self._head
            old = self._buf[head] - self._k
            self._buf[head] = x
            self._head = head + 1 if head + 1 < self._cap else 0
            mean = self._mean
            new_mean = mean + (d - old) / n
            self._mean = new_mean
            term = (d - old) * (d - new_mean + old - mean)
            m2 = self._m2 + term
            self._m2 = m2
            self._err += _EPS * (abs(term) + abs(m2))
            self._turn += 1
            if self._turn >= n or self._err > _REL * m2:
                self._refresh()
        if self._m2 < 0.0:
            self._m2 = 0.0

    def _refresh(self) -> None:
        """Re-anchor at the window's mean and recompute mean and M2 exactly from the stored
        values (full window only): a value far larger than the rest, gone from the window,
        leaves no trace of its rounding behind."""
        buf, n = self._buf, self._n
        k = math.fsum(buf) / n
        self._k = k
        mean = math.fsum(x - k for x in buf) / n
        self._mean = mean
        self._m2 = math.fsum((x - k - mean) ** 2 for x in buf)
        self._turn = 0
        self._err = 0.0

    def nbytes(self) -> int:
        """Memory held by this window (object and buffer), for NFR-005 accounting."""
        return sys.getsizeof(self) + sys.getsizeof(self._buf)

    def values(self) -> list[float]:
        """Oldest to newest."""
        buf, cap = self._buf, self._cap
        return [buf[(self._head + i) % cap] for i in range(self._n)]

    def clear(self) -> None:
        self._head = self._n = self._turn = 0
        self._k = self._mean = self._m2 = self._err = 0.0

    def reset(self, values: Iterable[float]) -> None:
        """Refill from ``values`` (keeping the newest ``capacity``), with a fresh anchor."""
        self.clear()
        for v in list(values)[-self._cap:]:
            self.push(v)

    def to_state(self) -> dict[str, Any]:
        return {"capacity": self._cap, "values": self.values()}

    @classmethod
    def from_state(cls, state: dict[str, Any], capacity: int | None = None) -> RollingWindow:
        """Rebuild from ``to_state``; ``capacity`` (the current config) wins over the saved one."""
        window = cls(int(capacity or state["capacity"]))
        window.reset(float(v) for v in state["values"])
        return window
