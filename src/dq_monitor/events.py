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
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

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
MAX_TAGS = 32
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


class TableUpdate(_Event):
    """A table was (re)written: feeds freshness, completeness and the ``row_count`` series."""

    type: Literal["table_update"]
    source: Name
    updated_at: Timestamp
    row_count: Count | None = None
    null_counts: dict[Name, Count] | None = None
    event_id: str | None = None

    @model_validator(mode="after")
    def _nulls_within_rows(self) -> TableUpdate:
        if self.row_count is not None and self.null_counts:
            for column, nulls in self.null_counts.items():
                if nulls > self.row_count:
                    raise ValueError(
                        f"null_counts.{column} ({nulls}) exceeds row_count ({self.row_count})"
                    )
        return self


class Metric(_Event):
    """One observation of a metric series (FR-002, FR-005)."""

    type: Literal["metric"]
    source: Name
    metric: Name
    value: FiniteFloat
    ts: Timestamp
    tags: Tags | None = None


Event = Annotated[TableUpdate | Metric, Field(discriminator="type")]
_EVENT = TypeAdapter(Event)


class Alert(BaseModel):
    """The alert event on the alert topic (FR-006); record key = ``fingerprint``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_id: str
    fingerprint: str
    check: Literal["freshness", "completeness", "anomaly"]
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

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

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


def decode_event(raw: bytes, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> TableUpdate | Metric:
    """Decode one Kafka record value; raise ``MalformedEvent`` with a reason naming the field."""
    if len(raw) > max_bytes:
        raise MalformedEvent(f"event is {len(raw)} bytes, over the {max_bytes}-byte limit")
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
        return _EVENT.validate_python(data)
    except ValidationError as exc:
        raise MalformedEvent(_reason(exc)) from None
