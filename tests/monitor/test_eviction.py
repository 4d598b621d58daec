"""Idle anomaly series are evicted (NFR-008, NFR-005): by the monitor's clock, on its sweep, from
memory and from the changelog, with their firing alerts resolved. Pure core, fake clock."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from dq_monitor.api.firing import FiringView
from dq_monitor.api.views import sources_view
from dq_monitor.config import Config, parse_config
from dq_monitor.events import Alert, Metric
from dq_monitor.kafka import changelog
from dq_monitor.monitor import Monitor, Outcome
from dq_monitor.state import checkpoint

T0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)
HOUR = 3600.0

CONFIG = """
kafka: {bootstrap_servers: "x:1", input_topics: [in], alert_topic: a, dead_letter_topic: d}
scheduler: {sweep_interval: 30s}
sources:
  - name: jobs
    anomaly: {metrics: [rows], window: 20, min_samples: 5, series_ttl: 1h,
              resolve_after: 10m, max_flaps: 1}
    max_series: 2
"""


def config() -> Config:
    return parse_config(CONFIG, env={})


def started(at_s: float = 0.0) -> Monitor:
    m = Monitor(config())
    m.assign([0], at(at_s))
    return m


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def key(batch: str) -> str:
    return f"ser\x1fjobs\x1frows{{batch={batch}}}"


def value(m: Monitor, t: float, batch: str, x: float = 100.0) -> Outcome:
    """One value of the series tagged ``batch``, received at ``t`` (event time long before, so
    only the processing clock can make it recent)."""
    ev = Metric(type="metric", source="jobs", metric="rows", value=x, ts=T0 - timedelta(days=30),
                tags={"batch": batch})
    return m.on_event(ev, partition=0, kafka_ts=at(t), now=at(t))


def run_until(m: Monitor, seconds: float) -> list[Alert]:
    """Tick at every wake-up up to ``seconds``; return the alerts emitted."""
    alerts: list[Alert] = []
    while (w := m.next_wakeup()) is not None and w <= at(seconds):
        alerts += [e.alert for e in m.on_tick(w).alerts]
    return alerts


def series(m: Monitor) -> set[str]:
    return set(m.sources["jobs"].series)


@pytest.mark.req("NFR-008", "NFR-005")
def test_series_idle_past_the_ttl_are_evicted_and_free_their_max_series_slots() -> None:
    m = started()
    value(m, 0, "b-1")
    value(m, 0, "b-2")
    assert [d["kind"] for d in value(m, 60, "b-3").dead_letters] == ["series_cap_exceeded"]
    run_until(m, HOUR - 60)
    assert series(m) == {"rows{batch=b-1}", "rows{batch=b-2}"}  # not idle for 1h yet
    run_until(m, HOUR + 60)  # a sweep runs within 30s of the TTL
    assert series(m) == set()
    assert m.stats["series.evicted"] == 2 and m.evicted == {"jobs": 2}
    assert m.sources["jobs"].series_evicted == 2
    out = value(m, HOUR + 90, "b-3")
    assert out.dead_letters == []  # the new series gets in instead of a dead letter
    assert series(m) == {"rows{batch=b-3}"}


@pytest.mark.req("NFR-008", "NFR-005")
def test_a_series_that_keeps_receiving_values_is_kept() -> None:
    m = started()
    value(m, 0, "live")
    value(m, 0, "gone")
    for k in range(1, 13):  # a value every 10 minutes for 2 hours
        value(m, k * 600.0, "live")
        run_until(m, k * 600.0)
    assert series(m) == {"rows{batch=live}"}
    assert m.evicted == {"jobs": 1}


@pytest.mark.req("NFR-008", "NFR-005")
def test_idleness_is_measured_by_the_processing_clock_not_by_event_time() -> None:
    m = started()
    value(m, 0, "b-1")  # its event time is 30 days old: still a fresh series
    run_until(m, HOUR - 60)
    assert series(m) == {"rows{batch=b-1}"}
    # a replayed backlog: event times hours apart, all received within a minute, keep it live
    for k in range(5):
        ev = Metric(type="metric", source="jobs", metric="rows", value=100.0,
                    ts=T0 + timedelta(hours=k), tags={"batch": "b-1"})
        m.on_event(ev, partition=0, kafka_ts=at(HOUR - 60 + k), now=at(HOUR - 60 + k))
    run_until(m, 2 * HOUR - 120)
    assert series(m) == {"rows{batch=b-1}"}
    run_until(m, 2 * HOUR)
    assert series(m) == set()


@pytest.mark.req("NFR-008", "NFR-004")
def test_an_evicted_series_is_a_tombstone_in_the_next_checkpoint_and_stays_gone() -> None:
    m = started()
    value(m, 0, "b-1")
    value(m, 0, "b-2")
    value(m, 1800, "b-2")
    first = m.take_dirty()
    assert {k for _, k, v in first if v is not None} >= {key("b-1"), key("b-2")}
    run_until(m, HOUR + 60)
    assert series(m) == {"rows{batch=b-2}"}
    second = m.take_dirty()
    assert (0, key("b-1"), None) in second
    assert key("b-2") not in {k for _, k, _ in second}  # unchanged: nothing rewritten
    # a restart replays the changelog: the tombstone comes after the series' last state
    again = Monitor(config())
    for p, k, v in [*first, *second]:
        again.restore(p, k, changelog.decode(changelog.encode(v)), at(HOUR + 120))
    again.assign([0], at(HOUR + 120))
    assert series(again) == {"rows{batch=b-2}"}


def spike(m: Monitor, batch: str, t0: float = 0.0) -> list[Alert]:
    """Warm ``batch`` up, then a value far off: its anomaly alert fires."""
    for i in range(8):
        value(m, t0 + i, batch, 100.0 + i % 3)
    return [e.alert for e in value(m, t0 + 10, batch, 10_000.0).alerts]


@pytest.mark.req("NFR-008", "FR-006", "FR-019")
def test_the_firing_alert_of_an_evicted_series_resolves() -> None:
    m = started()
    fired = spike(m, "b-1")
    assert [(a.subject, a.status, a.severity) for a in fired] == [
        ("rows{batch=b-1}", "firing", "FAIL")]
    view = FiringView()
    for a in fired:
        view.apply(a)
    m.take_dirty()
    # neither resolve_after (10m) nor the flap hold (max_flaps 1) keeps it open: the series
    # is gone and nothing can clear it any more
    gone = run_until(m, 10 + HOUR + 60)
    assert [(a.subject, a.status, a.severity, a.fingerprint) for a in gone] == [
        ("rows{batch=b-1}", "resolved", "FAIL", fired[0].fingerprint)]
    resolved = gone[0]
    assert "no value for 1h" in resolved.detail and "evicted" in resolved.detail
    assert resolved.event_time == at(10 + HOUR)  # when it had been idle for the TTL
    assert m.stats["alerts.anomaly.FAIL.resolved"] == 1
    watch = "w\x1fjobs\x1fanomaly\x1frows{batch=b-1}"
    assert (0, watch, None) in m.take_dirty()  # its alert state is gone from the changelog too
    # the operator API's per-source view: nothing firing, the check back to OK
    view.apply(resolved)
    body = sources_view("i", m.config, m, view, at(10 + HOUR + 60))
    assert [(c.check, c.subject, c.verdict, c.firing) for c in body.sources[0].checks] == [
        ("anomaly", None, "OK", None)]
    assert run_until(m, 3 * HOUR) == []  # and nothing more about it


@pytest.mark.req("NFR-008", "NFR-004")
def test_a_checkpoint_round_trip_keeps_the_last_seen_time() -> None:
    m = started()
    value(m, 0, "b-1")
    value(m, 1200, "b-1")
    saved = m.take_dirty()
    snap = dict((k, v) for _, k, v in saved)[key("b-1")]
    assert snap is not None
    assert checkpoint.decode(snap, m.config.sources[0].anomaly).seen == at(1200)  # type: ignore[arg-type]
    # restarted 50 minutes later: idle since 1200s, so evicted at 1200s + 1h, not 1h after
    # the restart
    again = Monitor(config())
    for p, k, v in saved:
        again.restore(p, k, v, at(1200 + 3000))
    again.assign([0], at(1200 + 3000))
    run_until(again, 1200 + HOUR - 60)
    assert series(again) == {"rows{batch=b-1}"}
    run_until(again, 1200 + HOUR + 60)
    assert series(again) == set()


def _v1(raw: bytes) -> dict[str, Any]:
    """The same series as the code before last-seen times wrote it (format version 1, packed
    and carried as base64 in a JSON object)."""
    assert raw[:4] == checkpoint.MAGIC
    old = checkpoint.MAGIC_V1 + raw[4:5] + raw[13:]  # without the 8-byte last-seen field
    return {"bin": base64.b64encode(old).decode()}


@pytest.mark.req("NFR-008", "NFR-006")
@pytest.mark.parametrize("form", ["binary v1", "json"])
def test_a_record_without_a_last_seen_time_restores_as_seen_at_the_restore(form: str) -> None:
    m = started()
    for i in range(6):
        value(m, i, "b-1", 100.0 + i)
    state = m.sources["jobs"].series["rows{batch=b-1}"]
    record = _v1(checkpoint.encode(state)) if form == "binary v1" else {
        k: v for k, v in state.to_state().items() if k != "seen"}
    restart = 5 * HOUR
    again = Monitor(config())
    again.restore(0, key("b-1"), orjson.loads(orjson.dumps(record)), at(restart))
    again.assign([0], at(restart))
    restored = again.sources["jobs"].series["rows{batch=b-1}"]
    assert restored.seen == at(restart)
    assert restored.to_state() == {**state.to_state(), "seen": restored.seen_us()}
    run_until(again, restart + HOUR - 60)
    assert series(again) == {"rows{batch=b-1}"}  # not evicted at once for having no time
    run_until(again, restart + HOUR + 60)
    assert series(again) == set()


@pytest.mark.req("NFR-008", "NFR-006")
def test_a_last_seen_time_ahead_of_the_clock_counts_from_the_restore() -> None:
    m = started(10 * HOUR)
    value(m, 10 * HOUR, "b-1")
    saved = m.take_dirty()
    again = Monitor(config())  # restored by an instance whose clock is 10 hours behind
    for p, k, v in saved:
        again.restore(p, k, v, at(0))
    again.assign([0], at(0))
    assert again.sources["jobs"].series["rows{batch=b-1}"].seen == at(0)
    run_until(again, HOUR + 60)
    assert series(again) == set()
