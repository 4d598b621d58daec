"""A monitored source: its name or the glob of names it covers (FR-024), who owns it, its
checks, and how many series (NFR-005) or discovered sources it may keep."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

from pydantic import Field, model_validator

from dq_monitor.config.base import _Model
from dq_monitor.config.checks import (
    AnomalyConfig,
    CompletenessConfig,
    FreshnessConfig,
    ThresholdRule,
    anomaly_checks,
    completeness_checks,
    damping_checks,
    threshold_checks,
)
from dq_monitor.config.openlineage import (
    AssertionCheckConfig,
    RunCheckConfig,
    SchemaCheckConfig,
)
from dq_monitor.config.raw import _dict

#: FR-024: how many sources one ``match`` entry discovers when ``max_sources`` is not given.
DEFAULT_MAX_SOURCES = 10_000

_ONE_OF = "give exactly one of name (a source) or match (a glob of source names)"


class SourceConfig(_Model):
    """One ``sources`` entry: a source by ``name``, or every source whose name matches the glob
    ``match`` (discovered from its first event). A discovered source's own entry is this one
    with ``name`` set to the source's name (``SourceCatalog.lookup``)."""

    name: str | None = Field(default=None, min_length=1)
    match: str | None = Field(default=None, min_length=1)
    #: Only with ``match``: the most sources the entry discovers (default 10,000); past it a
    #: new source's events are dead-lettered (``source_cap_exceeded``).
    max_sources: int | None = Field(default=None, ge=1)
    owner: str | None = Field(default=None, min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    runbook_url: str | None = Field(default=None, pattern=r"^https?://[^\s<>|]+$")
    description: str | None = None
    upstream: list[str] = Field(default_factory=list)
    freshness: FreshnessConfig | None = None
    completeness: CompletenessConfig | None = None
    anomaly: AnomalyConfig | None = None
    #: FR-026: static bounds per metric (``row_count`` included).
    thresholds: dict[str, ThresholdRule] = Field(default_factory=dict)
    max_series: int = Field(default=10_000, ge=1)
    #: FR-023: checks fed by pipeline metadata (OpenLineage, a table update's ``schema``).
    run: RunCheckConfig = Field(default_factory=RunCheckConfig)
    assertions: AssertionCheckConfig = Field(default_factory=AssertionCheckConfig)
    schema_: SchemaCheckConfig = Field(default_factory=SchemaCheckConfig, alias="schema")

    @model_validator(mode="after")
    def _name_or_match(self) -> SourceConfig:
        if (self.name is None) == (self.match is None):
            raise ValueError(_ONE_OF)
        if self.max_sources is not None and self.match is None:
            raise ValueError("max_sources: only an entry with match discovers sources")
        return self

    @property
    def source_cap(self) -> int:
        """The most sources this ``match`` entry discovers."""
        return DEFAULT_MAX_SOURCES if self.max_sources is None else self.max_sources


class SourceCatalog:
    """Which entry applies to a source name (FR-024): its own ``name`` entry, else the first
    ``match`` entry whose glob matches, in file order.

    The decision is cached per name, so only a name's first event pays the pattern scan; names
    no entry covers are cached too, up to ``UNKNOWN_CACHE`` of them, and matched names up to
    the patterns' caps plus as many (then that cache starts over, so a stream of random names
    cannot grow either without bound).
    """

    UNKNOWN_CACHE = 65_536

    __slots__ = ("_derived", "_derived_cap", "_named", "_patterns", "_unknown")

    def __init__(self, sources: list[SourceConfig]) -> None:
        self._named = {s.name: s for s in sources if s.name is not None}
        self._patterns = [s for s in sources if s.match is not None]
        self._derived: dict[str, SourceConfig] = {}
        #: Matched names kept: every pattern's cap, and as many again as unknown names.
        self._derived_cap = sum(p.source_cap for p in self._patterns) + self.UNKNOWN_CACHE
        self._unknown: set[str] = set()

    @property
    def patterns(self) -> list[SourceConfig]:
        return self._patterns

    def lookup(self, name: str) -> SourceConfig | None:
        """The entry of source ``name`` with ``name`` set (a ``match`` entry keeps its glob in
        ``match``, which marks the source as discovered); None when no entry covers it."""
        cfg = self._named.get(name) or self._derived.get(name)
        if cfg is not None or not self._patterns or name in self._unknown:
            return cfg
        for entry in self._patterns:
            assert entry.match is not None
            if fnmatch.fnmatchcase(name, entry.match):
                if len(self._derived) >= self._derived_cap:
                    self._derived.clear()  # names matched but never monitored (past caps)
                cfg = self._derived[name] = entry.model_copy(update={"name": name})
                return cfg
        if len(self._unknown) >= self.UNKNOWN_CACHE:
            self._unknown.clear()
        self._unknown.add(name)
        return None


def source_capacity(sources: list[SourceConfig]) -> int:
    """How many sources ``sources`` can watch at once: each named one, and each pattern's cap
    (FR-024)."""
    return sum(1 if s.match is None else s.source_cap for s in sources)


def source_checks(sources: list[Any], kafka: dict[str, Any]) -> Iterator[str]:
    """The raw ``sources`` list: a name or a pattern per entry, each given once, then each
    source's checks in file order."""
    names: dict[str, int] = {}
    patterns: dict[str, int] = {}
    for i, src in enumerate(sources):
        src = _dict(src)
        name, match = src.get("name"), src.get("match")
        if ("name" in src) == ("match" in src):
            yield f"sources[{i}]: {_ONE_OF}"
        if "max_sources" in src and "match" not in src:
            yield f"sources[{i}].max_sources: only an entry with match discovers sources"
        if isinstance(name, str):
            if name in names:
                yield f"sources[{i}].name: duplicate source {name!r} (also sources[{names[name]}])"
            names.setdefault(name, i)
        if isinstance(match, str):
            if match in patterns:
                yield (f"sources[{i}].match: duplicate pattern {match!r} "
                       f"(also sources[{patterns[match]}])")
            patterns.setdefault(match, i)
        yield from anomaly_checks(_dict(src.get("anomaly")), src, kafka, f"sources[{i}].anomaly")
        yield from completeness_checks(_dict(src.get("completeness")),
                                       f"sources[{i}].completeness")
        yield from threshold_checks(_dict(src.get("thresholds")), f"sources[{i}].thresholds")
        for check in ("freshness", "completeness", "anomaly", "run", "assertions", "schema"):
            yield from damping_checks(_dict(src.get(check)), f"sources[{i}].{check}")
