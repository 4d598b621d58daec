"""The event dispatcher: each event reaches the checks it feeds, and a quiet one builds nothing."""

from __future__ import annotations

import gc
import random
import tracemalloc
from datetime import timedelta

import pytest

from dq_monitor.events import Metric
from dq_monitor.monitor import SEP, Monitor, Outcome
from tests.monitor.test_core import at, config, feed, metric, started, update


@pytest.mark.req("NFR-003", "FR-005")
def test_a_healthy_value_of_a_never_alerted_series_adds_nothing_but_its_state() -> None:
    m = started()
    out = Outcome()
    for i in range(30):
        m.on_event(metric(i, 100.0 + i % 3), partition=0, kafka_ts=at(i), now=at(i), out=out)
    assert out == Outcome()  # no alert, no dead letter, no verdict object kept
    assert m.stats["events.metric"] == 30
    assert not m.sources["orders"].watches
    assert f"ser{SEP}orders{SEP}revenue{{region=eu}}" in [key for _, key, _ in m.take_dirty()]


FLEET = """
kafka: {bootstrap_servers: "x:1", input_topics: [in], alert_topic: a, dead_letter_topic: d}
sources:
  - name: orders
    anomaly: {metrics: [revenue], window: 20, min_samples: 5}
"""


@pytest.mark.req("NFR-005")
def test_memory_a_series_changed_since_the_last_checkpoint_costs_nothing_more() -> None:
    # A large fleet's checkpoint may wait many seconds (ingest.cadence), and by then nearly
    # every series has changed: that must not cost a key per series on top of its state.
    m = started(FLEET)
    regions = [f"r{i}" for i in range(2000)]
    for t in range(8):  # past the warm-up: a value changes the state, not its size
        for region in regions:
            m.on_metric("orders", "revenue", 100.0 + t % 3, at(t), {"region": region}, 0,
                        at(t), at(t), Outcome())
    assert len(m.take_dirty()) == 2001
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        now = at(9)  # one instant per batch, as the service passes it
        for region in regions:
            m.on_metric("orders", "revenue", 101.0, now, {"region": region}, 0, now, now,
                        Outcome())
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown / len(regions) < 16
    assert len([k for _, k, _ in m.take_dirty() if k.startswith("ser")]) == 2000


@pytest.mark.req("NFR-005", "FR-017")
def test_memory_a_fleet_of_young_racing_series_stays_within_2_kb_each() -> None:
    # The bench_scale fleet in small: sources configured alike, ten metrics each, a tag shared
    # by many sources, values every few seconds; past the warm-up every series is racing its
    # seasonal models. Everything the monitor allocates from assignment on counts: source
    # state, series keys, series state.
    sources, metrics = 300, 10
    names = ", ".join(f"m{j}" for j in range(metrics))
    cfg = config("""
kafka: {bootstrap_servers: "x:1", input_topics: [in], alert_topic: a, dead_letter_topic: d}
sources:
""" + "\n".join(f"  - name: s{i:03d}\n    anomaly: {{metrics: [{names}], window: 100, "
                f"min_samples: 20}}" for i in range(sources)))
    rnd = random.Random(3)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        m = Monitor(cfg)
        m.assign([0], at(0))
        for k in range(25):
            now = at(5 * k)  # one instant per batch, as the service passes it
            out = Outcome()
            for i in range(sources):
                tags = {"region": f"r{i % 4}"}
                for j in range(metrics):
                    ts = now + timedelta(microseconds=i * metrics + j)
                    m.on_metric(f"s{i:03d}", f"m{j}", rnd.gauss(100.0, 5.0), ts, tags, 0,
                                now, now, out)
            del out
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    live = [s for src in m.sources.values() for s in src.series.values()]
    assert len(live) == sources * metrics
    assert all(s.baseline is not None and s.baseline.race is not None for s in live)
    assert grown / len(live) <= 2048


@pytest.mark.req("FR-002", "FR-005")
def test_events_are_routed_by_source_and_metric() -> None:
    m = started()
    feed(m, metric(1, 5.0, source="nobody"), 1)
    feed(m, Metric(type="metric", source="orders", metric="other", value=1.0, ts=at(1)), 1)
    feed(m, update(2), 2)
    assert m.stats["events.unknown_source"] == 1
    assert m.stats["events.metric_not_monitored"] == 1
    assert m.stats["events.table_update"] == 1
    # A table update feeds freshness and the row-count series of its source.
    assert m.sources["orders"].last_updated == at(2)
    assert "row_count" in m.sources["orders"].series
    assert (0, "src", "orders", "") in m.dirty


@pytest.mark.req("FR-005", "FR-006")
def test_a_spike_after_warm_up_reaches_the_alert_machine() -> None:
    m = started()
    for i in range(10):
        feed(m, metric(i, 100.0 + i % 3), i)
    out = feed(m, metric(10, 10_000.0), 10)
    assert [(e.alert.check, e.alert.subject, e.alert.status) for e in out.alerts] == [
        ("anomaly", "revenue{region=eu}", "firing")]
    assert f"anomaly{SEP}revenue{{region=eu}}" in m.sources["orders"].watches


@pytest.mark.req("NFR-003", "FR-005")
def test_a_metric_given_as_its_fields_is_judged_as_the_event_itself() -> None:
    # The Kafka adapter's lean decoder hands over a metric's fields, not a Metric (NFR-003).
    by_event, by_fields = started(), started()
    alerts: dict[int, list[bytes]] = {0: [], 1: []}
    for i in range(40):
        value = 10_000.0 if i in (20, 30) else 100.0 + i % 3
        ev = metric(i, value)
        out = by_event.on_event(ev, partition=0, kafka_ts=at(i), now=at(i))
        alerts[0] += [e.alert.to_json() for e in out.alerts]
        out = Outcome()
        by_fields.on_metric(ev.source, ev.metric, ev.value, ev.ts, ev.tags, 0, at(i), at(i), out)
        alerts[1] += [e.alert.to_json() for e in out.alerts]
    assert alerts[0] == alerts[1] and len(alerts[0]) >= 1
    assert by_event.stats == by_fields.stats
    assert by_event.take_dirty() == by_fields.take_dirty()
