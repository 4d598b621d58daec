"""FR-025 in the core: a new configuration swapped in between events keeps every series and
alert it still covers, resolves what it no longer monitors, and watches what it adds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dq_monitor.config import Config, parse_config
from dq_monitor.events import Alert, Metric, TableUpdate
from dq_monitor.monitor import Monitor, Outcome

T0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)

BASE = """
kafka: {bootstrap_servers: "x:1", input_topics: [in], alert_topic: a, dead_letter_topic: d}
sources:
  - name: orders
    completeness: {min_row_count: 1}
    anomaly: {metrics: [revenue], window: 30, min_samples: 10}
    thresholds:
      latency_ms: {fail_above: 500}
  - name: payments
    completeness: {min_row_count: 1}
"""


def cfg(text: str) -> Config:
    return parse_config(text, env={})


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def started(text: str = BASE) -> Monitor:
    m = Monitor(cfg(text))
    m.assign([0], T0)
    return m


def rows(m: Monitor, source: str, t: float, n: int) -> Outcome:
    ev = TableUpdate(type="table_update", source=source, updated_at=at(t), row_count=n)
    return m.on_event(ev, partition=0, kafka_ts=at(t), now=at(t))


def value(m: Monitor, t: float, v: float, metric: str = "revenue",
          source: str = "orders") -> Outcome:
    ev = Metric(type="metric", source=source, metric=metric, value=v, ts=at(t))
    return m.on_event(ev, partition=0, kafka_ts=at(t), now=at(t))


def alerts(out: Outcome) -> list[Alert]:
    return [e.alert for e in out.alerts]


def warm(m: Monitor, n: int = 40) -> None:
    for i in range(n):
        assert not value(m, i, 100.0 + (i % 5)).alerts


@pytest.mark.req("FR-025")
def test_a_removed_source_resolves_its_firing_alert_and_its_state_is_deleted() -> None:
    m = started()
    [fired] = alerts(rows(m, "payments", 0, 0))
    assert (fired.source, fired.status) == ("payments", "firing")
    m.take_dirty()
    out = m.reconfigure(cfg(BASE.split("  - name: payments")[0]), at(10))
    [resolved] = alerts(out)
    assert (resolved.source, resolved.check, resolved.status) == (
        "payments", "completeness", "resolved")
    assert "no longer monitored" in resolved.detail
    assert resolved.fingerprint == fired.fingerprint
    assert "payments" not in m.sources
    deleted = {key for _, key, value in m.take_dirty() if value is None}
    assert any(k.startswith("src\x1fpayments") for k in deleted)
    assert any(k.startswith("w\x1fpayments") for k in deleted)
    # its events are now unknown
    assert not rows(m, "payments", 20, 0).alerts


@pytest.mark.req("FR-025", "FR-005")
def test_unchanged_series_keep_their_baselines_and_a_spike_is_flagged_at_once() -> None:
    m = started()
    warm(m)
    text = BASE.replace("fail_above: 500", "fail_above: 400") + """  - name: added
    completeness: {min_row_count: 1}
"""
    assert not m.reconfigure(cfg(text), at(50)).alerts
    [spike] = alerts(value(m, 51, 10_000))
    assert (spike.check, spike.status) == ("anomaly", "firing")


@pytest.mark.req("FR-025", "FR-026")
def test_changed_check_settings_apply_from_the_next_evaluation() -> None:
    m = started()
    assert not value(m, 0, 450, metric="latency_ms").alerts
    m.reconfigure(cfg(BASE.replace("fail_above: 500", "fail_above: 400")), at(1))
    [a] = alerts(value(m, 2, 450, metric="latency_ms"))
    assert (a.check, a.severity, a.expected) == ("threshold", "FAIL", 400)


@pytest.mark.req("FR-025")
def test_a_removed_check_resolves_and_an_added_source_is_watched() -> None:
    m = started()
    [fired] = alerts(value(m, 0, 900, metric="latency_ms"))
    assert (fired.check, fired.status) == ("threshold", "firing")
    text = BASE.replace("""    thresholds:
      latency_ms: {fail_above: 500}
""", "") + """  - name: added
    freshness: {max_staleness: 1m}
"""
    [resolved] = alerts(m.reconfigure(cfg(text), at(5)))
    assert (resolved.check, resolved.status, resolved.fingerprint) == (
        "threshold", "resolved", fired.fingerprint)
    assert "no longer monitored" in resolved.detail
    # the added source's freshness clock starts at the reload
    assert m.sources["added"].watching_since == at(5)
    seen: list[Alert] = []
    while (w := m.next_wakeup()) is not None and w <= at(80):
        seen += alerts(m.on_tick(w))
    assert [(a.source, a.check, a.severity) for a in seen if a.status == "firing"] == [
        ("added", "freshness", "WARN"), ("added", "freshness", "FAIL")]


@pytest.mark.req("FR-025", "FR-015")
def test_changed_damping_applies_to_an_open_episode() -> None:
    m = started(BASE.replace("completeness: {min_row_count: 1}\n    anomaly",
                             "completeness: {min_row_count: 1, resolve_after: 1h}\n    anomaly"))
    assert alerts(rows(m, "orders", 0, 0))
    assert not rows(m, "orders", 10, 5).alerts  # held by resolve_after
    m.reconfigure(cfg(BASE), at(20))
    [resolved] = alerts(rows(m, "orders", 30, 5))
    assert resolved.status == "resolved"


@pytest.mark.req("FR-025", "FR-017")
def test_a_new_baseline_shape_restarts_the_warm_up() -> None:
    m = started()
    warm(m)
    m.reconfigure(cfg(BASE.replace("window: 30", "window: 50")), at(50))
    assert not m.sources["orders"].series
    assert not value(m, 51, 10_000).alerts  # warming up again


@pytest.mark.req("FR-025", "FR-012")
def test_restored_state_of_a_source_no_longer_configured_resolves_at_start_up() -> None:
    m = started()
    [fired] = alerts(rows(m, "payments", 0, 0))
    records = m.take_dirty()
    restarted = Monitor(cfg(BASE.split("  - name: payments")[0]))
    for partition, key, val in records:
        restarted.restore(partition, key, val, at(60))
    assert "payments" not in restarted.sources
    restarted.assign([0], at(60))
    [resolved] = alerts(restarted.on_tick(at(60)))
    assert (resolved.fingerprint, resolved.status) == (fired.fingerprint, "resolved")
    assert "no longer monitored" in resolved.detail
    deleted = {key for _, key, val in restarted.take_dirty() if val is None}
    assert deleted == {key for _, key, _ in records if "payments" in key}
    # and once only: nothing is left to resolve on the next start
    again = Monitor(cfg(BASE.split("  - name: payments")[0]))
    for partition, key, val in [*records, *((0, k, None) for k in deleted)]:
        again.restore(partition, key, val, at(90))
    again.assign([0], at(90))
    assert not again.on_tick(at(90)).alerts
