"""FR-003 freshness, pure: thresholds, never-seen sources, and the next change instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dq_monitor.checks.freshness import evaluate_freshness
from dq_monitor.checks.verdict import Severity
from dq_monitor.config import FreshnessConfig

T0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)
CFG = FreshnessConfig.model_validate({"max_staleness": "60m"})


def at(minutes: float, *, last: float | None = 0.0) -> Severity:
    res = evaluate_freshness(
        "s", CFG,
        last_updated=None if last is None else T0 + timedelta(minutes=last),
        watching_since=T0, now=T0 + timedelta(minutes=minutes),
    )
    return res.verdict.severity


@pytest.mark.req("FR-003")
def test_ok_warn_fail_by_staleness() -> None:
    assert at(0) is Severity.OK
    assert at(47.9) is Severity.OK
    assert at(48) is Severity.WARN  # 0.8 x 60m
    assert at(59.9) is Severity.WARN
    assert at(60) is Severity.FAIL
    assert at(600) is Severity.FAIL


@pytest.mark.req("FR-003")
def test_verdict_carries_observed_and_expected_seconds() -> None:
    res = evaluate_freshness("warehouse.orders", CFG, last_updated=T0, watching_since=T0,
                             now=T0 + timedelta(minutes=90))
    v = res.verdict
    assert (v.check, v.source, v.subject) == ("freshness", "warehouse.orders", None)
    assert (v.observed, v.expected) == (5400.0, 3600.0)
    assert v.requirement == "FR-003"
    assert "1.5h ago" in v.detail and "1h limit" in v.detail


@pytest.mark.req("FR-003")
def test_never_seen_source_is_measured_from_watching_start() -> None:
    assert at(47, last=None) is Severity.OK
    assert at(61, last=None) is Severity.FAIL
    res = evaluate_freshness("s", CFG, last_updated=None, watching_since=T0,
                             now=T0 + timedelta(minutes=61))
    assert "since monitoring started" in res.verdict.detail


@pytest.mark.req("FR-003")
def test_update_now_and_in_the_future_are_fresh() -> None:
    assert at(10, last=10) is Severity.OK
    res = evaluate_freshness("s", CFG, last_updated=T0 + timedelta(hours=2), watching_since=T0,
                             now=T0)
    assert res.verdict.severity is Severity.OK and res.staleness == 0.0


@pytest.mark.req("FR-003")
def test_next_change_instants() -> None:
    def nxt(minutes: float) -> datetime | None:
        return evaluate_freshness("s", CFG, last_updated=T0, watching_since=T0,
                                  now=T0 + timedelta(minutes=minutes)).next_change_at

    assert nxt(1) == T0 + timedelta(minutes=48)
    assert nxt(50) == T0 + timedelta(minutes=60)
    assert nxt(61) is None


@pytest.mark.req("FR-003")
@given(st.floats(min_value=0, max_value=10_000), st.floats(min_value=0.01, max_value=0.99))
def test_next_change_is_where_the_verdict_changes(minutes: float, ratio: float) -> None:
    """A timer armed for ``next_change_at`` sees a different verdict there, and the same before."""
    cfg = FreshnessConfig.model_validate({"max_staleness": "60m", "warn_ratio": ratio})
    now = T0 + timedelta(minutes=minutes)
    res = evaluate_freshness("s", cfg, last_updated=T0, watching_since=T0, now=now)
    if res.next_change_at is None:
        assert res.verdict.severity is Severity.FAIL
        return
    assert res.next_change_at > now
    before = res.next_change_at - timedelta(microseconds=1)
    at_change = evaluate_freshness("s", cfg, last_updated=T0, watching_since=T0,
                                   now=res.next_change_at).verdict.severity
    before_change = evaluate_freshness("s", cfg, last_updated=T0, watching_since=T0,
                                       now=max(before, now)).verdict.severity
    assert before_change is res.verdict.severity
    assert at_change.rank == res.verdict.severity.rank + 1
