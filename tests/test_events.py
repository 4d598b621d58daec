"""Wire models: the spec's examples decode; every kind of bad input is one clear rejection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dq_monitor import events
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


# ----------------------------------------------------------------------------- the lean path

_STAMPS = st.sampled_from([
    "2026-06-26T11:58:00Z", "2026-06-26T11:58:00.123Z", "2026-06-26T11:58:00.123456Z",
    "2026-06-26T11:58:00.123456789Z", "2026-06-26t11:58:00z", "2026-06-26 11:58:00Z",
    "2026-06-26T13:58:00+02:00", "2026-06-26T11:58:00", "2026-06-26T11:58:00+0200",
    "2026-W26-5T11:58:00Z", "2026-06-26T115800.1Z", "2026-06-26T11:58:00,123Z",
    "1899-12-31T23:59:59Z", "1900-01-01T00:00:00Z", "8999-12-31T23:59:59.999999Z",
    "9000-01-01T00:00:00Z", "2026-02-30T11:58:00Z", "2026-06-26T24:00:00Z",
    "２026-06-26T11:58:00Z", "2026-06-26T11:58:0a.123Z", "",
]) | st.text(alphabet="0123456789-:TZ.+ ", max_size=28)
_TEXT = st.text(max_size=6) | st.sampled_from(["", "a\x1fb", "m\n", "x" * 513, "☃", "\x7f"])
_NUMBERS = (st.floats() | st.integers(min_value=-2**64, max_value=2**64)
            | st.sampled_from([1e150, -1e150, 1.0000001e150, 2**53, 2**53 + 1, True, "3", None]))
_TAGS = st.none() | st.dictionaries(_TEXT | st.just("k" * 129), _TEXT | st.just("v" * 257)
                                    | st.integers(), max_size=34)


@st.composite
def _stamp_variants(draw: st.DrawFn) -> str:
    """A valid timestamp with one character replaced, inserted or removed, or a known oddity."""
    text = draw(st.sampled_from(["2026-06-26T11:58:00Z", "2026-06-26T11:58:00.123Z",
                                 "2026-06-26T11:58:00.123456Z"]))
    i = draw(st.integers(min_value=0, max_value=len(text)))
    c = draw(st.sampled_from("0189-:.TtZz +,W\x00٣"))
    edit = draw(st.sampled_from(["replace", "insert", "delete", "keep"]))
    if edit == "replace":
        text = text[:i] + c + text[i + 1:]
    elif edit == "insert":
        text = text[:i] + c + text[i:]
    elif edit == "delete":
        text = text[:i] + text[i + 1:]
    return text


_BASE: dict[str, dict[str, object]] = {
    "metric": {"type": "metric", "source": "s", "metric": "m", "value": 1.5,
               "ts": "2026-06-26T11:58:00Z", "tags": {"k": "v"}},
    "table_update": {"type": "table_update", "source": "s", "updated_at": "2026-06-26T11:58:00Z",
                     "row_count": 10, "null_counts": {"c": 1}, "event_id": "e"},
}
_FIELD_VALUES: dict[str, st.SearchStrategy[object]] = {
    "type": st.sampled_from(["metric", "table_update", "log", 1, None]),
    "source": _TEXT, "metric": _TEXT, "value": _NUMBERS, "row_count": _NUMBERS,
    "ts": _STAMPS | _stamp_variants(), "updated_at": _STAMPS | _stamp_variants(),
    "tags": _TAGS, "null_counts": st.none() | st.dictionaries(_TEXT, _NUMBERS, max_size=3),
    "event_id": _TEXT | _NUMBERS, "extra": _NUMBERS | _TEXT,
}


@st.composite
def _wire_event(draw: st.DrawFn) -> dict[str, object]:
    """A valid event with one to three fields replaced by tricky values (or dropped)."""
    event = dict(_BASE[draw(st.sampled_from(sorted(_BASE)))])
    for name in draw(st.lists(st.sampled_from(sorted(_FIELD_VALUES)), min_size=1, max_size=3)):
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            event.pop(name, None)
        else:
            event[name] = draw(_FIELD_VALUES[name])
    return event


def _outcome(decode: object, raw: bytes) -> tuple[object, ...]:
    try:
        ev = decode(raw)  # type: ignore[operator]
    except MalformedEvent as exc:
        return ("rejected", exc.reason)
    return ("accepted", type(ev).__name__, msgspec.structs.asdict(ev))


def _lean_outcome(raw: bytes) -> tuple[object, ...]:
    """What ``decode_lean`` (the hot path's decoder, which gives a metric as its fields) says,
    in the form ``_outcome`` gives for a decoded event."""
    try:
        ev = events.decode_lean(raw)
    except MalformedEvent as exc:
        return ("rejected", exc.reason)
    if isinstance(ev, tuple):
        source, metric, value, ts, tags = ev
        return ("accepted", "Metric", {"type": "metric", "source": source, "metric": metric,
                                       "value": value, "ts": ts, "tags": tags})
    return ("accepted", type(ev).__name__, msgspec.structs.asdict(ev))


@pytest.mark.req("NFR-003", "NFR-006")
@settings(max_examples=1500, deadline=None)
@given(_wire_event() | st.binary(max_size=80).map(lambda b: {"type": "metric", "source": b.hex()}))
def test_the_lean_decoder_accepts_and_rejects_exactly_as_the_reference_models(
    event: dict[str, object]
) -> None:
    try:
        raw = orjson.dumps(event)
    except TypeError:  # an integer beyond 64 bits: written as JSON text by hand
        raw = repr(event).replace("'", '"').replace("None", "null").replace(
            "True", "true").encode()
    reference = _outcome(events._decode_reference, raw)
    assert _outcome(decode_event, raw) == reference
    assert _lean_outcome(raw) == reference


@pytest.mark.req("NFR-003", "NFR-006")
@pytest.mark.parametrize("raw", [
    b'{"type":"metric","source":"s","metric":"m","value":1,"ts":"2026-06-26T11:58:00Z",'
    b'"note":"\xed\xa0\x80"}',
    b'{"type":"metric","source":"s","metric":"m","value":1,"ts":"2026-06-26T11:58:00Z",'
    b'"note":"\xff"}',
    b'{"type":"metric","type":"table_update","source":"s","updated_at":"2026-06-26T11:58:00Z"}',
    b'{"type":"metric","source":"s","metric":"m","value":1e999,"ts":"2026-06-26T11:58:00Z"}',
    b'{"type":"metric","source":"s","metric":"m","value":1,"ts":"2026-06-26T11:58:00Z"}\x00',
])
def test_the_lean_decoder_leaves_the_odd_records_to_the_reference(raw: bytes) -> None:
    assert _outcome(decode_event, raw) == _outcome(events._decode_reference, raw)


@pytest.mark.req("NFR-006")
def test_events_built_in_code_are_checked_and_normalised_like_decoded_ones() -> None:
    ev = Metric(type="metric", source="s", metric="m", value=3,
                ts="2026-06-26T13:58:00.123456789+02:00")  # type: ignore[arg-type]
    assert ev.value == 3.0 and type(ev.value) is float
    assert ev.ts == datetime(2026, 6, 26, 11, 58, 0, 123456, tzinfo=UTC)
    with pytest.raises(ValueError, match="value"):
        Metric(type="metric", source="s", metric="m", value=1e200, ts=datetime.now(UTC))
    with pytest.raises(ValueError, match="updated_at"):
        TableUpdate(type="table_update", source="s", updated_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="exceeds row_count"):
        TableUpdate(type="table_update", source="s", updated_at=datetime.now(UTC),
                    row_count=1, null_counts={"c": 2})


@pytest.mark.req("NFR-003", "FR-012")
def test_an_unknown_field_is_skipped_unread() -> None:
    # Unknown fields are ignored (FR-002): the lean decoder does not even read their numbers,
    # so one that no double can hold (valid JSON, but beyond orjson) no longer rejects the event.
    raw = (b'{"type":"metric","source":"s","metric":"m","value":1,'
           b'"ts":"2026-06-26T11:58:00Z","note":1e999}')
    assert isinstance(decode_event(raw), Metric)


@pytest.mark.req("FR-023", "NFR-006")
def test_a_table_update_schema_is_read_as_pairs_and_bounded() -> None:
    base = {"type": "table_update", "source": "s", "updated_at": "2026-06-26T12:00:00Z"}
    event = decode_event(orjson.dumps({**base, "schema": [{"name": "id", "type": "bigint"}]}))
    assert isinstance(event, TableUpdate) and event.schema == (("id", "bigint"),)
    slow = decode_event(orjson.dumps({**base, "updated_at": "2026-06-26T13:00:00+01:00",
                                      "schema": [{"name": "id", "type": "bigint"}]}))
    assert isinstance(slow, TableUpdate) and slow.schema == (("id", "bigint"),)
    with pytest.raises(MalformedEvent, match=r"field 'schema\.0\.type': missing"):
        decode_event(orjson.dumps({**base, "schema": [{"name": "id"}]}))
    wide = [{"name": f"c{i}", "type": "int"} for i in range(5000)]
    with pytest.raises(MalformedEvent, match="5000 columns, over the limit of 4096"):
        decode_event(orjson.dumps({**base, "schema": wide}), max_bytes=1 << 22)
    heavy = [{"name": f"c{i:04d}" + "n" * 300, "type": "t" * 300} for i in range(500)]
    with pytest.raises(MalformedEvent, match="over the limit of 262144"):
        decode_event(orjson.dumps({**base, "schema": heavy}), max_bytes=1 << 22)


# --------------------------------------------------------------------------- the alert's bytes

_ALERT_SCHEMA = orjson.loads(
    (Path(__file__).resolve().parents[1] / "schemas" / "alert.schema.json").read_bytes())
_text = st.text(max_size=40)  # any code point: quotes, control characters, emoji, U+2028
_figure = st.none() | st.floats() | st.integers(-(2**53), 2**53) | st.sampled_from(
    [0.0, -0.0, 1e16, 1e-7, 1.5e300, 123456789012345678.0, 5e-324])
_moment = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(8999, 12, 30),
                       timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                  timezone(timedelta(hours=-8))]))


@st.composite
def _alerts(draw: st.DrawFn) -> Alert:
    fields: dict[str, object] = {
        "alert_id": draw(_text), "fingerprint": draw(_text),
        "check": draw(st.sampled_from(["freshness", "completeness", "anomaly", "threshold", "run",
                                       "assertion", "schema"])),
        "source": draw(_text), "subject": draw(st.none() | _text),
        "severity": draw(st.sampled_from(["WARN", "FAIL"])),
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "observed": draw(_figure), "expected": draw(_figure), "detail": draw(_text),
        "requirement": draw(_text), "event_time": draw(_moment), "detected_at": draw(_moment),
    }
    for optional, value in (("owner", st.none() | _text),
                            ("labels", st.none() | st.dictionaries(_text, _text, max_size=3)),
                            ("runbook_url", st.none() | _text)):
        if draw(st.booleans()):  # given (possibly as null), or left out
            fields[optional] = draw(value)
    return Alert(**fields)


@pytest.mark.req("NFR-003", "FR-006", "FR-024")
@settings(max_examples=200, deadline=None)
@given(_alerts())
def test_alert_bytes_are_the_models_and_the_schema_accepts_them(alert: Alert) -> None:
    """The alert record is encoded without pydantic, byte for byte as the model dumps it."""
    reference = orjson.dumps(alert.model_dump(mode="json", exclude_defaults=True))
    assert alert.to_json() == reference
    assert alert.wire() == alert.model_dump(mode="json", exclude_defaults=True)
    jsonschema.validate(orjson.loads(alert.to_json()), _ALERT_SCHEMA)


@pytest.mark.req("NFR-003", "FR-006")
def test_encoding_an_alert_does_no_pydantic_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    alert = Alert(alert_id="a", fingerprint="f", check="anomaly", source="s", subject=None,
                  severity="WARN", status="firing", observed=2, expected=1.0, detail="d",
                  requirement="FR-005", event_time=datetime(2026, 1, 1, tzinfo=UTC),
                  detected_at=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), labels={})

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("model_dump called on the publishing path")

    monkeypatch.setattr(Alert, "model_dump", refuse)
    assert alert.to_json() == (
        b'{"alert_id":"a","fingerprint":"f","check":"anomaly","source":"s","subject":null,'
        b'"severity":"WARN","status":"firing","observed":2.0,"expected":1.0,"detail":"d",'
        b'"requirement":"FR-005","event_time":"2026-01-01T00:00:00.000Z",'
        b'"detected_at":"2026-01-01T00:00:01.000Z","labels":{}}')
