"""FR-005 / FR-014 anomaly check: rolling-window z-score per series, pure and incremental.

Contract, per value of one series:

* z is computed against the window *before* the value joins it; until the window holds
  ``min_samples`` values the verdict is ``PENDING`` (and the value joins the window).
* WARN at |z| ≥ ``z_warn``, FAIL at |z| ≥ ``z_fail``; ``direction`` ``up``/``down`` flags one
  side only. On a perfectly flat window any move is z = ±∞ (maximal) and equality is z = 0 —
  nothing divides by zero; ``min_abs_change`` / ``min_rel_change`` (|value − mean| must reach
  both) keep tiny moves on flat series from alerting.
* A FAIL value stays out of the window, so one incident cannot widen the baseline and mask the
  next. WARN values join it.
* ``rebaseline_after`` consecutive flagged values on the same side are a lasting level shift:
  the window restarts from those values, and that evaluation is OK (``rebaselined``) so the
  alert resolves. The restarted window is shorter than ``min_samples``, so the next values are
  ``PENDING`` until it refills.

Everything here is plain synchronous code: no clock, no I/O. The verdict sentence is built only
when asked for, keeping the per-value cost low.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Mapping
from typing import Any

from dq_monitor.checks.verdict import Severity, Verdict
from dq_monitor.config import AnomalyConfig
from dq_monitor.state.window import RollingWindow

_INF = math.inf


def series_key(source: str, metric: str, tags: Mapping[str, str] | None) -> str:
    """The series name used as the alert ``subject``: ``metric{k=v,...}`` with sorted tags."""
    if not tags:
        return metric
    return metric + "{" + ",".join(f"{k}={tags[k]}" for k in sorted(tags)) + "}"


class SeriesState:
    """One series: its window and the current streak of flagged values (for rebaselining)."""

    __slots__ = ("streak", "streak_sign", "window")

    def __init__(self, window: RollingWindow) -> None:
        self.window = window
        self.streak = array("d")
        self.streak_sign = 0

    def nbytes(self) -> int:
        """Memory held by this series (NFR-005: O(window) with a small constant)."""
        return sys.getsizeof(self) + self.window.nbytes() + sys.getsizeof(self.streak)

    @classmethod
    def new(cls, cfg: AnomalyConfig) -> SeriesState:
        return cls(RollingWindow(cfg.window))

    def to_state(self) -> dict[str, Any]:
        return {"window": self.window.values(), "streak": list(self.streak),
                "sign": self.streak_sign}

    @classmethod
    def from_state(cls, state: dict[str, Any], cfg: AnomalyConfig) -> SeriesState:
        window = RollingWindow(cfg.window)
        window.reset(float(v) for v in state["window"])
        series = cls(window)
        series.streak.extend(float(v) for v in state.get("streak", [])[: cfg.rebaseline_after])
        series.streak_sign = int(state.get("sign", 0))
        return series


class AnomalyResult:
    """The outcome of one value: severity, z and the baseline it was judged against."""

    __slots__ = ("_cfg", "mean", "rebaselined", "severity", "source", "std", "subject", "value",
                 "z")

    def __init__(self, severity: Severity, z: float | None, mean: float | None,
                 std: float | None, rebaselined: bool, value: float, cfg: AnomalyConfig,
                 source: str, subject: str) -> None:
        self.severity = severity
        self.z = z
        self.mean = mean
        self.std = std
        self.rebaselined = rebaselined
        self.value = value
        self._cfg = cfg
        self.source = source
        self.subject = subject

    @property
    def verdict(self) -> Verdict:
        return Verdict("anomaly", self.source, self.subject, self.severity, self.value,
                       self.mean, self._detail())

    def _detail(self) -> str:
        cfg, name, v = self._cfg, self.subject, self.value
        if self.z is None or self.mean is None:
            return (f"{name} = {v:.6g}: collecting a baseline "
                    f"(needs {cfg.min_samples} values)")
        window = f"the rolling mean {self.mean:.6g} (±{self.std or 0.0:.4g} over the window)"
        if self.rebaselined:
            return (f"{name} = {v:.6g}: level shift accepted as the new baseline after "
                    f"{cfg.rebaseline_after} consecutive flagged values")
        if math.isinf(self.z):
            size = f"{name} = {v:.6g} moved off a flat series ({self.mean:.6g})"
        else:
            side = "above" if self.z >= 0 else "below"
            size = f"{name} = {v:.6g} is {abs(self.z):.2f}σ {side} {window}"
        if self.severity is Severity.FAIL:
            return f"{size}; FAIL at |z| ≥ {cfg.z_fail:g}"
        if self.severity is Severity.WARN:
            return f"{size}; WARN at |z| ≥ {cfg.z_warn:g}"
        return f"{size}; within |z| < {cfg.z_warn:g}"


def evaluate(state: SeriesState, value: float, cfg: AnomalyConfig, *, source: str,
             subject: str) -> AnomalyResult:
    """Judge ``value`` against the series' window, then update the window (see module doc)."""
    window = state.window
    n = window.count
    if n < cfg.min_samples:
        window.push(value)
        return AnomalyResult(Severity.PENDING, None, None, None, False, value, cfg, source,
                             subject)
    mean = window.mean
    std = window.std
    dev = value - mean
    if std > 0.0:
        z = dev / std
    elif dev == 0.0:
        z = 0.0
    else:
        z = _INF if dev > 0 else -_INF
    direction = cfg.direction
    score = z if direction == "up" else -z if direction == "down" else abs(z)
    severity = Severity.OK
    if score >= cfg.z_warn:
        moved = abs(dev)
        if moved >= cfg.min_abs_change and moved >= cfg.min_rel_change * abs(mean):
            severity = Severity.FAIL if score >= cfg.z_fail else Severity.WARN
    if severity is Severity.OK:
        if state.streak:
            del state.streak[:]
            state.streak_sign = 0
        window.push(value)
        return AnomalyResult(severity, z, mean, std, False, value, cfg, source, subject)
    sign = 1 if dev > 0 else -1
    streak = state.streak
    if sign != state.streak_sign:
        del streak[:]
        state.streak_sign = sign
    streak.append(value)
    if len(streak) >= cfg.rebaseline_after:
        window.reset(streak)
        del streak[:]
        state.streak_sign = 0
        return AnomalyResult(Severity.OK, z, mean, std, True, value, cfg, source, subject)
    if severity is Severity.WARN:
        window.push(value)
    return AnomalyResult(severity, z, mean, std, False, value, cfg, source, subject)
