"""The event dispatcher, sans I/O: one decoded event → the checks it feeds → verdicts.

Per event the work is decode (done by the adapter), look up, update, compare: the source's
state is found by name, the series by its precomputed key, and a check is asked for a verdict
only when the answer could change an alert. A healthy value of a series with no alert state
(the common case) builds nothing. Verdicts go to the core's ``judge``, which owns the alert
machines, the timers and the changed-state set.
"""

from __future__ import annotations

from datetime import datetime
from sys import intern
from typing import TYPE_CHECKING

from dq_monitor.checks.anomaly import (
    AnomalyResult,
    SeriesState,
    evaluate,
    evaluate_quiet,
    evaluate_robust,
    series_key,
)
from dq_monitor.checks.assertion import evaluate_assertion
from dq_monitor.checks.completeness import ROW_COUNT_SUBJECT, evaluate_completeness
from dq_monitor.checks.run import evaluate_run
from dq_monitor.checks.schema import evaluate_schema
from dq_monitor.checks.threshold import breach, verdict
from dq_monitor.checks.verdict import OK
from dq_monitor.config import ThresholdRule
from dq_monitor.events import Metric, TableUpdate, format_rfc3339
from dq_monitor.formats.observation import DatasetObservation, Schema
from dq_monitor.formats.openlineage import namespace_label
from dq_monitor.monitor.outcome import Outcome
from dq_monitor.state import lineage
from dq_monitor.state.sources import SourceState

if TYPE_CHECKING:
    from dq_monitor.monitor.core import Monitor

ROW_COUNT_METRIC = "row_count"
#: Separates the parts of state keys (unit separator: never part of a source or series name).
SEP = "\x1f"
#: The ``stats`` counter of each event type (built once, not per event).
EVENT_STAT = {"table_update": "events.table_update", "metric": "events.metric"}


def watch_key(check: str, subject: str | None) -> str:
    """The key of one alert state of a source: its check and subject."""
    return f"{check}{SEP}{subject or ''}"


class EventDispatcher:
    """Routes each event of ``core``'s sources to its checks; one per ``Monitor``."""

    __slots__ = ("core",)

    def __init__(self, core: Monitor) -> None:
        self.core = core

    def on_event(
        self, event: TableUpdate | Metric, partition: int, kafka_ts: datetime, now: datetime,
        out: Outcome | None = None,
    ) -> Outcome:
        """Judge one event; what it causes is added to ``out`` (a new ``Outcome`` by default:
        the Kafka adapter passes one per batch, so an event that changes nothing allocates
        nothing) and returned."""
        if out is None:
            out = Outcome()
        if isinstance(event, Metric):
            self.on_metric(event.source, event.metric, event.value, event.ts, event.tags,
                           partition, kafka_ts, now, out)
            return out
        core = self.core
        core.stats["events.table_update"] += 1
        src = core.sources.get(event.source)
        if src is None:
            src = self._new_source(event.source, partition, now, out)
            if src is None:
                return out
        src.partition = partition
        self._table_update(src, event, kafka_ts, now, out)
        return out

    def on_metric(
        self, source: str, metric: str, value: float, ts: datetime,
        tags: dict[str, str] | None, partition: int, kafka_ts: datetime, now: datetime,
        out: Outcome,
    ) -> None:
        """``on_event`` for a metric event given as its fields (``events.MetricFields``), as
        the Kafka adapter's lean decoder yields them: no ``Metric`` is built per record."""
        core = self.core
        core.stats["events.metric"] += 1
        src = core.sources.get(source)
        if src is None:
            src = self._new_source(source, partition, now, out)
            if src is None:
                return
        src.partition = partition
        limits = src.limits
        rule = limits.get(metric) if limits else None
        if metric not in src.monitored and rule is None:
            core.stats["events.metric_not_monitored"] += 1
            return
        if not tags:
            subject = metric
        elif len(tags) == 1:
            for k in tags:  # series_key, inline for the common single tag
                subject = f"{metric}{{{k}={tags[k]}}}"
        else:
            subject = series_key(source, metric, tags)
        if rule is not None:
            self._threshold(src, rule, subject, value, now, out, ts, kafka_ts)
            if metric not in src.monitored:
                return
        an = src.config.anomaly
        assert an is not None  # a source without the check monitors no metric
        state = src.series.get(subject)
        watches = src.watches
        if (state is not None and state.window is None and not core.trace_anomaly
                and (not watches or watch_key("anomaly", subject) not in watches)):
            # The common case inline: a known robust series with no alert state.
            state.seen = now
            if state.dirty_in != partition:
                state.dirty_in = partition
                core.dirty_series += 1
                core.dirty_sources.add(src.name)
            quiet = evaluate_robust(state, value, an, source, subject, ts, True)
            if quiet is not None:
                self._judge_anomaly(src, subject, quiet, now, out, ts, kafka_ts)
            return
        self._observe_value(src, subject, value, now, out, ts, kafka_ts)

    def on_dataset(
        self, obs: DatasetObservation, partition: int, kafka_ts: datetime, now: datetime,
        out: Outcome,
    ) -> None:
        """FR-022/FR-023: one dataset named by an OpenLineage RunEvent.

        COMPLETE: an output is an update at ``eventTime`` (freshness, completeness, the
        ``row_count`` series) and its ``schema`` facet is compared; an input that carries
        data-quality metrics feeds completeness and ``row_count`` (it was read, not written, so
        not freshness). FAIL/ABORT and COMPLETE judge the ``run`` check; assertions are judged
        whatever the event type. START, RUNNING and OTHER with nothing else update nothing.
        """
        core = self.core
        core.stats["events.openlineage.dataset"] += 1
        src = core.sources.get(obs.source)
        if src is None:
            src = self._new_source(obs.source, partition, now, out)
            if src is None:
                return
        src.partition = partition
        cfg = src.config
        labels = namespace_label(obs.namespace)
        if labels != src.labels:
            src.labels = labels
            core.dirty.add((partition, "src", src.name, ""))
        at = obs.event_time
        if obs.upstream and lineage.learn(src.upstream, obs.upstream, obs.job, at):
            core.dirty.add((partition, "src", src.name, ""))
        if obs.event_type == "COMPLETE":
            rows, nulls = obs.row_count, obs.null_counts
            if obs.role == "output" or rows is not None or nulls is not None:
                update = TableUpdate(type="table_update", source=obs.source, updated_at=at,
                                     row_count=rows, null_counts=nulls)
                self._table_update(src, update, kafka_ts, now, out,
                                   fresh=obs.role == "output")
            if obs.role == "output" and obs.schema is not None:
                self.on_schema(src, obs.schema, at, kafka_ts, now, out)
        # A failure alerts on the datasets the run names (outputs, else inputs); the job's next
        # COMPLETE resolves it on every dataset it names, inputs included.
        if cfg.run.enabled and (obs.run_subject or obs.event_type == "COMPLETE"):
            verdict = evaluate_run(src.name, obs.job, obs.event_type, obs.run_id)
            if verdict is not None:
                core.judge(src, verdict, cfg.run, now, out, event_time=at, triggered_at=kafka_ts)
        if obs.assertions and cfg.assertions.enabled:
            for result in obs.assertions:
                core.judge(src, evaluate_assertion(src.name, obs.job, result), cfg.assertions,
                           now, out, event_time=at, triggered_at=kafka_ts)

    def on_schema(
        self, src: SourceState, schema: Schema, event_time: datetime, kafka_ts: datetime,
        now: datetime, out: Outcome,
    ) -> None:
        """FR-023: judge ``schema`` against the source's last one, which it then replaces."""
        cfg = src.config.schema_
        verdict = evaluate_schema(src.name, cfg, src.schema, schema)
        if src.schema != schema:
            src.schema = schema
            self.core.dirty.add((src.partition, "src", src.name, ""))
        if verdict is not None:
            self.core.judge(src, verdict, cfg, now, out, event_time=event_time,
                            triggered_at=kafka_ts)

    def _new_source(self, name: str, partition: int, now: datetime,
                    out: Outcome) -> SourceState | None:
        """The state of a configured source seen for the first time, named or matched by a
        pattern (FR-024: discovered from its first event); None (counted) for a source no
        entry covers, or (dead-lettered) one past its pattern's ``max_sources``."""
        core = self.core
        cfg = core.config.catalog.lookup(name)
        if cfg is None:
            core.stats["events.unknown_source"] += 1
            return None
        if core.source_capped(cfg):
            core.stats["sources.rejected"] += 1
            out.dead_letters.append({
                "kind": "source_cap_exceeded",
                "reason": f"pattern {cfg.match!r} already covers {cfg.source_cap} sources "
                          f"(max_sources); new source {name!r} is not monitored",
                "source": name, "match": cfg.match, "max_sources": cfg.source_cap,
                "timestamp": format_rfc3339(now),
            })
            return None
        return core.new_source(cfg, partition, now)

    def _table_update(
        self, src: SourceState, ev: TableUpdate, kafka_ts: datetime, now: datetime, out: Outcome,
        *, fresh: bool = True,
    ) -> None:
        """``fresh``: the table was written (False for figures about a table a run read)."""
        core = self.core
        cfg = src.config
        if fresh:
            src.saw_update(ev.updated_at, now)
            core.dirty.add((src.partition, "src", src.name, ""))
            if cfg.freshness is not None:
                core.check_freshness(src, now, out, event_time=ev.updated_at,
                                     triggered_at=kafka_ts)
        if cfg.completeness is not None:
            # With no alert state for the source, only WARN/FAIL verdicts would change anything
            # (unless a column is named like the row-count subject: its two verdicts share a
            # watch, so the second one counts whatever it is).
            only_firing = (not src.watches
                           and ROW_COUNT_SUBJECT not in cfg.completeness.columns)
            for verdict in evaluate_completeness(cfg.completeness, ev, only_firing=only_firing):
                core.judge(src, verdict, cfg.completeness, now, out,
                           event_time=ev.updated_at, triggered_at=kafka_ts)
        if ev.row_count is not None:
            rows = float(ev.row_count)
            rule = src.limits.get(ROW_COUNT_METRIC) if src.limits else None
            if rule is not None:
                self._threshold(src, rule, ROW_COUNT_METRIC, rows, now, out, ev.updated_at,
                                kafka_ts)
            if ROW_COUNT_METRIC in src.monitored:
                self._observe_value(src, ROW_COUNT_METRIC, rows, now, out, ev.updated_at,
                                    kafka_ts)
        if ev.schema is not None:
            self.on_schema(src, ev.schema, ev.updated_at, kafka_ts, now, out)

    def _observe_value(
        self, src: SourceState, subject: str, value: float, now: datetime, out: Outcome,
        event_time: datetime, triggered_at: datetime,
    ) -> None:
        core = self.core
        an = src.config.anomaly
        assert an is not None
        state = src.series.get(subject)
        if state is None:
            if len(src.series) >= src.config.max_series:
                src.series_rejected += 1
                core.stats["series.rejected"] += 1
                out.dead_letters.append({
                    "kind": "series_cap_exceeded",
                    "reason": f"source {src.name!r} already has {len(src.series)} series "
                              f"(max_series); new series {subject!r} is not tracked",
                    "source": src.name, "series": subject,
                    "max_series": src.config.max_series, "value": value,
                    "timestamp": format_rfc3339(event_time),
                })
                return
            # NFR-005: the key is interned, so the sources whose series share a name (one
            # metric, the same tags) share one string rather than each holding a copy.
            state = src.series[intern(subject)] = SeriesState.new(an)
        state.seen = now
        name = src.name
        if state.dirty_in != src.partition:
            state.dirty_in = src.partition
            core.dirty_series += 1
            core.dirty_sources.add(name)
        watches = src.watches
        if core.trace_anomaly:
            result = evaluate(state, value, an, source=name, subject=subject, ts=event_time)
            out.anomaly.append((subject, result))
        elif not watches or watch_key("anomaly", subject) not in watches:
            # The common case, a series with no alert state: a verdict is needed only if the
            # value starts an episode, and nothing is built otherwise.
            quiet = (evaluate_robust(state, value, an, name, subject, event_time, True)
                     if state.window is None else
                     evaluate_quiet(state, value, an, name, subject, event_time))
            if quiet is None:
                return
            result = quiet
        else:
            result = evaluate(state, value, an, source=name, subject=subject, ts=event_time)
        self._judge_anomaly(src, subject, result, now, out, event_time, triggered_at)

    def _judge_anomaly(
        self, src: SourceState, subject: str, result: AnomalyResult, now: datetime,
        out: Outcome, event_time: datetime, triggered_at: datetime,
    ) -> None:
        if not result.held.firing and watch_key("anomaly", subject) not in src.watches:
            return  # healthy and never alerted, no verdict needed
        an = src.config.anomaly
        assert an is not None
        self.core.judge(src, result.verdict, an, now, out, event_time=event_time,
                        triggered_at=triggered_at)

    def _threshold(
        self, src: SourceState, rule: ThresholdRule, subject: str, value: float, now: datetime,
        out: Outcome, event_time: datetime, triggered_at: datetime,
    ) -> None:
        """FR-026: judge ``value`` against the static bounds of its metric; a healthy value of
        a subject with no alert state builds nothing."""
        severity, bound = breach(rule, value)
        watches = src.watches
        if severity is OK and (not watches or watch_key("threshold", subject) not in watches):
            return
        self.core.judge(src, verdict(rule, src.name, subject, value, severity, bound), rule, now,
                        out, event_time=event_time, triggered_at=triggered_at)
