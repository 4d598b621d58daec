"""The monitor core without Kafka: events and instants in, alert events out, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dq_monitor.config import Config, parse_config
from dq_monitor.events import Metric, TableUpdate
from dq_monitor.monitor import Monitor, Outcome, partition_for

T0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)

CONFIG = """
kafka: {bootstrap_servers: "x:1", input_topics: [in], alert_topic: a, dead_letter_topic: d}
scheduler: {sweep_interval: 30s}
sources:
  - name: orders
    freshness: {max_staleness: 10m}
    completeness:
      min_row_count: 1
      columns: {customer_id: {max_null_rate: 0.1}}
    anomaly: {metrics: [row_count, revenue], window: 20, min_samples: 5, rebaseline_after: 3}
    max_series: 3
  - name: quiet
    freshness: {max_staleness: 1m, for: 30s}
"""


def config(text: str = CONFIG) -> Config:
    return parse_config(text, env={})


def started(text: str = CONFIG) -> Monitor:
    m = Monitor(config(text))
    m.assign([0], T0)
    return m


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def update(t: float, rows: int | None = 100, nulls: int = 0) -> TableUpdate:
    return TableUpdate(type="table_update", source="orders", updated_at=at(t), row_count=rows,
                       null_counts={"customer_id": nulls})


def metric(t: float, value: float, source: str = "orders", region: str = "eu") -> Metric:
    return Metric(type="metric", source=source, metric="revenue", value=value, ts=at(t),
                  tags={"region": region})


def feed(m: Monitor, ev: TableUpdate | Metric, t: float) -> Outcome:
    return m.on_event(ev, partition=0, kafka_ts=at(t), now=at(t))


def run_until(m: Monitor, seconds: float) -> list[tuple[str, str, str, str | None]]:
    """Tick at every wake-up up to ``seconds``; return (check, severity, status, source)."""
    seen: list[tuple[str, str, str, str | None]] = []
    while (w := m.next_wakeup()) is not None and w <= at(seconds):
        for e in m.on_tick(w).alerts:
            seen.append((e.alert.check, e.alert.severity, e.alert.status, e.alert.source))
    return seen


@pytest.mark.req("FR-003", "FR-006")
def test_silent_sources_warn_then_fail_at_their_deadlines() -> None:
    m = started()
    feed(m, update(0), 0)
    fired = run_until(m, 700)
    assert ("freshness", "WARN", "firing", "orders") in fired
    assert ("freshness", "FAIL", "firing", "orders") in fired
    # "quiet" never sent anything: measured from the start, FAIL held 30s ("for") first.
    assert ("freshness", "FAIL", "firing", "quiet") in fired


@pytest.mark.req("FR-003")
def test_deadline_alerts_carry_the_crossing_instant() -> None:
    m = started()
    feed(m, update(0), 0)
    w = m.next_wakeup()
    assert w is not None and w <= at(8 * 60)  # WARN deadline at 0.8 x 10m (or an earlier sweep)
    alerts = []
    while (w := m.next_wakeup()) is not None and w <= at(600):
        alerts += m.on_tick(w).alerts
    fail = [e for e in alerts if e.alert.source == "orders" and e.alert.severity == "FAIL"]
    assert len(fail) == 1
    assert fail[0].triggered_at == at(600)
    assert fail[0].alert.event_time == at(600)


@pytest.mark.req("FR-003", "FR-006")
def test_fresh_update_resolves_the_freshness_alert() -> None:
    m = started()
    feed(m, update(0), 0)
    run_until(m, 601)
    out = feed(m, update(602), 602)
    assert [(e.alert.check, e.alert.status, e.alert.severity) for e in out.alerts] == [
        ("freshness", "resolved", "FAIL")
    ]


@pytest.mark.req("NFR-001")
def test_every_check_is_reevaluated_by_the_sweep_without_events() -> None:
    m = started()
    feed(m, update(0), 0)
    wakes = []
    while (w := m.next_wakeup()) is not None and w <= at(600):
        wakes.append(w)
        m.on_tick(w)
    gaps = [(b - a).total_seconds() for a, b in zip([T0, *wakes], wakes, strict=False)]
    assert max(gaps) <= 60
    assert m.stats["sweeps"] >= 600 // 30 - 1


@pytest.mark.req("FR-004", "FR-006")
def test_null_rate_breach_fires_and_recovers() -> None:
    m = started()
    out = feed(m, update(0, rows=100, nulls=50), 0)
    assert [(e.alert.check, e.alert.subject, e.alert.severity) for e in out.alerts] == [
        ("completeness", "customer_id", "FAIL")
    ]
    assert out.alerts[0].alert.requirement == "FR-004"
    out = feed(m, update(1, rows=100, nulls=0), 1)
    assert [(e.alert.status, e.alert.severity) for e in out.alerts] == [("resolved", "FAIL")]


@pytest.mark.req("FR-005", "FR-006")
def test_metric_spike_fires_per_series() -> None:
    m = started()
    for i in range(10):
        assert not feed(m, metric(i, 100.0 + (i % 3)), i).alerts
    out = feed(m, metric(11, 500.0), 11)
    assert len(out.alerts) == 1
    a = out.alerts[0].alert
    assert (a.check, a.subject, a.severity, a.observed) == (
        "anomaly", "revenue{region=eu}", "FAIL", 500.0)
    assert out.alerts[0].triggered_at == at(11)
    # another region is another series, still warming up
    assert not feed(m, metric(12, 500.0, region="us"), 12).alerts


@pytest.mark.req("NFR-005")
def test_series_past_the_cap_are_counted_and_dead_lettered() -> None:
    m = started()
    feed(m, update(0), 0)  # row_count is series 1
    feed(m, metric(1, 1.0, region="a"), 1)
    feed(m, metric(2, 1.0, region="b"), 2)
    out = feed(m, metric(3, 1.0, region="c"), 3)
    assert [d["kind"] for d in out.dead_letters] == ["series_cap_exceeded"]
    assert out.dead_letters[0]["series"] == "revenue{region=c}"
    assert m.stats["series.rejected"] == 1
    assert len(m.sources["orders"].series) == 3


@pytest.mark.req("FR-001")
def test_unknown_sources_are_counted_and_ignored() -> None:
    m = started()
    out = feed(m, metric(1, 5.0, source="not-configured"), 1)
    assert not out.alerts and not out.dead_letters
    assert m.stats["events.unknown_source"] == 1


@pytest.mark.req("NFR-004")
def test_state_restored_from_checkpoints_behaves_the_same() -> None:
    a = started()
    for i in range(10):
        feed(a, metric(i, 100.0 + (i % 3)), i)
    feed(a, update(10, rows=100, nulls=50), 10)  # completeness FAIL firing
    dirty = a.take_dirty()
    b = Monitor(config())
    for p, key, value in dirty:
        b.restore(p, key, value, at(20))
    b.assign([0], at(20))
    assert b.sources["orders"].last_updated == a.sources["orders"].last_updated
    # the restored window flags the same spike, and the restored machine resolves
    for m in (a, b):
        spike = feed(m, metric(21, 500.0), 21)
        assert [e.alert.severity for e in spike.alerts] == ["FAIL"]
        ok = feed(m, update(22, rows=100, nulls=0), 22)
        assert [(e.alert.check, e.alert.status) for e in ok.alerts] == [
            ("completeness", "resolved")]


@pytest.mark.req("NFR-004", "NFR-003")
def test_a_series_changed_after_a_checkpoint_is_in_the_next_one_with_its_new_state() -> None:
    m = started()
    for i in range(10):
        feed(m, metric(i, 100.0 + i % 3), i)
    key = "ser\x1forders\x1frevenue{region=eu}"

    def saved() -> list[object]:
        return [value for _, k, value in m.take_dirty() if k == key]

    first = saved()
    assert len(first) == 1
    assert saved() == []  # nothing changed since
    for checkpoint in range(3):
        feed(m, metric(20 + checkpoint, 101.0), 20 + checkpoint)
        feed(m, metric(30 + checkpoint, 102.0), 30 + checkpoint)
        again = saved()
        assert len(again) == 1 and again != first  # listed once, with the state after both
        first = again


def test_owner_partition_matches_the_default_partitioner() -> None:
    assert partition_for("warehouse.orders", 1) == 0
    assert {partition_for(f"s{i}", 4) for i in range(50)} == {0, 1, 2, 3}


@pytest.mark.req("FR-003")
def test_frequent_updates_keep_the_deadline_heap_small() -> None:
    m = started()
    for i in range(5000):
        feed(m, update(i * 0.1), i * 0.1)
    assert len(m.scheduler) < 10
    # and the source still goes stale on time after the last update
    fired = run_until(m, 500 + 601)
    assert ("freshness", "FAIL", "firing", "orders") in fired


@pytest.mark.req("NFR-004")
def test_revoked_partitions_leave_their_checkpoints_alone() -> None:
    m = started()
    for i in range(10):
        feed(m, metric(i, 100.0 + i % 3), i)
    m.revoke([0])  # the partition moved to another instance before the batch was written
    assert m.take_dirty() == []


LEAN_CONFIG = """
kafka: {bootstrap_servers: "x:1", input_topics: [in], alert_topic: a, dead_letter_topic: d}
sources:
  - name: orders
    anomaly: {metrics: [revenue], window: 30, min_samples: 8, rebaseline_after: 4, cooldown: 3}
  - name: flat
    anomaly: {metrics: [revenue], baseline: rolling, window: 20, min_samples: 5,
              rebaseline_after: 3}
"""


def _series(seed: int, n: int) -> list[tuple[str, str, float]]:
    """Noisy, count-like and flat values with spikes, dips and lasting level shifts."""
    import random

    rnd = random.Random(seed)
    out: list[tuple[str, str, float]] = []
    level = 100.0
    for i in range(n):
        if i % 97 == 50:
            level *= rnd.choice([0.5, 2.0])
        for region in ("eu", "us", "ap"):
            value = level + rnd.gauss(0, 5)
            if region == "us":
                value = float(round(value))
            if rnd.random() < 0.03:
                value *= rnd.choice([3.0, -1.0, 0.2])
            out.append((rnd.choice(["orders", "flat"]), region, value))
    return out


@pytest.mark.req("NFR-003", "FR-005", "FR-017")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_lean_path_decides_exactly_as_the_traced_one(seed: int) -> None:
    # The monitor skips building results for series with no alert state (NFR-003); tracing
    # builds every one. Same input, same alerts and the same state, value for value.
    lean, traced = started(LEAN_CONFIG), started(LEAN_CONFIG)
    traced.trace_anomaly = True
    alerts: dict[bool, list[bytes]] = {False: [], True: []}
    for i, (source, region, value) in enumerate(_series(seed, 600)):
        t = i * 20.0
        ev = metric(t, value, source=source, region=region)
        for m in (lean, traced):
            out = feed(m, ev, t)
            out.alerts += m.on_tick(at(t)).alerts
            alerts[m.trace_anomaly] += [e.alert.to_json() for e in out.alerts]
    assert alerts[False] == alerts[True]
    assert len(alerts[False]) > 10  # the series did alert, and resolve
    assert lean.take_dirty() == traced.take_dirty()
