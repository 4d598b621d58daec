"""Wire models: the spec's examples decode; every kind of bad input is one clear rejection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dq_monitor.errors import MalformedEvent
from dq_monitor.events import Alert, Metric, TableUpdate, decode_event, format_rfc3339

TABLE_UPDATE = (
    b'{"type": "table_update", "source": "warehouse.orders",'
    b' "updated_at": "2026-06-26T11:58:00Z", "row_count": 120345,'
    b' "null_counts": {"customer_id": 12, "amount": 0}, "event_id": "optional"}'
)
METRIC = (
    b'{"type": "metric", "source": "warehouse.orders", "metric": "revenue_usd",'
    b' "value": 1234.5, "ts": "2026-06-26T11:58:00Z", "tags": {"region": "eu"}}'
)


@pytest.mark.req("FR-001")
def test_spec_table_update_decodes() -> None:
    ev = decode_event(TABLE_UPDATE)
    assert isinstance(ev, TableUpdate)
    assert ev.updated_at == datetime(2026, 6, 26, 11, 58, tzinfo=UTC)
    assert ev.row_count == 120345
    assert ev.null_counts == {"customer_id": 12, "amount": 0}


@pytest.mark.req("FR-002")
def test_spec_metric_decodes() -> None:
    ev = decode_event(METRIC)
    assert isinstance(ev, Metric)
    assert (ev.metric, ev.value, ev.tags) == ("revenue_usd", 1234.5, {"region": "eu"})


@pytest.mark.req("FR-001")
def test_optional_fields_and_offsets() -> None:
    ev = decode_event(
        b'{"type":"table_update","source":"s","updated_at":"2026-06-26T13:58:00.123456789+02:00"}'
    )
    assert isinstance(ev, TableUpdate)
    assert ev.row_count is None and ev.null_counts is None
    assert ev.updated_at == datetime(2026, 6, 26, 11, 58, 0, 123456, tzinfo=UTC)
    assert ev.updated_at.utcoffset() == timedelta(hours=2)


@pytest.mark.req("FR-002")
def test_unknown_extra_fields_are_ignored() -> None:
    ev = decode_event(METRIC[:-1] + b', "producer": "etl-7"}')
    assert isinstance(ev, Metric)


BAD = [
    (b"not json", "not valid JSON"),
    (b"\xff\xfe{}", "not valid UTF-8"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"source": "s"}', "field 'type': missing"),
    (b'{"type": "log", "source": "s"}', "field 'type': unknown event type"),
    (b'{"type": "metric", "source": "s", "metric": "m", "ts": "2026-06-26T11:58:00Z"}',
     "field 'value': missing"),
    (b'{"type": "metric", "source": "s", "value": 1, "ts": "2026-06-26T11:58:00Z"}',
     "field 'metric': missing"),
    (b'{"type": "metric", "source": "s", "metric": "m", "value": "3",'
     b' "ts": "2026-06-26T11:58:00Z"}', "field 'value': must be a number"),
    (b'{"type": "metric", "source": "s", "metric": "m", "value": NaN,'
     b' "ts": "2026-06-26T11:58:00Z"}', "not valid JSON"),
    (b'{"type": "metric", "source": "s", "metric": "m", "value": 1e999,'
     b' "ts": "2026-06-26T11:58:00Z"}', "not valid JSON"),
    (b'{"type": "metric", "source": "s", "metric": "m", "value": true,'
     b' "ts": "2026-06-26T11:58:00Z"}', "field 'value': must be a number"),
    (b'{"type": "metric", "source": "s", "metric": "m", "value": 1,'
     b' "ts": "2026-06-26T11:58:00"}', "field 'ts': must be an RFC 3339 timestamp"),
    (b'{"type": "metric", "source": "s", "metric": "m", "value": 1, "ts": 1750939080}',
     "field 'ts'"),
    (b'{"type": "table_update", "source": "s", "updated_at": "2026-06-26T11:58:00Z",'
     b' "row_count": -1}', "field 'row_count': must be a non-negative integer"),
    (b'{"type": "table_update", "source": "s", "updated_at": "2026-06-26T11:58:00Z",'
     b' "row_count": 3, "null_counts": {"c": 5}}', "null_counts.c (5) exceeds row_count (3)"),
    (b'{"type": "table_update", "source": "", "updated_at": "2026-06-26T11:58:00Z"}',
     "field 'source'"),
    (b'{"type": "table_update", "source": "s", "updated_at": "2026-13-40T11:58:00Z"}',
     "field 'updated_at'"),
]


@pytest.mark.req("FR-012")
@pytest.mark.parametrize(("raw", "reason"), BAD)
def test_malformed_events_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent) as info:
        decode_event(raw)
    assert reason in info.value.reason


@pytest.mark.req("FR-012")
def test_oversized_events_are_rejected() -> None:
    big = METRIC[:-1] + b', "pad": "' + b"x" * 2000 + b'"}'
    with pytest.raises(MalformedEvent, match="over the 1024-byte limit"):
        decode_event(big, max_bytes=1024)
    assert isinstance(decode_event(big, max_bytes=4096), Metric)


@pytest.mark.req("FR-012")
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_another_error(raw: bytes) -> None:
    try:
        decode_event(raw)
    except MalformedEvent as exc:
        assert exc.reason


@pytest.mark.req("FR-006")
def test_alert_round_trips_in_the_spec_format() -> None:
    alert = Alert(
        alert_id="7d8c1c2e-7f7a-4b8e-9e3f-0b6c0d1f2a3b", fingerprint="ab12", check="freshness",
        source="warehouse.orders", subject=None, severity="FAIL", status="firing",
        observed=90.0, expected=60.0, detail="stale", requirement="FR-003",
        event_time=datetime(2026, 6, 26, 11, 58, tzinfo=timezone(timedelta(hours=2))),
        detected_at=datetime(2026, 6, 26, 12, 0, tzinfo=UTC),
    )
    body = orjson.loads(alert.to_json())
    assert list(body) == [
        "alert_id", "fingerprint", "check", "source", "subject", "severity", "status",
        "observed", "expected", "detail", "requirement", "event_time", "detected_at",
    ]
    assert body["event_time"] == "2026-06-26T09:58:00.000Z"
    assert Alert.from_json(alert.to_json()) == alert
    assert format_rfc3339(alert.detected_at) == "2026-06-26T12:00:00.000Z"



def _metric(**over: object) -> bytes:
    base: dict[str, object] = {"type": "metric", "source": "s", "metric": "m", "value": 1.0,
                               "ts": "2026-06-26T11:58:00Z"}
    return orjson.dumps({**base, **over})


@pytest.mark.req("NFR-006")
@pytest.mark.parametrize(("over", "field"), [
    ({"value": 1.7e308}, "value"),
    ({"value": -1.7e308}, "value"),
    ({"ts": "0001-01-01T00:00:00+01:00"}, "ts"),
    ({"ts": "9999-12-31T23:59:59-01:00"}, "ts"),
    ({"ts": "1899-12-31T23:59:59Z"}, "ts"),
    ({"source": "a\x1fb"}, "source"),
    ({"metric": "m\n"}, "metric"),
    ({"tags": {f"k{i}": "v" for i in range(33)}}, "tags"),
    ({"tags": {"k": "v" * 257}}, "tags"),
    ({"tags": {"k\x00": "v"}}, "tags"),
])
def test_values_that_cannot_be_held_safely_are_rejected_by_field(
    over: dict[str, object], field: str
) -> None:
    with pytest.raises(MalformedEvent) as err:
        decode_event(_metric(**over))
    assert err.value.reason.startswith(f"field '{field}'"), err.value.reason


@pytest.mark.req("NFR-006")
def test_counts_beyond_exact_float_range_are_rejected() -> None:
    raw = orjson.dumps({"type": "table_update", "source": "s",
                        "updated_at": "2026-06-26T11:58:00Z", "row_count": 2**53 + 1})
    with pytest.raises(MalformedEvent, match="field 'row_count'"):
        decode_event(raw)


@pytest.mark.req("NFR-006")
def test_the_edges_of_the_accepted_ranges_decode() -> None:
    ev = decode_event(_metric(value=1e150, ts="8999-12-31T23:59:59Z",
                              tags={f"k{i}": "v" * 256 for i in range(32)}))
    low = decode_event(_metric(value=-1e150, ts="1900-01-01T00:00:00Z"))
    assert isinstance(ev, Metric) and isinstance(low, Metric)
    assert (ev.value, low.value) == (1e150, -1e150)
