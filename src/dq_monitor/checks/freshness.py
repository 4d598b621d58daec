"""FR-003 freshness as a pure function of (last update, threshold, now).

Staleness is measured from the newest ``updated_at`` seen, or — for a source never seen — from
the moment the monitor started watching it, so silence is judged the same way as lateness.
Thresholds are reached *at* their instant (``>=``), which lets a timer armed for
``next_change_at`` observe the new verdict when it fires rather than one tick later.
An ``updated_at`` in the future (producer clock ahead) counts as staleness 0 until it passes;
the service clamps it to the receive time before calling this (see ``state.sources``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from dq_monitor.checks.verdict import FAIL, OK, WARN, Severity, Verdict
from dq_monitor.config import FreshnessConfig


@dataclass(frozen=True, slots=True)
class FreshnessResult:
    verdict: Verdict
    staleness: float
    #: The next instant at which the verdict changes if no update arrives; ``None`` once FAIL.
    next_change_at: datetime | None


def _reached_at(reference: datetime, seconds: float) -> datetime:
    """First microsecond at which ``now - reference >= seconds`` (timers must not fire early)."""
    return reference + _reach(seconds)


@functools.lru_cache(maxsize=1024)
def _reach(seconds: float) -> timedelta:
    """The shortest whole-microsecond span of at least ``seconds``: datetime arithmetic is exact,
    so it does not depend on the reference, and thresholds are few (one entry each)."""
    span = timedelta(microseconds=math.ceil(seconds * 1e6))
    while span.total_seconds() < seconds:
        span += timedelta(microseconds=1)
    return span


def _fmt(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.4g}h"
    if seconds >= 60:
        return f"{seconds / 60:.4g}m"
    return f"{seconds:.4g}s"


def freshness_severity(
    cfg: FreshnessConfig, *, reference: datetime, now: datetime
) -> tuple[Severity, float, datetime | None]:
    """(severity, staleness in seconds, next change) at ``now``, staleness counted from
    ``reference``: the judgement of ``evaluate_freshness`` without its sentence, for callers
    that need no verdict when the source is fresh."""
    staleness = max(0.0, (now - reference).total_seconds())
    fail_at = cfg.max_staleness
    warn_at = cfg.warn_ratio * cfg.max_staleness
    if staleness >= fail_at:
        return FAIL, staleness, None
    if staleness >= warn_at:
        return WARN, staleness, _reached_at(reference, fail_at)
    return OK, staleness, _reached_at(reference, warn_at)


def evaluate_freshness(
    source: str,
    cfg: FreshnessConfig,
    *,
    last_updated: datetime | None,
    watching_since: datetime,
    now: datetime,
) -> FreshnessResult:
    """Judge staleness at ``now``; observed/expected in the verdict are seconds."""
    reference = last_updated if last_updated is not None else watching_since
    severity, staleness, nxt = freshness_severity(cfg, reference=reference, now=now)
    fail_at = cfg.max_staleness
    since = (
        f"last update {_fmt(staleness)} ago"
        if last_updated is not None
        else f"no update seen in the {_fmt(staleness)} since monitoring started"
    )
    if severity is FAIL:
        detail = f"{source} is stale: {since}, over the {_fmt(fail_at)} limit"
    elif severity is WARN:
        detail = (
            f"{source} is getting stale: {since}, past {cfg.warn_ratio:g} of the "
            f"{_fmt(fail_at)} limit"
        )
    else:
        detail = f"{source} is fresh: {since}, limit {_fmt(fail_at)}"
    verdict = Verdict(
        check="freshness",
        source=source,
        subject=None,
        severity=severity,
        observed=round(staleness, 3),
        expected=fail_at,
        detail=detail,
    )
    return FreshnessResult(verdict=verdict, staleness=staleness, next_change_at=nxt)
