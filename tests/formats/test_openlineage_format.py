"""The OpenLineage input format: what it reads, what it skips, what it dead-letters and why
(FR-022, NFR-006)."""

from __future__ import annotations

import orjson
import pytest

from dq_monitor.errors import MalformedEvent
from dq_monitor.events import DEFAULT_MAX_EVENT_BYTES
from dq_monitor.formats import FORMATS, NativeFormat, OpenLineageFormat
from tests.openlineage_events import dataset, raw, run_event

FMT = OpenLineageFormat()


def reason(body: bytes, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> str:
    with pytest.raises(MalformedEvent) as info:
        FMT.decode(body, max_bytes)
    return info.value.reason


@pytest.mark.req("FR-022")
def test_the_registry_holds_one_line_per_format() -> None:
    assert set(FORMATS) == {"native", "openlineage"}
    assert isinstance(FORMATS["openlineage"](None), OpenLineageFormat)  # type: ignore[arg-type]
    native = NativeFormat()
    [event] = native.decode(b'{"type":"metric","source":"s","metric":"m","value":1,'
                            b'"ts":"2026-06-26T12:00:00Z"}', 1024)
    assert isinstance(event, tuple) and event[0] == "s"


@pytest.mark.req("FR-022")
def test_a_run_event_names_each_dataset_with_its_figures_and_edges() -> None:
    event = run_event("COMPLETE", 5, inputs=[dataset("shop.main.customers")], outputs=[
        dataset("shop.main.orders", rows=10, nulls={"id": 1}, schema=[("id", "INTEGER")])])
    inp, out = FMT.decode(raw(event), DEFAULT_MAX_EVENT_BYTES)
    assert (inp.source, inp.role, inp.run_subject) == ("shop.main.customers", "input", False)
    assert (out.source, out.role, out.event_type, out.job) == (
        "shop.main.orders", "output", "COMPLETE", "dbt/shop.orders")
    assert (out.row_count, out.null_counts, out.schema) == (10, {"id": 1}, (("id", "INTEGER"),))
    assert out.upstream == ("shop.main.customers",)


@pytest.mark.req("FR-022")
def test_job_and_dataset_events_are_read_and_yield_nothing() -> None:
    job_event = {"eventTime": "2026-06-26T12:00:00Z", "job": {"namespace": "n", "name": "j"},
                 "inputs": [], "outputs": [dataset("shop.main.orders")],
                 "producer": "p", "schemaURL": "https://openlineage.io/spec/2-0-2/"
                 "OpenLineage.json#/$defs/JobEvent"}
    dataset_event = {"eventTime": "2026-06-26T12:00:00Z", "dataset": dataset("x"),
                     "producer": "p", "schemaURL": "s"}
    assert FMT.decode(raw(job_event), DEFAULT_MAX_EVENT_BYTES) == []
    assert FMT.decode(raw(dataset_event), DEFAULT_MAX_EVENT_BYTES) == []


@pytest.mark.req("FR-022", "NFR-006", "FR-012")
def test_malformed_records_are_refused_with_a_reason_naming_the_field() -> None:
    assert "not valid JSON" in reason(b"{not json")
    assert "not an OpenLineage event" in reason(b"[1, 2]")
    assert "not an OpenLineage event" in reason(b'{"type": "table_update"}')
    no_time = run_event("COMPLETE", 1)
    del no_time["eventTime"]
    assert reason(raw(no_time)) == "openlineage: field 'eventTime': missing"
    bad_time = {**run_event("COMPLETE", 1), "eventTime": "yesterday"}
    assert "field 'eventTime'" in reason(raw(bad_time))
    no_job = run_event("COMPLETE", 1)
    del no_job["job"]
    assert "field 'job': missing" in reason(raw(no_job))
    bad_count = run_event("COMPLETE", 1, outputs=[dataset("t", rows=-1)])
    assert "outputs[0].facets.dataQualityMetrics.rowCount" in reason(raw(bad_count))
    nulls_over_rows = run_event("COMPLETE", 1, outputs=[dataset("t", rows=1, nulls={"c": 2})])
    assert "nullCount': 2 exceeds the row count 1" in reason(raw(nulls_over_rows))
    control = run_event("COMPLETE", 1, outputs=[dataset("t\x01")])
    assert "outputs[0].name" in reason(raw(control))


@pytest.mark.req("FR-022", "NFR-006")
def test_an_event_over_the_size_limit_is_refused_by_size() -> None:
    big = raw(run_event("COMPLETE", 1, outputs=[dataset("t", schema=[
        (f"column_{i:07d}_" + "x" * 200, "VARCHAR") for i in range(45_000)])]))
    assert len(big) > 10 * 1024 * 1024
    assert reason(big).startswith(f"event is {len(big)} bytes, over the")


@pytest.mark.req("FR-022", "NFR-006")
def test_ten_thousand_columns_are_refused_with_a_reason() -> None:
    wide = raw(run_event("COMPLETE", 1, outputs=[dataset("t", schema=[
        (f"c{i}", "INTEGER") for i in range(10_000)])]))
    assert len(wide) < DEFAULT_MAX_EVENT_BYTES
    text = reason(wide)
    assert "outputs[0].facets.schema.fields" in text and "4096" in text
    many_metrics = raw(run_event("COMPLETE", 1, outputs=[dataset("t", rows=10, nulls={
        f"c{i}": 0 for i in range(10_000)})]))
    assert "columnMetrics" in reason(many_metrics)


@pytest.mark.req("FR-022", "NFR-006")
def test_a_200_kb_event_with_500_columns_is_read_whole() -> None:
    cols = [(f"column_{i}_" + "d" * 300, "VARCHAR(255)") for i in range(500)]
    event = run_event("COMPLETE", 1, outputs=[dataset("t", schema=cols, rows=10, nulls={
        c: 0 for c, _ in cols})])
    body = raw(event)
    assert len(body) > 200_000
    [obs] = FMT.decode(body, DEFAULT_MAX_EVENT_BYTES)
    assert obs.schema is not None and len(obs.schema) == 500
    assert obs.null_counts is not None and len(obs.null_counts) == 500


@pytest.mark.req("FR-022")
def test_unknown_event_types_and_unknown_facets_are_tolerated() -> None:
    event = run_event("SOMETHING_NEW", 1, outputs=[dataset("t")])
    event["run"]["facets"] = {"whatever": {"deep": [1, 2, {"x": None}]}}
    [obs] = FMT.decode(orjson.dumps(event), DEFAULT_MAX_EVENT_BYTES)
    assert obs.event_type == "OTHER"


@pytest.mark.req("FR-022", "NFR-006")
def test_names_that_would_bloat_state_or_alerts_are_refused() -> None:
    long_job = run_event("COMPLETE", 1, job="j" * 600, outputs=[dataset("t")])
    assert "field 'job.name'" in reason(raw(long_job))
    long_type = run_event("COMPLETE", 1, outputs=[dataset("t", schema=[("c", "T" * 600)])])
    assert "fields[0].type" in reason(raw(long_type))
    heavy = run_event("COMPLETE", 1, outputs=[dataset("t", schema=[
        (f"c{i:04d}" + "n" * 300, "S" * 300) for i in range(500)])])
    assert "over the limit of 262144" in reason(raw(heavy))
