"""A monitored source: its name, its checks, and how many series it may keep (NFR-005)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from dq_monitor.config.base import _Model
from dq_monitor.config.checks import (
    AnomalyConfig,
    CompletenessConfig,
    FreshnessConfig,
    anomaly_checks,
    completeness_checks,
    damping_checks,
)
from dq_monitor.config.openlineage import (
    AssertionCheckConfig,
    RunCheckConfig,
    SchemaCheckConfig,
)
from dq_monitor.config.raw import _dict


class SourceConfig(_Model):
    name: str = Field(min_length=1)
    freshness: FreshnessConfig | None = None
    completeness: CompletenessConfig | None = None
    anomaly: AnomalyConfig | None = None
    max_series: int = Field(default=10_000, ge=1)
    #: FR-023: checks fed by pipeline metadata (OpenLineage, a table update's ``schema``).
    run: RunCheckConfig = Field(default_factory=RunCheckConfig)
    assertions: AssertionCheckConfig = Field(default_factory=AssertionCheckConfig)
    schema_: SchemaCheckConfig = Field(default_factory=SchemaCheckConfig, alias="schema")


def source_checks(sources: list[Any], kafka: dict[str, Any]) -> Iterator[str]:
    """The raw ``sources`` list: names given once, then each source's checks in file order."""
    names: dict[str, int] = {}
    for i, src in enumerate(sources):
        src = _dict(src)
        name = src.get("name")
        if isinstance(name, str):
            if name in names:
                yield f"sources[{i}].name: duplicate source {name!r} (also sources[{names[name]}])"
            names.setdefault(name, i)
        yield from anomaly_checks(_dict(src.get("anomaly")), src, kafka, f"sources[{i}].anomaly")
        yield from completeness_checks(_dict(src.get("completeness")),
                                       f"sources[{i}].completeness")
        for check in ("freshness", "completeness", "anomaly", "run", "assertions", "schema"):
            yield from damping_checks(_dict(src.get(check)), f"sources[{i}].{check}")
