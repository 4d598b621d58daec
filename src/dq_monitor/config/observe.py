"""FR-028: the ``observe`` section, data topics whose records dq-monitor profiles itself.

Each entry names a topic of JSON records a pipeline writes; per tumbling window of record time
its records become one table update, one schema and a few metrics of ``source``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import Field

from dq_monitor.config.base import _Model
from dq_monitor.config.durations import Duration, PositiveDuration
from dq_monitor.config.raw import _dict, _list, _seconds

#: Longest dotted path profiled, and the most fields one entry may name.
MAX_FIELD_PATH = 256
MAX_FIELDS = 256
_FIELD = r"^[^.\s\x00-\x1f\x7f]+(\.[^.\s\x00-\x1f\x7f]+)*$"


class ObserveConfig(_Model):
    """One ``observe`` entry: a topic of JSON objects and how it is profiled."""

    topic: str = Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")
    #: The source its observations feed; the topic name when not given.
    source: str | None = Field(default=None, min_length=1, max_length=512)
    #: Tumbling windows of record time (the Kafka timestamp).
    window: PositiveDuration = "1m"  # type: ignore[assignment]
    #: How long after its end a window still takes late records.
    grace: Duration = "10s"  # type: ignore[assignment]
    #: Dotted paths profiled; None: every top-level field of each record.
    fields: (Annotated[list[Annotated[str, Field(max_length=MAX_FIELD_PATH, pattern=_FIELD)]],
                       Field(min_length=1, max_length=MAX_FIELDS)] | None) = None
    #: Share of records profiled (null counts, schema, numeric metrics); volume, freshness
    #: and malformed records always count every record.
    sample: float = Field(default=1.0, gt=0.0, le=1.0)

    @property
    def source_name(self) -> str:
        return self.source or self.topic

    @property
    def window_ms(self) -> int:
        return max(1, round(self.window * 1000))

    @property
    def grace_ms(self) -> int:
        return round(self.grace * 1000)


def observe_checks(observe: list[Any], kafka: dict[str, Any]) -> Iterator[str]:
    """The raw ``observe`` section: a topic observed once and in no other input format, one
    source fed by one topic, fields named once, a grace no longer than a day."""
    inputs = {t for key in ("input_topics", "openlineage_topics")
              for t in _list(kafka.get(key)) if isinstance(t, str)}
    topics: dict[str, int] = {}
    sources: dict[str, int] = {}
    for i, entry in enumerate(observe):
        entry = _dict(entry)
        topic = entry.get("topic")
        if not isinstance(topic, str):
            continue
        if topic in inputs:
            yield (f"observe[{i}].topic: topic {topic!r} is also an input topic in kafka; a "
                   "topic carries one input format")
        if topic in topics:
            yield (f"observe[{i}].topic: topic {topic!r} is already observed by "
                   f"observe[{topics[topic]}]")
        topics.setdefault(topic, i)
        source = entry.get("source", topic)
        if isinstance(source, str):
            if source in sources:
                yield (f"observe[{i}].source: source {source!r} is already fed by "
                       f"observe[{sources[source]}]; one observed topic per source")
            sources.setdefault(source, i)
        fields = [f for f in _list(entry.get("fields")) if isinstance(f, str)]
        for j, f in enumerate(fields):
            if f in fields[:j]:
                yield f"observe[{i}].fields[{j}]: field {f!r} is named twice"
        grace = _seconds(entry.get("grace", "10s"))
        if grace is not None and grace > 86400:
            yield f"observe[{i}].grace: at most 24h (a window stays in memory that long)"
