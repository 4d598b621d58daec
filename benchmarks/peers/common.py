"""What both peers share: the clock around the measured stretch and the two ways to score."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from dq_monitor.checks.anomaly import SeriesState, evaluate_robust
from dq_monitor.config import AnomalyConfig

VARIANTS = ("rolling", "robust")


class Clock:
    """When the first record was decoded and when the ``n``-th was scored."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0
        self.start: tuple[float, float] | None = None
        self.end: tuple[float, float] | None = None

    def first(self) -> None:
        if self.start is None:
            self.start = (time.perf_counter(), time.process_time())

    def scored(self, count: int) -> bool:
        """Count ``count`` more scored records; True once all ``n`` are."""
        self.seen += count
        if self.seen >= self.n and self.end is None:
            self.end = (time.perf_counter(), time.process_time())
        return self.end is not None

    def result(self) -> dict[str, Any]:
        if self.start is None or self.end is None:
            raise SystemExit(f"only {self.seen} of {self.n} records were scored")
        elapsed, cpu = self.end[0] - self.start[0], self.end[1] - self.start[1]
        return {"events_per_s": self.n / elapsed, "cpu_us_per_event": cpu / self.n * 1e6,
                "events": self.seen}


def rolling(state: list[float] | None, x: float) -> tuple[list[float], float]:
    """The raw loop's work: a running mean and standard deviation, and the value's z."""
    if state is None:
        state = [0.0, 0.0, 0.0]
    state[0] += 1
    state[1] += x
    state[2] += x * x
    mean = state[1] / state[0]
    var = max(0.0, state[2] / state[0] - mean * mean)
    return state, (x - mean) / math.sqrt(var) if var > 0 else 0.0


def robust() -> Callable[[SeriesState | None, float, datetime], tuple[SeriesState, bool]]:
    """dq-monitor's default detector at window 100: whether the value's verdict is firing."""
    cfg = AnomalyConfig(metrics=["m"], window=100, min_samples=20)

    def score(state: SeriesState | None, x: float, ts: datetime) -> tuple[SeriesState, bool]:
        if state is None:
            state = SeriesState.new(cfg)
        assert state.baseline is not None
        result = evaluate_robust(state, x, cfg, "", "", ts, True)
        return state, result is not None

    return score
