"""Wire models: the two input events and the alert event, exactly as the spec's contract.

Decoding is strict where silence would mislead an on-call reader: only finite numbers, RFC 3339
timestamps that carry an offset, a known ``type``, and a size limit.

NFR-006: everything a decoded event carries into state, alerts and checkpoints is representable
by construction, so no later arithmetic or serialisation can fail on it. Metric values lie within
±``MAX_VALUE`` (so squares and window sums stay finite), counts within ``MAX_COUNT`` (exact as a
float), timestamps between ``MIN_TIME`` and ``MAX_TIME`` (so deadlines added to them stay in
range), names and tags hold no control characters (they are parts of state keys) and tag maps
are bounded. Unknown extra fields are
ignored so producers can add fields without breaking the monitor. Every rejection is one
``MalformedEvent`` whose reason names the field.

NFR-003: the pydantic models are the reference (rules, reason texts, JSON Schemas); the hot path
decodes into msgspec Structs and accepts an event only where quick checks show the models would
accept it with the same values, and hands everything else to the models. The one difference is
that unknown fields are skipped unread, so a number in one that no double can hold no longer
rejects the event.
"""

from __future__ import annotations

import copy
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
import msgspec.structs
import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import CoreSchema

from dq_monitor.errors import MalformedEvent

#: Default upper bound on one encoded input event.
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
#: Largest metric magnitude accepted: its square, summed over any window, stays finite.
MAX_VALUE = 1e150
#: Largest row or null count accepted: every integer up to it is exact as a float (2**53).
MAX_COUNT = 2**53
#: Timestamps outside [MIN_TIME, MAX_TIME) are rejected: years of headroom on both sides.
MIN_TIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9000, 1, 1, tzinfo=UTC)
_MIN_YEAR, _MAX_YEAR = MIN_TIME.year, MAX_TIME.year
assert datetime(_MIN_YEAR, 1, 1, tzinfo=UTC) == MIN_TIME
assert datetime(_MAX_YEAR, 1, 1, tzinfo=UTC) == MAX_TIME
MAX_TAGS = 32
#: Columns a table update's ``schema`` may list (FR-023), and the characters of all its names
#: and types together: a schema is kept in the source's state record, which must stay writable.
MAX_SCHEMA_COLUMNS = 4096
MAX_SCHEMA_CHARS = 256 * 1024
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339(value: object) -> datetime:
    """Parse an RFC 3339 timestamp with a mandatory offset; naive or loose forms are rejected."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp must carry a UTC offset")
        return value
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string")
    m = _RFC3339.match(value)
    if m is None:
        raise ValueError(
            "must be an RFC 3339 timestamp with an offset, e.g. 2026-06-26T11:58:00Z"
        )
    date, time, frac, offset = m.groups()
    # Python keeps microseconds: finer digits are dropped; 'z'/'t' are accepted in any case.
    text = f"{date}T{time}{(frac or '')[:7]}{'Z' if offset in 'Zz' else offset}"
    try:
        parsed = datetime.fromisoformat(text)
        in_range = MIN_TIME <= parsed < MAX_TIME
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"is not a valid date/time ({exc})") from None
    if not in_range:
        raise ValueError("is outside the accepted range 1900-01-01T00:00:00Z to "
                         "9000-01-01T00:00:00Z")
    return parsed


def format_rfc3339(value: datetime) -> str:
    """Render in UTC with millisecond precision and a ``Z`` suffix."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _finite(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    try:
        f = float(value)
    except OverflowError:
        raise ValueError(f"must be within ±{MAX_VALUE:g}") from None
    if not math.isfinite(f):
        raise ValueError("must be a finite number")
    if abs(f) > MAX_VALUE:
        raise ValueError(f"must be within ±{MAX_VALUE:g} (larger values cannot be judged)")
    return f


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a non-negative integer")
    if value < 0:
        raise ValueError("must be a non-negative integer")
    if value > MAX_COUNT:
        raise ValueError(f"must be at most {MAX_COUNT}")
    return value


def _plain(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _tags(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("must be an object of string values")
    if len(value) > MAX_TAGS:
        raise ValueError(f"has {len(value)} tags, over the limit of {MAX_TAGS}")
    for k, v in value.items():
        if not isinstance(v, str):
            raise ValueError(f"tag {k!r} must be a string")
        if len(k) > MAX_TAG_KEY or len(v) > MAX_TAG_VALUE:
            raise ValueError(f"tag {k[:40]!r}: keys are limited to {MAX_TAG_KEY} characters "
                             f"and values to {MAX_TAG_VALUE}")
        if _CONTROL.search(k) or _CONTROL.search(v):
            raise ValueError(f"tag {k[:40]!r} must not contain control characters")
    return value


Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_rfc3339),
    PlainSerializer(format_rfc3339, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
FiniteFloat = Annotated[float, BeforeValidator(_finite), WithJsonSchema({"type": "number"})]
Count = Annotated[int, BeforeValidator(_count), WithJsonSchema({"type": "integer", "minimum": 0})]
Name = Annotated[str, BeforeValidator(_plain), Field(min_length=1, max_length=512)]
Tags = Annotated[dict[str, str], BeforeValidator(_tags)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class _ColumnModel(_Event):
    """One column of a table update's ``schema`` (FR-023)."""

    model_config = ConfigDict(title="Column")

    name: Name
    type: Annotated[str, BeforeValidator(_plain), Field(max_length=512)]


def _columns(value: object) -> object:
    """``[{"name": ..., "type": ...}, ...]`` as (name, type) pairs, once each is valid."""
    if isinstance(value, list | tuple):
        if len(value) > MAX_SCHEMA_COLUMNS:
            raise ValueError(f"has {len(value)} columns, over the limit of {MAX_SCHEMA_COLUMNS}")
        chars = sum(len(str(c.get("name", ""))) + len(str(c.get("type", "")))
                    for c in value if isinstance(c, dict))
        if chars > MAX_SCHEMA_CHARS:
            raise ValueError(f"names and types add up to {chars} characters, over the limit "
                             f"of {MAX_SCHEMA_CHARS}")
    return value


def _pairs(value: list[_ColumnModel] | None) -> tuple[tuple[str, str], ...] | None:
    return None if value is None else tuple((c.name, c.type) for c in value)


class _TableUpdateModel(_Event):
    """A table was (re)written: feeds freshness, completeness and the ``row_count`` series."""

    model_config = ConfigDict(title="TableUpdate", populate_by_name=True)

    type: Literal["table_update"]
    source: Name
    updated_at: Timestamp
    row_count: Count | None = None
    null_counts: dict[Name, Count] | None = None
    event_id: str | None = None
    #: FR-023: the table's columns, for the ``schema`` check.
    schema_: Annotated[list[_ColumnModel] | None, BeforeValidator(_columns)] = Field(
        default=None, alias="schema")

    @property
    def columns(self) -> tuple[tuple[str, str], ...] | None:
        return _pairs(self.schema_)

    @model_validator(mode="after")
    def _nulls_within_rows(self) -> _TableUpdateModel:
        if self.row_count is not None and self.null_counts:
            for column, nulls in self.null_counts.items():
                if nulls > self.row_count:
                    raise ValueError(
                        f"null_counts.{column} ({nulls}) exceeds row_count ({self.row_count})"
                    )
        return self


class _MetricModel(_Event):
    """One observation of a metric series (FR-002, FR-005)."""

    model_config = ConfigDict(title="Metric")

    type: Literal["metric"]
    source: Name
    metric: Name
    value: FiniteFloat
    ts: Timestamp
    tags: Tags | None = None


_EventModel = Annotated[_TableUpdateModel | _MetricModel, Field(discriminator="type")]
_EVENT = TypeAdapter(_EventModel)

# ----------------------------------------------------------------------------- the lean path
#
# The pydantic models above are the reference: they define the JSON Schemas and every rule and
# reason text. The hot path decodes with msgspec Structs instead (NFR-003) and checks the same
# rules with cheap tests that only ever *accept* what the models accept, with the same values;
# anything else (unusual forms, rejections) is handed to the models, so reasons are unchanged.

def _fast_stamp(text: str) -> datetime | None:
    """The common ``YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z`` form, exactly as ``parse_rfc3339``
    reads it; None for any other form (``parse_rfc3339`` then decides).

    The separators are checked at their places, so ``fromisoformat`` (which also reads week
    dates and basic formats) can only read this one layout, where it accepts ASCII digits only.
    """
    n = len(text)
    if not ((n == 20 or ((n == 24 or n == 27) and text[19] == ".")) and text[n - 1] == "Z"
            and text[4:17:3] == "--T::" and text.isascii()):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    # The year is the range check: MIN_TIME and MAX_TIME both fall on 1 January 00:00Z.
    return parsed if _MIN_YEAR <= parsed.year < _MAX_YEAR else None


def _is_name(value: object) -> bool:
    return (type(value) is str and 0 < len(value) <= 512
            and (value.isprintable() or _CONTROL.search(value) is None))


def _schema_fits(schema: object) -> bool:
    """(name, type) pairs of printable strings within their limits."""
    return (type(schema) is tuple and len(schema) <= MAX_SCHEMA_COLUMNS and all(
        type(c) is tuple and len(c) == 2 and _is_name(c[0]) and type(c[1]) is str
        and len(c[1]) <= 512 and (c[1] == "" or c[1].isprintable()) for c in schema)
        and sum(len(n) + len(t) for n, t in schema) <= MAX_SCHEMA_CHARS)


def _is_count(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_COUNT


def _printable(tags: dict[str, str]) -> bool:
    """Keys and values are strings within their limits and printable (so free of control
    characters: any other tag map takes the reference path, which judges it exactly)."""
    if len(tags) > MAX_TAGS:
        return False
    for k, v in tags.items():
        if (len(k) > MAX_TAG_KEY or len(v) > MAX_TAG_VALUE or not k.isprintable()
                or not v.isprintable()):
            return False
    return True


def _settle(event: msgspec.Struct, model: type[BaseModel]) -> None:
    """Validate ``event`` by ``model`` (raising its ``ValidationError``, a ``ValueError``) and
    store the normalised values: the path for every event the quick checks did not accept."""
    fields = {name: getattr(event, name) for name in event.__struct_fields__}
    if fields.get("schema") is not None:  # (name, type) pairs back to the wire's objects
        fields["schema"] = [c if isinstance(c, dict) else {"name": c[0], "type": c[1]}
                            for c in fields["schema"]]
    valid = model.model_validate(fields)
    for name in event.__struct_fields__:
        value = valid.columns if name == "schema" else getattr(valid, name)  # type: ignore[attr-defined]
        msgspec.structs.force_setattr(event, name, value)


class TableUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """A table was (re)written: feeds freshness, completeness and the ``row_count`` series."""

    type: Literal["table_update"]
    source: str
    updated_at: datetime
    row_count: int | None = None
    null_counts: dict[str, int] | None = None
    event_id: str | None = None
    #: FR-023: the table's columns as (name, type) pairs, for the ``schema`` check.
    schema: tuple[tuple[str, str], ...] | None = None

    def __post_init__(self) -> None:
        at: object = self.updated_at
        if type(at) is str and (fast := _fast_stamp(at)) is not None:
            msgspec.structs.force_setattr(self, "updated_at", fast)
            at = fast
        rows, nulls = self.row_count, self.null_counts
        if not (self.type == "table_update" and _is_name(self.source)
                and isinstance(at, datetime) and at.tzinfo is not None
                and (rows is None or _is_count(rows))
                and (self.event_id is None or type(self.event_id) is str)
                and (self.schema is None or _schema_fits(self.schema))
                and (nulls is None or (type(nulls) is dict and all(
                    _is_name(c) and _is_count(n) and (rows is None or n <= rows)
                    for c, n in nulls.items())))):
            _settle(self, _TableUpdateModel)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler
                                     ) -> CoreSchema:
        return handler(_TableUpdateModel)


class Metric(msgspec.Struct, frozen=True, kw_only=True):
    """One observation of a metric series (FR-002, FR-005)."""

    type: Literal["metric"]
    source: str
    metric: str
    value: float
    ts: datetime
    tags: dict[str, str] | None = None

    def __post_init__(self) -> None:
        ts: object = self.ts
        if ts.__class__ is str:
            fast = _fast_stamp(ts)
            if fast is not None:
                msgspec.structs.force_setattr(self, "ts", fast)
                ts = fast
        value, source, metric, tags = self.value, self.source, self.metric, self.tags
        # A tag that is not a string fails ``len`` or ``isprintable``: the reference path then
        # judges it like any other event the quick checks do not accept.
        try:
            if (value.__class__ is float and -MAX_VALUE <= value <= MAX_VALUE
                    and self.type == "metric" and ts.__class__ is datetime
                    and ts.tzinfo is not None
                    and source.__class__ is str and 0 < len(source) <= 512
                    and source.isprintable()
                    and metric.__class__ is str and 0 < len(metric) <= 512
                    and metric.isprintable()
                    and (tags is None or (tags.__class__ is dict and _printable(tags)))):
                return
        except (TypeError, AttributeError):
            pass
        _settle(self, _MetricModel)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler
                                     ) -> CoreSchema:
        return handler(_MetricModel)


Event = TableUpdate | Metric

# Wire shapes: msgspec checks JSON, types, the tag and every length and range at C speed;
# timestamps stay text until the event's own checks read them. A record outside these limits
# fails here and takes the reference path, which rejects it with its reason.
_Rows = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
_WireName = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
_WireValue = Annotated[float, msgspec.Meta(ge=-MAX_VALUE, le=MAX_VALUE)]
_WireTags = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=MAX_TAG_KEY)],
         Annotated[str, msgspec.Meta(max_length=MAX_TAG_VALUE)]],
    msgspec.Meta(max_length=MAX_TAGS),
]


class _ColumnWire(msgspec.Struct, gc=False):
    name: _WireName
    type: Annotated[str, msgspec.Meta(max_length=512)]


class _TableUpdateWire(msgspec.Struct, tag_field="type", tag="table_update", gc=False):
    source: _WireName
    updated_at: str
    row_count: _Rows | None = None
    null_counts: dict[_WireName, _Rows] | None = None
    event_id: str | None = None
    schema: Annotated[list[_ColumnWire], msgspec.Meta(max_length=MAX_SCHEMA_COLUMNS)] | None = None


class _MetricWire(msgspec.Struct, tag_field="type", tag="metric", gc=False):
    source: _WireName
    metric: _WireName
    value: _WireValue
    ts: str
    tags: _WireTags | None = None


_WIRE = msgspec.json.Decoder(_TableUpdateWire | _MetricWire)


class Alert(BaseModel):
    """The alert event on the alert topic (FR-006); record key = ``fingerprint``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_id: str
    fingerprint: str
    check: Literal[
        "freshness", "completeness", "anomaly", "threshold", "run", "assertion", "schema"
    ]
    source: str
    subject: str | None
    severity: Literal["WARN", "FAIL"]
    status: Literal["firing", "resolved"]
    observed: float | None
    expected: float | None
    detail: str
    requirement: str
    event_time: Timestamp
    detected_at: Timestamp
    #: FR-024: who owns the source, its labels and runbook; absent (not null) when unset, so
    #: consumers written before these fields existed see the same events as before.
    owner: str | None = None
    labels: dict[str, str] | None = None
    runbook_url: str | None = None

    def wire(self) -> dict[str, Any]:
        """The alert as JSON-ready data, exactly as on the alert topic: what
        ``model_dump(mode="json", exclude_defaults=True)`` gives, in the same key order, built
        by hand because it runs for every alert published (NFR-003: the dump was most of the
        publishing cost; a test holds the two equal)."""
        out: dict[str, Any] = {
            "alert_id": self.alert_id, "fingerprint": self.fingerprint, "check": self.check,
            "source": self.source, "subject": self.subject, "severity": self.severity,
            "status": self.status, "observed": self.observed, "expected": self.expected,
            "detail": self.detail, "requirement": self.requirement,
            "event_time": format_rfc3339(self.event_time),
            "detected_at": format_rfc3339(self.detected_at),
        }
        if self.owner is not None:
            out["owner"] = self.owner
        if self.labels is not None:
            out["labels"] = dict(self.labels)
        if self.runbook_url is not None:
            out["runbook_url"] = self.runbook_url
        return out

    def to_json(self) -> bytes:
        """The alert record's value on the alert topic."""
        return orjson.dumps(self.wire())

    @classmethod
    def from_json(cls, raw: bytes) -> Alert:
        return cls.model_validate_json(raw)


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] in ("table_update", "metric"):
            loc = loc[1:]  # the union tag pydantic puts first is not a field
        kind = err["type"]
        if kind == "union_tag_invalid":
            parts.append("field 'type': unknown event type (expected 'table_update' or 'metric')")
            continue
        if kind == "union_tag_not_found":
            parts.append("field 'type': missing")
            continue
        field = ".".join(loc) or "event"
        msg = err["msg"].removeprefix("Value error, ")
        if kind == "missing":
            msg = "missing"
        parts.append(f"field '{field}': {msg}")
    return "; ".join(parts)


#: A decoded metric event as its fields: source, metric, value, ts, tags.
MetricFields = tuple[str, str, float, datetime, dict[str, str] | None]


def decode_event(raw: bytes, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> TableUpdate | Metric:
    """Decode one Kafka record value; raise ``MalformedEvent`` with a reason naming the field."""
    event = decode_lean(raw, max_bytes)
    if isinstance(event, tuple):
        source, metric, value, ts, tags = event
        return Metric(type="metric", source=source, metric=metric, value=value, ts=ts,
                      tags=tags)
    return event


def decode_lean(raw: bytes, max_bytes: int = DEFAULT_MAX_EVENT_BYTES
                ) -> TableUpdate | MetricFields:
    """``decode_event`` for the hot path (NFR-003): the same acceptance, rejections and values,
    but a metric event comes back as its ``MetricFields`` instead of a ``Metric``, so the checks
    a ``Metric`` built in code runs are not run a second time."""
    if len(raw) > max_bytes:
        raise MalformedEvent(f"event is {len(raw)} bytes, over the {max_bytes}-byte limit")
    try:
        # msgspec skips ignored fields without reading their strings: bad UTF-8 anywhere is
        # found here, and such a record takes the reference path (which rejects it).
        if raw.isascii() or _utf8(raw):
            wire = _WIRE.decode(raw)
            if isinstance(wire, _MetricWire):
                # Lengths, counts and the value's range were checked by the wire shape; what
                # is left is that names are printable and the timestamp's form (as in
                # ``_fast_stamp``, inline: it runs once per event).
                source, metric, tags, text = wire.source, wire.metric, wire.tags, wire.ts
                n = len(text)
                if ((n == 20 or ((n == 24 or n == 27) and text[19] == "."))
                        and text[n - 1] == "Z" and text[4:17:3] == "--T::" and text.isascii()
                        and source.isprintable() and metric.isprintable()):
                    printable = True
                    if tags is not None:
                        for k, v in tags.items():
                            if not (k.isprintable() and v.isprintable()):
                                printable = False
                                break
                    if printable:
                        ts = datetime.fromisoformat(text)
                        if _MIN_YEAR <= ts.year < _MAX_YEAR:
                            return (source, metric, wire.value, ts, tags)
            else:
                source, rows, nulls = wire.source, wire.row_count, wire.null_counts
                at = _fast_stamp(wire.updated_at)
                columns = wire.schema
                schema = None if columns is None else tuple((c.name, c.type) for c in columns)
                if at is not None and source.isprintable() and (
                        nulls is None or _nulls_fit(nulls, rows)) and (
                        schema is None or _schema_fits(schema)):
                    return _checked_table_update(source, at, rows, nulls, wire.event_id,
                                                 schema)
    except (msgspec.DecodeError, ValueError):
        pass
    event = _decode_reference(raw)
    if isinstance(event, Metric):
        return (event.source, event.metric, event.value, event.ts, event.tags)
    return event


def _nulls_fit(nulls: dict[str, int], rows: int | None) -> bool:
    """Column names printable and no null count above the row count (names' lengths and the
    counts' range were checked by the wire shape)."""
    for column, n in nulls.items():
        if not column.isprintable() or (rows is not None and n > rows):
            return False
    return True


#: Copied for each table update the lean decoder accepted: a copy does not run
#: ``__post_init__``, whose checks the decoder has already made.
_TABLE_UPDATE = TableUpdate(type="table_update", source="-", updated_at=MIN_TIME)


def _checked_table_update(source: str, at: datetime, rows: int | None,
                          nulls: dict[str, int] | None, event_id: str | None,
                          schema: tuple[tuple[str, str], ...] | None = None) -> TableUpdate:
    event = copy.copy(_TABLE_UPDATE)
    force = msgspec.structs.force_setattr
    force(event, "source", source)
    force(event, "updated_at", at)
    if rows is not None:
        force(event, "row_count", rows)
    if nulls is not None:
        force(event, "null_counts", nulls)
    if event_id is not None:
        force(event, "event_id", event_id)
    if schema is not None:
        force(event, "schema", schema)
    return event


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except (UnicodeDecodeError, AttributeError):
        return False
    return True


def _decode_reference(raw: bytes) -> TableUpdate | Metric:
    """The pydantic path: every rule, and the reason naming the field when one fails."""
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if isinstance(raw, bytes):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedEvent("not valid UTF-8") from None
        raise MalformedEvent(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MalformedEvent(f"event must be a JSON object, got {type(data).__name__}")
    try:
        model = _EVENT.validate_python(data)
    except ValidationError as exc:
        raise MalformedEvent(_reason(exc)) from None
    if isinstance(model, _MetricModel):
        return Metric(type="metric", source=model.source, metric=model.metric,
                      value=model.value, ts=model.ts, tags=model.tags)
    return TableUpdate(type="table_update", source=model.source, updated_at=model.updated_at,
                       row_count=model.row_count, null_counts=model.null_counts,
                       event_id=model.event_id, schema=model.columns)
