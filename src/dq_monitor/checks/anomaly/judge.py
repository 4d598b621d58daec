"""``evaluate`` and ``evaluate_quiet``, the check's entry points, and the rolling mean and
standard deviation baseline (FR-005, FR-014)."""

from __future__ import annotations

from array import array
from datetime import datetime

from dq_monitor.checks.anomaly.result import (
    AnomalyResult,
)
from dq_monitor.checks.anomaly.robust import (
    evaluate_robust,
)
from dq_monitor.checks.anomaly.series import (
    SeriesState,
    _episode,
)
from dq_monitor.checks.anomaly.stats import (
    _zscore,
)
from dq_monitor.checks.verdict import FAIL, OK, PENDING, WARN
from dq_monitor.config import AnomalyConfig


def evaluate(state: SeriesState, value: float, cfg: AnomalyConfig, *, source: str,
             subject: str, ts: datetime | None = None) -> AnomalyResult:
    """Judge ``value`` (taken at ``ts``) against the series' baseline, then learn from it."""
    result = _evaluate(state, value, cfg, source, subject, ts, False)
    assert result is not None
    return result


def evaluate_quiet(state: SeriesState, value: float, cfg: AnomalyConfig, source: str,
                   subject: str, ts: datetime | None) -> AnomalyResult | None:
    """``evaluate``, except that nothing is built and None is returned when the verdict held
    for the alert machine is not firing: the monitor's common case for a series it has no
    alert state for. The state changes exactly as with ``evaluate``. (Positional arguments:
    it runs once per event.)"""
    if state.window is None:
        return evaluate_robust(state, value, cfg, source, subject, ts, True)
    return _evaluate(state, value, cfg, source, subject, ts, True)


def _evaluate(state: SeriesState, value: float, cfg: AnomalyConfig, source: str, subject: str,
              ts: datetime | None, quiet: bool) -> AnomalyResult | None:
    if state.window is None:
        return evaluate_robust(state, value, cfg, source, subject, ts, quiet)
    window = state.window
    n = window.count
    if n < cfg.min_samples:
        window.push(value)
        held = state.burst  # what ``_episode`` holds for a PENDING value
        if quiet and held is None:
            return None
        return AnomalyResult(PENDING, None, None, None, False, value, cfg, source,
                             subject, held=held)
    mean = window.mean
    std = window.std
    dev = value - mean
    z = _zscore(dev, std)
    direction = cfg.direction
    score = z if direction == "up" else -z if direction == "down" else abs(z)
    severity = OK
    if score >= cfg.z_warn:
        moved = abs(dev)
        if moved >= cfg.min_abs_change and moved >= cfg.min_rel_change * abs(mean):
            severity = FAIL if score >= cfg.z_fail else WARN
    if severity is OK:
        if state.streak is not None:
            state.streak = None
            state.streak_sign = 0
        window.push(value)
        held = None if state.burst is None else _episode(state, severity, cfg)
        if quiet and held is None:
            return None
        return AnomalyResult(severity, z, mean, std, False, value, cfg, source, subject,
                             held=held)
    sign = 1 if dev > 0 else -1
    streak = state.streak
    if streak is None or sign != state.streak_sign:
        streak = state.streak = array("d")
        state.streak_sign = sign
    streak.append(value)
    if len(streak) >= cfg.rebaseline_after:
        window.reset(streak)
        state.streak = None
        state.streak_sign = 0
        state.burst = None
        state.quiet = 0
        if quiet:
            return None
        return AnomalyResult(OK, z, mean, std, True, value, cfg, source, subject)
    if severity is WARN:
        window.push(value)
    return AnomalyResult(severity, z, mean, std, False, value, cfg, source, subject,
                         held=_episode(state, severity, cfg))
