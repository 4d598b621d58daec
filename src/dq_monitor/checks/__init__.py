"""Pure checks: state and config in, verdicts out; no I/O, no clock (``now`` is passed in)."""

from __future__ import annotations

from dq_monitor.checks.anomaly import AnomalyResult, SeriesState, evaluate, series_key
from dq_monitor.checks.completeness import evaluate_completeness
from dq_monitor.checks.freshness import FreshnessResult, evaluate_freshness
from dq_monitor.checks.verdict import Severity, Verdict

__all__ = [
    "AnomalyResult",
    "FreshnessResult",
    "SeriesState",
    "Severity",
    "Verdict",
    "evaluate",
    "evaluate_completeness",
    "evaluate_freshness",
    "series_key",
]
