"""What the monitor remembers about one source, owned by one input partition.

A source's events share a record key, so they land on one partition number; everything derived
from them (freshness clock, anomaly series, alert machines) lives here and moves with that
partition. Alert machines exist only for subjects that have been non-OK, so a healthy series
costs its window and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from dq_monitor.checks.verdict import Verdict
from dq_monitor.config import SourceConfig, ThresholdRule
from dq_monitor.formats.observation import Schema
from dq_monitor.state.shared import Shared

if TYPE_CHECKING:
    from dq_monitor.alerts.machine import AlertMachine
    from dq_monitor.checks.anomaly import SeriesState
    from dq_monitor.state.lineage import Edge


@dataclass(slots=True)
class Watch:
    """An alert machine and the last verdict it saw (re-observed by timers and sweeps)."""

    machine: AlertMachine
    verdict: Verdict


@dataclass(slots=True)
class SourceState:
    config: SourceConfig
    partition: int
    watching_since: datetime
    #: Newest ``updated_at`` seen, clamped to the time it was received (a clock running ahead
    #: cannot postpone an alert).
    last_updated: datetime | None = None
    series: dict[str, SeriesState] = field(default_factory=dict)
    watches: dict[str, Watch] = field(default_factory=dict)
    series_rejected: int = 0
    #: Series evicted after ``series_ttl`` without a value (NFR-008), since this state began.
    series_evicted: int = 0
    #: When the next eviction scan of its series is due (the oldest one's last value plus the
    #: TTL); None: at the next sweep.
    evict_check: datetime | None = None
    #: The freshness deadline currently on the scheduler's heap, if any (one per source keeps
    #: the heap small however often the source updates).
    fresh_armed: datetime | None = None
    #: FR-023: the last schema seen (the ``schema`` check's baseline), kept in the changelog.
    schema: Schema | None = None
    #: Labels every alert of the source carries: ``namespace`` of its OpenLineage dataset.
    labels: dict[str, str] | None = None
    #: Lineage (``state.lineage``): the sources its runs read, by name.
    upstream: dict[str, Edge] = field(default_factory=dict)
    #: The metrics its anomaly check watches, as a set: looked up once per metric event.
    monitored: frozenset[str] = field(init=False)
    #: FR-026: its static thresholds by metric (empty, and so false, when it has none).
    limits: dict[str, ThresholdRule] = field(init=False)
    #: The source's name (its entry's ``name``; for a source discovered by a pattern, the
    #: name its events carry).
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.reconfigure(self.config)

    def reconfigure(self, config: SourceConfig) -> None:
        """Judge by ``config`` (its resolved entry) from now on (FR-025: a reload)."""
        assert config.name is not None, "a source's state needs its resolved entry"
        self.config = config
        anomaly = config.anomaly
        self.monitored = _metric_set(() if anomaly is None else tuple(anomaly.metrics))
        self.limits = config.thresholds
        self.name = config.name

    def saw_update(self, updated_at: datetime, received_at: datetime) -> None:
        at = min(updated_at, received_at)
        if self.last_updated is None or at > self.last_updated:
            self.last_updated = at


#: ``metrics`` as a set shared by every source that watches the same ones: a fleet of sources
#: configured alike holds one, not one each (NFR-005: some 700 bytes a source).
_metric_set: Shared[tuple[str, ...], frozenset[str]] = Shared(frozenset)
