"""RollingWindow: a fixed-capacity ring buffer of floats with O(1) mean and variance per push.

The buffer is one ``array('d')`` (8 bytes a value). Mean and the sum of squared deviations (M2)
are updated incrementally — Welford's update when the window grows, its sliding form when a value
replaces the oldest — and never by re-summing the window. To stay accurate over millions of
updates on values like 1e9 + small noise, every value is first shifted by an anchor ``K`` (the
first value seen, re-chosen only on ``reset``/``clear``): the running figures then describe
small numbers, so rounding errors scale with the noise rather than with the level.
M2 is clamped at 0, so a constant series has variance exactly 0, never negative.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from typing import Any


class RollingWindow:
    __slots__ = ("_buf", "_cap", "_head", "_k", "_m2", "_mean", "_n")

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
            self._buf[(self._head + n) % self._cap] = d
            n += 1
            self._n = n
            delta = d - self._mean
            self._mean += delta / n
            self._m2 += delta * (d - self._mean)
        else:
            head = self._head
            old = self._buf[head]
            self._buf[head] = d
            self._head = head + 1 if head + 1 < self._cap else 0
            mean = self._mean
            new_mean = mean + (d - old) / n
            self._mean = new_mean
            self._m2 += (d - old) * (d - new_mean + old - mean)
        if self._m2 < 0.0:
            self._m2 = 0.0

    def values(self) -> list[float]:
        """Oldest to newest."""
        k, buf, cap = self._k, self._buf, self._cap
        return [buf[(self._head + i) % cap] + k for i in range(self._n)]

    def clear(self) -> None:
        self._head = self._n = 0
        self._k = self._mean = self._m2 = 0.0

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
