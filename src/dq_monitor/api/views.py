"""FR-019 response bodies of the operator API, and how each is built from what an instance holds.

The models are the contract: ``dq-monitor schemas`` writes one JSON Schema per response into
``schemas/``. Firing alerts come from the deployment-wide view of the alert topic; per-source
state comes from the sources this instance owns (a source owned by another instance is listed
with ``owned: false`` and the checks the alert topic says are firing for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from dq_monitor.acks import Ack, AckBook
from dq_monitor.api.firing import FiringView
from dq_monitor.config import CheckKind, Config, SeverityName
from dq_monitor.events import Alert, Timestamp
from dq_monitor.routing.inhibit import Inhibitor
from dq_monitor.silence import SilenceSet, SilenceView
from dq_monitor.telemetry import ChannelDelivery

if TYPE_CHECKING:  # the router-only process never loads the monitor core
    from dq_monitor.monitor import Monitor

VerdictName = Literal["PENDING", "OK", "WARN", "FAIL"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FiringAlert(_Out):
    fingerprint: str
    alert_id: str
    check: CheckKind
    source: str
    subject: str | None
    severity: SeverityName
    #: When the episode began firing (its first firing alert's event time).
    since: Timestamp
    observed: float | None
    expected: float | None
    detail: str
    #: Ids of the silences holding its deliveries now (empty: it pages).
    silenced_by: list[str]
    #: FR-027: the fingerprint of the firing alert that inhibits it (a rule of
    #: ``routing.inhibit``, or a stale source upstream of its own), or null.
    inhibited_by: str | None = None
    #: FR-027: the acknowledgement that stops its reminders, or null.
    acknowledged: Ack | None = None


class AlertsResponse(_Out):
    """``GET /api/v1/alerts``: every alert firing in the deployment."""

    instance: str
    generated_at: Timestamp
    alerts: list[FiringAlert]


class CheckState(_Out):
    check: CheckKind
    subject: str | None
    #: The latest verdict (``OK`` for a check with nothing wrong on any subject).
    verdict: VerdictName
    #: The severity alerting now, or null.
    firing: SeverityName | None
    detail: str | None


class SourceStatus(_Out):
    name: str
    #: Whether this instance holds the source's state (else another instance does).
    owned: bool
    last_update: Timestamp | None
    staleness_s: float | None
    max_staleness_s: float | None
    checks: list[CheckState]


class ChannelBacklog(_Out):
    """NFR-002: one channel's deliveries waiting on this instance's router."""

    channel: str
    #: Alerts not delivered yet (``dq_channel_backlog``).
    backlog: int
    #: Seconds since the oldest of them was triggered (null: none waits).
    delivery_age_s: float | None
    #: The channel fell behind: it reads the alert topic at its own, older position.
    behind: bool


class SourcesResponse(_Out):
    """``GET /api/v1/sources``: every configured source, and each channel's delivery backlog."""

    instance: str
    generated_at: Timestamp
    #: Input partitions this instance owns.
    partitions: list[int]
    sources: list[SourceStatus]
    #: Channels this instance's router delivers to (empty without a router).
    deliveries: list[ChannelBacklog] = []


class LineageEdge(_Out):
    """A run of ``job`` read ``upstream`` to write ``downstream`` (FR-022, for FR-027)."""

    upstream: str
    downstream: str
    job: str
    last_seen: Timestamp


class LineageResponse(_Out):
    """``GET /api/v1/lineage``: the edges learned from OpenLineage runs for the monitored
    sources whose state this instance holds (each instance answers for its partitions)."""

    instance: str
    generated_at: Timestamp
    partitions: list[int]
    edges: list[LineageEdge]


def lineage_view(instance: str, monitor: Monitor | None, now: datetime) -> LineageResponse:
    owned = monitor.sources if monitor is not None else {}
    edges = [LineageEdge(upstream=up, downstream=name, job=edge.job, last_seen=edge.last_seen)
             for name, src in sorted(owned.items())
             for up, edge in sorted(src.upstream.items())]
    return LineageResponse(instance=instance, generated_at=now,
                           partitions=sorted(monitor.owned) if monitor is not None else [],
                           edges=edges)


class SilencesResponse(_Out):
    """``GET /api/v1/silences``: pending and active silences (``?expired`` adds recent ones)."""

    silences: list[SilenceView]


class ApiError(_Out):
    """The body of every 4xx/5xx answer."""

    error: str


class ReloadDone(_Out):
    """FR-025: ``POST /-/reload`` applied the file."""

    result: Literal["ok"]
    config_hash: str
    loaded_at: datetime


class ReloadRefused(ApiError):
    """FR-025: the file was not applied; every error by path."""

    errors: list[str]


def alerts_view(instance: str, firing: FiringView, silences: SilenceSet,
                now: datetime, inhibitor: Inhibitor | None = None,
                acks: AckBook | None = None) -> AlertsResponse:
    def inhibited(alert: Alert) -> str | None:
        by = None if inhibitor is None else inhibitor.inhibited_by(alert)
        return None if by is None else by.fingerprint

    return AlertsResponse(instance=instance, generated_at=now, alerts=[
        FiringAlert(
            fingerprint=f.alert.fingerprint, alert_id=f.alert.alert_id, check=f.alert.check,
            source=f.alert.source, subject=f.alert.subject, severity=f.alert.severity,
            since=f.since, observed=f.alert.observed, expected=f.alert.expected,
            detail=f.alert.detail,
            silenced_by=[s.id for s in silences.silencing(f.alert, now)],
            inhibited_by=inhibited(f.alert),
            acknowledged=None if acks is None else acks.covering(f.alert))
        for f in firing.firing()])


def sources_view(instance: str, config: Config, monitor: Monitor | None, firing: FiringView,
                 now: datetime, deliveries: Sequence[ChannelDelivery] = ()) -> SourcesResponse:
    owned = monitor.sources if monitor is not None else {}
    firing_by_source: dict[str, list[CheckState]] = {}
    for f in firing.firing():
        firing_by_source.setdefault(f.alert.source, []).append(CheckState(
            check=f.alert.check, subject=f.alert.subject, verdict=f.alert.severity,
            firing=f.alert.severity, detail=f.alert.detail))
    out: list[SourceStatus] = []
    # FR-024: the named sources in file order, then those this instance discovered by a pattern
    entries = [(cfg.name, cfg) for cfg in config.sources if cfg.name is not None]
    entries += sorted((name, s.config) for name, s in owned.items()
                      if s.config.match is not None and name not in config.sources_by_name)
    for name, cfg in entries:
        kinds: tuple[tuple[CheckKind, object], ...] = (
            ("freshness", cfg.freshness), ("completeness", cfg.completeness),
            ("anomaly", cfg.anomaly), ("threshold", cfg.thresholds or None))
        configured = [kind for kind, on in kinds if on is not None]
        max_staleness = cfg.freshness.max_staleness if cfg.freshness else None
        state = owned.get(name)
        if state is None:
            out.append(SourceStatus(name=name, owned=False, last_update=None,
                                    staleness_s=None, max_staleness_s=max_staleness,
                                    checks=_with_ok(configured,
                                                    firing_by_source.get(name, []))))
            continue
        checks: list[CheckState] = []
        for _, watch in sorted(state.watches.items()):
            machine = watch.machine.firing
            checks.append(CheckState(
                check=watch.verdict.check, subject=watch.verdict.subject,
                verdict=watch.verdict.severity.value,
                firing=None if machine is None else machine.value,
                detail=watch.verdict.detail))
        last = state.last_updated
        out.append(SourceStatus(
            name=name, owned=True, last_update=last,
            staleness_s=None if last is None else max(0.0, (now - last).total_seconds()),
            max_staleness_s=max_staleness, checks=_with_ok(configured, checks)))
    return SourcesResponse(instance=instance, generated_at=now,
                           partitions=sorted(monitor.owned) if monitor is not None else [],
                           sources=out, deliveries=[
                               ChannelBacklog(channel=d.channel, backlog=d.backlog,
                                              delivery_age_s=d.age_s, behind=d.behind)
                               for d in deliveries])


def _with_ok(configured: list[CheckKind], checks: list[CheckState]) -> list[CheckState]:
    """A configured check with nothing to report on any subject is shown once, as OK."""
    seen = {c.check for c in checks}
    return checks + [CheckState(check=kind, subject=None, verdict="OK", firing=None, detail=None)
                     for kind in configured if kind not in seen]


def silences_view(silences: SilenceSet, now: datetime, *, expired: bool) -> SilencesResponse:
    return SilencesResponse(silences=[SilenceView.of(s, now)
                                      for s in silences.listing(now, expired=expired)])
