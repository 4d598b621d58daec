"""Fuzzing the whole core path (NFR-006): bytes → decode → monitor → alert JSON → checkpoint →
restore → the same state. Nothing raises; every input is processed or rejected with a reason.

The normal suite runs a few hundred examples; ``pytest --hypothesis-profile=fuzz-long
tests/test_fuzz.py`` runs thousands.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dq_monitor.config import parse_config
from dq_monitor.errors import DqMonitorError, MalformedEvent
from dq_monitor.events import Alert, decode_event
from dq_monitor.formats import OpenLineageFormat
from dq_monitor.kafka.changelog import decode, encode
from dq_monitor.monitor import Monitor

T0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)

CONFIG = """
kafka: {bootstrap_servers: "x:1", input_topics: [in], alert_topic: a, dead_letter_topic: d}
sources:
  - name: orders
    freshness: {max_staleness: 10m}
    completeness: {min_row_count: 1, columns: {c: {max_null_rate: 0.1}}}
    anomaly: {metrics: [row_count, v], window: 10, min_samples: 3, series_ttl: 2h}
    max_series: 20
  - name: "ünï/☃"
    anomaly: {metrics: [v], baseline: rolling, window: 5, min_samples: 2}
"""

SOURCES = st.sampled_from(["orders", "ünï/☃", "unknown", ""])
NAMES = st.text(min_size=0, max_size=20) | st.sampled_from(["v", "row_count", "c"])
FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [1.7e308, -1.7e308, 1e150, -1e150, 5e-324, 0.0, -0.0, 2.0**53])
INTS = st.integers(min_value=-5, max_value=2**64) | st.sampled_from([0, 1, 2**53, 2**53 + 1])
OFFSETS = st.sampled_from(["Z", "+01:00", "-01:00", "+23:59", "-23:59"])


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    edge = draw(st.sampled_from(["0001-01-01T00:00:00", "9999-12-31T23:59:59",
                                 "1900-01-01T00:00:00", "8999-12-31T23:59:59", None]))
    if edge is None:
        t = T0 + timedelta(seconds=draw(st.integers(min_value=-10**9, max_value=10**9)))
        edge = t.strftime("%Y-%m-%dT%H:%M:%S")
    return edge + draw(OFFSETS)


def metric_events() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "type": st.just("metric"), "source": SOURCES, "metric": NAMES, "value": FLOATS,
        "ts": timestamps(),
    }, optional={"tags": st.dictionaries(NAMES, st.text(max_size=300), max_size=40)})


def table_events() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "type": st.just("table_update"), "source": SOURCES, "updated_at": timestamps(),
    }, optional={"row_count": INTS, "null_counts": st.dictionaries(NAMES, INTS, max_size=5),
                 "event_id": st.text(max_size=10),
                 "schema": st.lists(st.fixed_dictionaries({"name": NAMES, "type": NAMES}),
                                    max_size=4)})


def encoded(ev: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(ev)
    except (TypeError, orjson.JSONEncodeError):  # an int past 64 bits, a NaN: send it as text
        return repr(ev).encode()


def _nulls_within_rows(event: dict[str, Any]) -> bool:
    nulls: int = event["null_counts"]["c"]
    rows: int = event["row_count"]
    return nulls <= rows


def sane_events() -> st.SearchStrategy[dict[str, Any]]:
    """Mostly valid events on the configured series, with extreme values mixed in."""
    ts = st.integers(min_value=0, max_value=10**6).map(
        lambda s: (T0 + timedelta(seconds=s)).isoformat())
    value = st.floats(min_value=-1e150, max_value=1e150) | st.sampled_from(
        [0.0, 1.0, 1e150, -1e150, 1e-300])
    return st.fixed_dictionaries({
        "type": st.just("metric"), "source": st.sampled_from(["orders", "ünï/☃"]),
        "metric": st.just("v"), "value": value, "ts": ts,
    }, optional={"tags": st.dictionaries(st.sampled_from("ab"), st.sampled_from("xy"))}) | (
        st.fixed_dictionaries({
            "type": st.just("table_update"), "source": st.just("orders"), "updated_at": ts,
            "row_count": st.integers(min_value=0, max_value=2**53),
            "null_counts": st.fixed_dictionaries({"c": st.integers(min_value=0, max_value=9)}),
        }).filter(_nulls_within_rows))


RAW = (st.binary(max_size=200) | st.builds(encoded, metric_events() | table_events())
       | st.builds(encoded, sane_events()) | st.builds(encoded, sane_events()))


def drive(m: Monitor, raws: list[bytes], step: float) -> tuple[int, int]:
    """Feed every record; return (processed, rejected) and check every alert encodes."""
    processed = rejected = 0
    for i, raw in enumerate(raws):
        now = T0 + timedelta(seconds=i * step)
        try:
            event = decode_event(raw)
        except MalformedEvent as exc:
            assert exc.reason  # a dead letter always says why
            rejected += 1
            continue
        out = m.on_event(event, partition=0, kafka_ts=now, now=now)
        out.alerts += m.on_tick(now + timedelta(seconds=step / 2)).alerts
        for e in out.alerts:
            assert Alert.from_json(e.alert.to_json()) == e.alert
        for d in out.dead_letters:
            orjson.dumps(d)
        processed += 1
    return processed, rejected


def checkpoint(m: Monitor) -> dict[str, bytes | None]:
    return {key: encode(value) for _, key, value in m.take_dirty()}


@pytest.mark.req("NFR-006")
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(RAW, max_size=40), st.sampled_from([0.5, 61.0, 3600.0]))
@example(  # a daily model adopted while the seasonality race goes on: the race must survive
    [orjson.dumps({"type": "table_update", "source": "orders", "row_count": rows,
                   "null_counts": {"c": 0}, "updated_at": at})
     for rows, at in [(0, "2026-06-26T12:00:00Z"), (0, "2026-06-26T12:00:00Z"),
                      (248, "2026-06-26T12:00:00Z"), (2806, "2026-06-26T12:00:00Z"),
                      (2, "2026-06-28T13:00:23Z")]], 3600.0)
def test_any_records_are_processed_or_rejected_and_state_round_trips(
    raws: list[bytes], step: float
) -> None:
    cfg = parse_config(CONFIG, env={})
    m = Monitor(cfg)
    m.assign([0], T0)
    processed, rejected = drive(m, raws, step)
    assert processed + rejected == len(raws)
    saved = checkpoint(m)
    assert m.take_dirty() == []  # nothing changed is left unsaved
    # restarted after the last record (a last-seen time is never later than the restore)
    end = T0 + timedelta(seconds=len(raws) * step)
    restored = Monitor(cfg)
    for key, raw in saved.items():
        restored.restore(0, key, decode(raw), end)
    restored.assign([0], end)
    assert {k: encode(restored.snapshot(k)) for k in saved} == {
        k: encode(m.snapshot(k)) for k in saved}


@pytest.mark.req("NFR-006")
@settings(deadline=None)
@given(st.text(alphabet=string.printable + "\x1f☃", max_size=40),
       st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12))
def test_a_state_record_of_any_shape_is_applied_or_refused_without_damage(
    key: str, value: Any
) -> None:
    cfg = parse_config(CONFIG, env={})
    m = Monitor(cfg)
    m.assign([0], T0)
    for raw in [b'{"type":"metric","source":"orders","metric":"v","value":1,'
                b'"ts":"2026-06-26T12:00:00Z"}'] * 3:
        m.on_event(decode_event(raw), partition=0, kafka_ts=T0, now=T0)
    keys = [k for _, k, _ in m.take_dirty()]
    for candidate in (key, f"ser\x1forders\x1f{key}", f"w\x1forders\x1f{key}", "src\x1forders"):
        before = {k: encode(m.snapshot(k)) for k in keys}
        try:
            m.restore(0, candidate, value if isinstance(value, dict) else {"v": value}, T0)
        except Exception as exc:  # the changelog reader skips it with this reason
            assert isinstance(exc, DqMonitorError | ValueError | TypeError | KeyError), exc
            assert {k: encode(m.snapshot(k)) for k in keys} == before
    # whatever was accepted is usable: the monitor keeps judging and checkpointing
    m.on_event(decode_event(b'{"type":"metric","source":"orders","metric":"v","value":2,'
                            b'"ts":"2026-06-26T12:00:01Z"}'), partition=0, kafka_ts=T0, now=T0)
    m.on_tick(T0 + timedelta(hours=2))
    for _, _, v in m.take_dirty():
        encode(v)


# ----------------------------------------------------------------------------- OpenLineage

OL_CONFIG = CONFIG.replace("input_topics: [in],", "input_topics: [in], openlineage_topics: [ol],")
ANY_JSON = st.recursive(
    st.none() | st.booleans() | FLOATS | INTS | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3), max_leaves=8)


def ol_datasets() -> st.SearchStrategy[dict[str, Any]]:
    metrics = st.fixed_dictionaries({}, optional={
        "rowCount": INTS, "columnMetrics": st.dictionaries(
            NAMES, st.fixed_dictionaries({}, optional={"nullCount": INTS}), max_size=3)})
    assertions = st.fixed_dictionaries({"assertions": st.lists(st.fixed_dictionaries(
        {"assertion": NAMES, "success": st.booleans()},
        optional={"column": NAMES, "name": NAMES, "severity": st.sampled_from(["warn", "error"]),
                  "actual": ANY_JSON, "expected": ANY_JSON}), max_size=3)})
    facets = st.fixed_dictionaries({}, optional={
        "schema": st.fixed_dictionaries({"fields": st.lists(st.fixed_dictionaries(
            {"name": NAMES}, optional={"type": NAMES}), max_size=4)}),
        "dataQualityMetrics": metrics, "dataQualityAssertions": assertions,
        "other": ANY_JSON})
    return st.fixed_dictionaries({"namespace": st.sampled_from(["duckdb://x", "", "s3://b"]),
                                  "name": SOURCES},
                                 optional={"facets": facets, "inputFacets": facets,
                                           "outputFacets": st.fixed_dictionaries({
                                               "outputStatistics": st.fixed_dictionaries(
                                                   {}, optional={"rowCount": INTS})})})


def ol_events() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "eventType": st.sampled_from(["START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER",
                                      "complete", "?"]),
        "eventTime": timestamps(),
        "run": st.fixed_dictionaries({"runId": st.text(max_size=8)}),
        "job": st.fixed_dictionaries({"namespace": st.text(max_size=8),
                                      "name": st.sampled_from(["j1", "j2"])}),
    }, optional={"inputs": st.lists(ol_datasets(), max_size=3),
                 "outputs": st.lists(ol_datasets(), max_size=3)})


OL_RAW = (st.binary(max_size=200) | st.builds(encoded, ol_events())
          | st.builds(encoded, ANY_JSON) | st.builds(encoded, ol_events()))


@pytest.mark.req("NFR-006", "FR-022")
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(OL_RAW, max_size=30), st.sampled_from([0.5, 3600.0]))
def test_any_openlineage_records_are_processed_or_rejected_and_state_round_trips(
    raws: list[bytes], step: float
) -> None:
    cfg = parse_config(OL_CONFIG, env={})
    fmt = OpenLineageFormat(cfg)
    m = Monitor(cfg)
    m.assign([0], T0)
    for i, raw in enumerate(raws):
        now = T0 + timedelta(seconds=i * step)
        try:
            observations = fmt.decode(raw, 1 << 20)
        except MalformedEvent as exc:
            assert exc.reason.startswith("openlineage: ")
            continue
        out = m.on_tick(now)
        for obs in observations:
            m.on_dataset(obs, 0, now, now, out)
        out.alerts += m.on_tick(now + timedelta(seconds=step / 2)).alerts
        for e in out.alerts:
            assert Alert.from_json(e.alert.to_json()) == e.alert
    saved = checkpoint(m)
    end = T0 + timedelta(seconds=len(raws) * step)
    restored = Monitor(cfg)
    for key, value in saved.items():
        restored.restore(0, key, None if value is None else orjson.loads(value), end)
    restored.assign([0], end)
    assert {k: encode(restored.snapshot(k)) for k in saved} == {
        k: encode(m.snapshot(k)) for k in saved}
