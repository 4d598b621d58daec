"""OpenLineage RunEvents as input (FR-022), exactly as the OpenLineage clients' Kafka transport
writes them: JSON, one event per record, keyed by job or run (never by dataset).

Only the parts read are decoded (msgspec Structs, unknown fields and facets skipped unread), so
a large event costs one C-speed pass. Bounds keep one record from costing more than that
(NFR-006): at most ``MAX_DATASETS`` datasets and ``MAX_COLUMNS`` columns, column metrics or
assertions per facet; a record past them is a dead letter naming the field. JobEvents and
DatasetEvents (no ``run``) are read and yield nothing; a record that is no OpenLineage event at
all is a ``MalformedEvent``.

Mapping (spec, "OpenLineage input"): each dataset becomes an observation of the source of its
``name`` (or ``namespace/name``); row and null counts come from ``outputStatistics`` and
``dataQualityMetrics`` (dataset facets or input facets), assertions from
``dataQualityAssertions``, the column set from the ``schema`` facet.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from dq_monitor.config import Config
from dq_monitor.errors import MalformedEvent
from dq_monitor.events import (
    MAX_COUNT,
    MAX_SCHEMA_CHARS,
    MAX_TAG_VALUE,
    MAX_VALUE,
    parse_rfc3339,
)
from dq_monitor.formats.observation import AssertionResult, DatasetObservation, Schema

#: Datasets one event may name (inputs and outputs each).
MAX_DATASETS = 1_000
#: Columns of a schema facet, columns with metrics, and assertions of one dataset.
MAX_COLUMNS = 4_096
#: Longest dataset, column or assertion name read (names are state keys and alert subjects).
MAX_NAME = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]


class _Field(msgspec.Struct, gc=False):
    name: str
    type: str | None = None


class _SchemaFacet(msgspec.Struct, gc=False):
    fields: Annotated[list[_Field], msgspec.Meta(max_length=MAX_COLUMNS)] = []


class _ColumnMetrics(msgspec.Struct, gc=False):
    nullCount: _Count | None = None  # noqa: N815 - the facet's own field name


class _Metrics(msgspec.Struct, gc=False):
    rowCount: _Count | None = None  # noqa: N815
    columnMetrics: Annotated[  # noqa: N815
        dict[str, _ColumnMetrics], msgspec.Meta(max_length=MAX_COLUMNS)] = {}


class _Assertion(msgspec.Struct):
    assertion: str
    success: bool
    column: str | None = None
    name: str | None = None
    severity: str | None = None
    actual: Any = None
    expected: Any = None


class _Assertions(msgspec.Struct):
    assertions: Annotated[list[_Assertion], msgspec.Meta(max_length=MAX_COLUMNS)] = []


class _Statistics(msgspec.Struct, gc=False):
    rowCount: _Count | None = None  # noqa: N815


class _Facets(msgspec.Struct):
    schema: _SchemaFacet | None = None
    dataQualityMetrics: _Metrics | None = None  # noqa: N815
    dataQualityAssertions: _Assertions | None = None  # noqa: N815


class _OutputFacets(msgspec.Struct, gc=False):
    outputStatistics: _Statistics | None = None  # noqa: N815


class _Dataset(msgspec.Struct):
    namespace: str
    name: str
    facets: _Facets | None = None
    inputFacets: _Facets | None = None  # noqa: N815
    outputFacets: _OutputFacets | None = None  # noqa: N815


class _Job(msgspec.Struct, gc=False):
    namespace: str
    name: str


class _Run(msgspec.Struct, gc=False):
    runId: str  # noqa: N815


_Datasets = Annotated[list[_Dataset], msgspec.Meta(max_length=MAX_DATASETS)]


class _Envelope(msgspec.Struct):
    """Any OpenLineage event: a RunEvent has ``run``, a JobEvent ``job`` only, a DatasetEvent
    ``dataset``."""

    eventTime: str | None = None  # noqa: N815
    eventType: str | None = None  # noqa: N815
    run: _Run | None = None
    job: _Job | None = None
    #: Read unparsed: only its presence matters (empty when absent).
    dataset: msgspec.Raw = msgspec.Raw(b"")
    inputs: _Datasets = []
    outputs: _Datasets = []


_DECODER = msgspec.json.Decoder(_Envelope)

#: The event types of the OpenLineage spec; any other is read as OTHER.
EVENT_TYPES = frozenset({"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"})


def _reason(exc: msgspec.DecodeError) -> str:
    """msgspec's message, its JSON path turned into the field name (``$.outputs[0].name`` →
    ``outputs[0].name``)."""
    text = str(exc)
    head, sep, path = text.rpartition(" - at `$")
    if sep:
        field = path.rstrip("`").lstrip(".") or "event"
        return f"field '{field}': {head}"
    if text.startswith("Expected `object`"):
        return "not an OpenLineage event (" + text + ")"
    return f"not valid JSON ({text})" if "malformed" in text or "truncated" in text else text


def _plain(value: str, what: str) -> str:
    if not value or len(value) > MAX_NAME or _CONTROL.search(value):
        raise MalformedEvent(f"field '{what}': must be 1 to {MAX_NAME} characters without "
                             "control characters")
    return value


def _number(value: Any) -> float | None:
    """A figure for ``observed``/``expected``: numbers, or text that reads as one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and abs(value) <= MAX_VALUE:
        return float(value)
    return None


def _assertions(facets: list[_Facets | None], where: str) -> tuple[AssertionResult, ...]:
    out: list[AssertionResult] = []
    for facet in facets:
        if facet is None or facet.dataQualityAssertions is None:
            continue
        for i, a in enumerate(facet.dataQualityAssertions.assertions):
            subject = a.name or (f"{a.assertion}({a.column})" if a.column else a.assertion)
            _plain(subject, f"{where}.dataQualityAssertions.assertions[{i}].name")
            severity: Literal["WARN", "FAIL"] = (
                "WARN" if (a.severity or "").lower() == "warn" else "FAIL")
            out.append(AssertionResult(subject, a.success, severity, _number(a.actual),
                                       _number(a.expected)))
    return tuple(out)


def _metrics(ds: _Dataset, where: str) -> tuple[int | None, dict[str, int] | None]:
    """Row count and null counts: output statistics first, then the dataset's or the input
    side's ``dataQualityMetrics``."""
    rows: int | None = None
    if ds.outputFacets is not None and ds.outputFacets.outputStatistics is not None:
        rows = ds.outputFacets.outputStatistics.rowCount
    nulls: dict[str, int] | None = None
    for facet, side in ((ds.facets, "facets"), (ds.inputFacets, "inputFacets")):
        metrics = None if facet is None else facet.dataQualityMetrics
        if metrics is None:
            continue
        if rows is None:
            rows = metrics.rowCount
        for column, m in metrics.columnMetrics.items():
            if m.nullCount is None:
                continue
            _plain(column, f"{where}.{side}.dataQualityMetrics.columnMetrics")
            if nulls is None:
                nulls = {}
            nulls.setdefault(column, m.nullCount)
    if rows is not None and nulls:
        for column, n in nulls.items():
            if n > rows:
                raise MalformedEvent(f"field '{where}.dataQualityMetrics.columnMetrics."
                                     f"{column}.nullCount': {n} exceeds the row count {rows}")
    return rows, nulls


def _schema(ds: _Dataset, where: str) -> Schema | None:
    facet = None if ds.facets is None else ds.facets.schema
    if facet is None:
        return None
    chars = 0
    for i, f in enumerate(facet.fields):
        _plain(f.name, f"{where}.facets.schema.fields[{i}].name")
        if f.type is not None and (len(f.type) > MAX_NAME or _CONTROL.search(f.type)):
            raise MalformedEvent(f"field '{where}.facets.schema.fields[{i}].type': must be at "
                                 f"most {MAX_NAME} characters without control characters")
        chars += len(f.name) + len(f.type or "")
    if chars > MAX_SCHEMA_CHARS:
        raise MalformedEvent(f"field '{where}.facets.schema.fields': names and types add up to "
                             f"{chars} characters, over the limit of {MAX_SCHEMA_CHARS}")
    return tuple((f.name, f.type or "") for f in facet.fields)


class OpenLineageFormat:
    """OpenLineage events (``kafka.openlineage_topics``) → dataset observations."""

    name = "openlineage"

    def __init__(self, config: Config | None = None) -> None:
        naming = "name" if config is None else config.openlineage.source_name
        self.qualified = naming == "namespace_name"

    def source_name(self, namespace: str, name: str) -> str:
        return f"{namespace}/{name}" if self.qualified else name

    def decode(self, raw: bytes, max_bytes: int) -> list[DatasetObservation]:
        if len(raw) > max_bytes:
            raise MalformedEvent(f"event is {len(raw)} bytes, over the {max_bytes}-byte limit")
        try:
            event = _DECODER.decode(raw)
        except msgspec.DecodeError as exc:
            raise MalformedEvent("openlineage: " + _reason(exc)) from None
        if event.run is None:
            if event.job is not None or bytes(event.dataset) not in (b"", b"null"):
                return []  # a JobEvent or a DatasetEvent: read, counted, nothing to judge
            raise MalformedEvent("openlineage: not an OpenLineage event (no 'run', 'job' or "
                                 "'dataset')")
        if event.job is None:
            raise MalformedEvent("openlineage: field 'job': missing (a RunEvent names its job)")
        for text, field in ((event.job.namespace, "job.namespace"), (event.job.name, "job.name"),
                            (event.run.runId, "run.runId")):
            if len(text) > MAX_NAME or _CONTROL.search(text) or (field == "job.name"
                                                                  and not text):
                raise MalformedEvent(f"openlineage: field '{field}': must be at most "
                                     f"{MAX_NAME} characters without control characters")
        if event.eventTime is None:
            raise MalformedEvent("openlineage: field 'eventTime': missing")
        try:
            at = parse_rfc3339(event.eventTime)
        except ValueError as exc:
            raise MalformedEvent(f"openlineage: field 'eventTime': {exc}") from None
        kind = (event.eventType or "OTHER").upper()
        if kind not in EVENT_TYPES:
            kind = "OTHER"
        job = f"{event.job.namespace}/{event.job.name}"
        run_id = event.run.runId
        try:
            return self._observations(event, kind, at, job, run_id)
        except MalformedEvent as exc:
            raise MalformedEvent("openlineage: " + exc.reason) from None

    def _observations(self, event: _Envelope, kind: str, at: datetime, job: str,
                      run_id: str) -> list[DatasetObservation]:
        out: list[DatasetObservation] = []
        run_on_inputs = not event.outputs
        inputs: list[str] = []
        for i, ds in enumerate(event.inputs):
            where = f"inputs[{i}]"
            source = self._source(ds, where)
            inputs.append(source)
            rows, nulls = _metrics(ds, where)
            # dbt-ol puts a test run's assertions in both places: the input facet wins.
            side = ds.inputFacets
            own = side is not None and side.dataQualityAssertions is not None
            out.append(DatasetObservation(
                source=source, namespace=ds.namespace, role="input", event_type=kind,
                event_time=at, job=job, run_id=run_id, run_subject=run_on_inputs,
                row_count=rows, null_counts=nulls, schema=None,
                assertions=_assertions([side if own else ds.facets], where)))
        upstream = tuple(dict.fromkeys(inputs))
        for i, ds in enumerate(event.outputs):
            where = f"outputs[{i}]"
            rows, nulls = _metrics(ds, where)
            out.append(DatasetObservation(
                source=self._source(ds, where), namespace=ds.namespace, role="output",
                event_type=kind, event_time=at, job=job, run_id=run_id, run_subject=True,
                row_count=rows, null_counts=nulls, schema=_schema(ds, where),
                assertions=_assertions([ds.facets], where), upstream=upstream))
        return out

    def _source(self, ds: _Dataset, where: str) -> str:
        _plain(ds.name, f"{where}.name")
        if len(ds.namespace) > MAX_NAME or _CONTROL.search(ds.namespace):
            raise MalformedEvent(f"field '{where}.namespace': must be at most {MAX_NAME} "
                                 "characters without control characters")
        return self.source_name(ds.namespace, ds.name)


def namespace_label(namespace: str) -> dict[str, str] | None:
    """The alert label of a dataset's namespace (left out when it could not be a label)."""
    if not namespace or len(namespace) > MAX_TAG_VALUE:
        return None
    return {"namespace": namespace}
