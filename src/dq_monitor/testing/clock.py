"""A clock the test moves: pass it where the code takes ``clock=`` or ``now``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeClock:
    """``clock()`` returns ``now`` (epoch seconds); ``advance(s)`` moves it forward."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds
        return self.now
