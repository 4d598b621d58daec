"""FR-028: one merged window → what the source's checks are fed, through the same core as
every other input: a table update (freshness, completeness, ``row_count``, schema), the
metrics ``records``, ``records.malformed`` and ``<field>.mean|min|max``, and at most one dead
letter summarising the window's malformed records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dq_monitor.events import TableUpdate, format_rfc3339
from dq_monitor.observe.profile import Profile, type_name

RECORDS_METRIC = "records"
MALFORMED_METRIC = "records.malformed"


@dataclass(frozen=True, slots=True)
class WindowObservation:
    update: TableUpdate
    #: (metric, value) in a fixed order.
    metrics: list[tuple[str, float]]
    dead_letter: dict[str, Any] | None


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def observe_window(source: str, topic: str, start_ms: int, window_ms: int, merged: Profile,
                   fields: list[str] | None) -> WindowObservation:
    """The observation of one complete window. Null counts are over the profiled records,
    scaled to all records when ``sample`` < 1; a named field never present counts as null in
    every record and is absent from the schema (a removed field)."""
    end = start_ms + window_ms
    newest = merged.newest_ms if merged.newest_ms > 0 else end - 1
    nulls: dict[str, int] | None = None
    schema: tuple[tuple[str, str], ...] | None = None
    if merged.profiled:
        names = fields if fields is not None else sorted(merged.types)
        scale = merged.records / merged.profiled
        nulls = {name: min(merged.records,
                           round((merged.profiled - merged.filled.get(name, 0)) * scale))
                 for name in names}
        schema = tuple((name, type_name(merged.types[name]))
                       for name in sorted(merged.types))
    update = TableUpdate(type="table_update", source=source, updated_at=_at(newest),
                         row_count=merged.records, null_counts=nulls, schema=schema)
    metrics: list[tuple[str, float]] = [(RECORDS_METRIC, float(merged.records)),
                                        (MALFORMED_METRIC, float(merged.malformed))]
    for name in sorted(merged.numbers):
        count, total, low, high = merged.numbers[name]
        metrics += [(f"{name}.mean", total / count), (f"{name}.min", low),
                    (f"{name}.max", high)]
    dead = None
    if merged.malformed:
        dead = {"kind": "malformed_records", "source": source, "topic": topic,
                "window_start": format_rfc3339(_at(start_ms)),
                "window_end": format_rfc3339(_at(end)), "count": merged.malformed,
                "reason": f"{merged.malformed} record(s) of {topic} in this window are not "
                          "JSON objects; counted in records.malformed",
                "first": None if merged.bad is None else
                {"partition": merged.bad[0], "offset": merged.bad[1], "reason": merged.bad[2]},
                "timestamp": format_rfc3339(_at(end))}
    return WindowObservation(update, metrics, dead)
