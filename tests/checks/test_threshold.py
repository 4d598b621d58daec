"""FR-026 static thresholds: a value above or below fixed bounds, one alert per breach, with the
damping every check has; a metric with thresholds is monitored without an anomaly check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dq_monitor.checks.threshold import breach
from dq_monitor.checks.verdict import FAIL, OK, WARN
from dq_monitor.config import ThresholdRule, parse_config
from dq_monitor.errors import ConfigError
from dq_monitor.events import Metric, TableUpdate
from dq_monitor.monitor import Monitor, Outcome

T0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)

CONFIG = """
kafka: {bootstrap_servers: "x:1", input_topics: [in], alert_topic: a, dead_letter_topic: d}
sources:
  - name: api
    owner: team-api
    thresholds:
      latency_ms: {fail_above: 500, warn_above: 300}
      row_count: {fail_below: 1}
  - name: damped
    thresholds:
      latency_ms: {fail_above: 500, for: 1m}
"""


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def started() -> Monitor:
    m = Monitor(parse_config(CONFIG, env={}))
    m.assign([0], T0)
    return m


def value(m: Monitor, t: float, v: float, source: str = "api", metric: str = "latency_ms",
          tags: dict[str, str] | None = None) -> Outcome:
    ev = Metric(type="metric", source=source, metric=metric, value=v, ts=at(t), tags=tags)
    return m.on_event(ev, partition=0, kafka_ts=at(t), now=at(t))


@pytest.mark.req("FR-026")
def test_a_three_value_breach_raises_one_fail_and_resolves_when_it_comes_back() -> None:
    m = started()
    seen = []
    for t, v in enumerate([120, 130, 734, 801, 650, 140, 150]):
        seen += [(e.alert.severity, e.alert.status, e.alert.observed, e.alert.expected)
                 for e in value(m, t, v).alerts]
    assert seen == [("FAIL", "firing", 734, 500), ("FAIL", "resolved", 140, None)]
    assert m.stats["events.metric_not_monitored"] == 0


@pytest.mark.req("FR-026", "FR-006")
def test_the_alert_names_the_bound_and_carries_the_check_and_owner() -> None:
    m = started()
    [e] = value(m, 0, 400, tags={"region": "eu"}).alerts
    a = e.alert
    assert (a.check, a.severity, a.subject, a.requirement) == (
        "threshold", "WARN", "latency_ms{region=eu}", "FR-026")
    assert a.detail == "latency_ms{region=eu} = 400, above warn_above 300"
    assert a.owner == "team-api"


@pytest.mark.req("FR-026")
def test_row_count_thresholds_apply_to_table_updates() -> None:
    m = started()
    ev = TableUpdate(type="table_update", source="api", updated_at=at(0), row_count=0)
    [e] = m.on_event(ev, partition=0, kafka_ts=at(0), now=at(0)).alerts
    assert (e.alert.check, e.alert.subject, e.alert.severity) == ("threshold", "row_count", "FAIL")


@pytest.mark.req("FR-026", "FR-015")
def test_for_holds_a_breach_until_it_lasted() -> None:
    m = started()
    assert not value(m, 0, 900, source="damped").alerts
    assert not value(m, 30, 900, source="damped").alerts
    fired = value(m, 61, 900, source="damped").alerts
    assert [(e.alert.severity, e.alert.status) for e in fired] == [("FAIL", "firing")]


@pytest.mark.req("FR-026")
def test_a_metric_without_thresholds_changes_nothing_and_healthy_values_keep_no_state() -> None:
    m = started()
    assert not value(m, 0, 10_000, metric="other").alerts
    assert m.stats["events.metric_not_monitored"] == 1
    assert not value(m, 1, 10).alerts
    assert not m.sources["api"].watches and not m.sources["api"].series


@pytest.mark.req("FR-026")
def test_breach_judges_failure_bounds_before_warnings() -> None:
    rule = ThresholdRule(warn_above=10, fail_above=20, warn_below=0, fail_below=-10)
    assert breach(rule, 5) == (OK, None)
    assert breach(rule, 15) == (WARN, "warn_above")
    assert breach(rule, 25) == (FAIL, "fail_above")
    assert breach(rule, -5) == (WARN, "warn_below")
    assert breach(rule, -11) == (FAIL, "fail_below")
    assert breach(rule, 20) == (WARN, "warn_above")  # strictly above


@pytest.mark.req("FR-026", "FR-011")
def test_inconsistent_thresholds_are_refused_by_path() -> None:
    text = """
kafka: {bootstrap_servers: "x:1", input_topics: [in], alert_topic: a, dead_letter_topic: d}
sources:
  - name: api
    thresholds:
      latency_ms: {fail_above: 500, warn_above: 600}
      rows: {warn_below: 1, fail_below: 5}
      empty: {}
      flappy: {fail_above: 1, flap_window: 5m}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    assert set(info.value.errors) == {
        "sources[0].thresholds.empty: give at least one of warn_above, fail_above, warn_below, "
        "fail_below",
        "sources[0].thresholds.latency_ms.warn_above: must be below fail_above (600 >= 500)",
        "sources[0].thresholds.rows.warn_below: must be above fail_below (1 <= 5)",
        "sources[0].thresholds.flappy.flap_window: set max_flaps to enable flap damping",
    }
