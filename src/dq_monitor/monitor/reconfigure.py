"""FR-025 hot reload in the core, sans I/O: the monitor judges by a new configuration from the
next event on, keeping every series and alert the new one still covers.

A source no entry covers any more, and a check (or a check's subject: a metric, a column, a
threshold) that is no longer configured, has its firing alert resolved at once ("no longer
monitored") and its state deleted from the changelog. A series keeps its baseline unless its
anomaly check changed how a baseline is kept (``baseline``, ``window``, ``min_samples``,
``seasonality``): then it warms up again. An alert machine whose damping changed keeps its
episode and applies the new damping from its next evaluation.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from dq_monitor.alerts.machine import AlertMachine
from dq_monitor.checks.verdict import OK, Verdict
from dq_monitor.config import AnomalyConfig, Config, SourceConfig
from dq_monitor.monitor.configured import (
    damping_of,
    metric_of,
    no_longer_monitored,
    still_configured,
)
from dq_monitor.monitor.outcome import Emitted, Outcome
from dq_monitor.state.sources import SourceState

if TYPE_CHECKING:
    from dq_monitor.monitor.core import Monitor

#: The anomaly options a series' baseline is built with: a change restarts its warm-up.
_BASELINE_SHAPE = ("baseline", "window", "min_samples", "seasonality")


def reconfigure(core: Monitor, config: Config, now: datetime) -> Outcome:
    """Swap ``core`` to ``config`` (validated; same ``kafka``) between batches; the resolved
    alerts of what is no longer monitored are returned, to be published like any."""
    out = Outcome()
    core.config = config
    core.partition_count = core.partition_count  # the named sources' homes, anew
    core.scheduler.sweep_interval = timedelta(seconds=config.scheduler.sweep_interval)
    for name, src in list(core.sources.items()):
        cfg = config.catalog.lookup(name)
        if cfg is None:
            _retire_source(core, src, now, out)
        elif cfg != src.config:
            _update_source(core, src, cfg, now, out)
    core.discovered = Counter(s.config.match for s in core.sources.values()
                              if s.config.match is not None)
    for name, cfg in config.sources_by_name.items():
        partition = core.owner(name)
        if name not in core.sources and partition in core.owned:
            core.assign_new(cfg, partition, now)
    return out


def _retire_source(core: Monitor, src: SourceState, now: datetime, out: Outcome) -> None:
    for key in list(src.watches):
        _retire_watch(core, src, key, now, out)
    p, name = src.partition, src.name
    core.tombstones.add((p, "src", name, ""))
    core.tombstones.update((p, "ser", name, subject) for subject in src.series)
    del core.sources[name]
    core.stats["sources.retired"] += 1


def _retire_watch(core: Monitor, src: SourceState, key: str, now: datetime,
                  out: Outcome) -> None:
    watch = src.watches.pop(key)
    v = watch.verdict
    core.tombstones.add((src.partition, "w", src.name, key))
    verdict = Verdict(v.check, v.source, v.subject, OK, None, None,
                      no_longer_monitored(v.check, v.source, v.subject))
    transition = watch.machine.retire(verdict, now)
    if transition is not None:
        alert = core.alert(src, transition, event_time=now, detected_at=now)
        out.alerts.append(Emitted(alert, src.partition, now))


def _shape(an: AnomalyConfig | None) -> tuple[object, ...] | None:
    return None if an is None else tuple(getattr(an, f) for f in _BASELINE_SHAPE)


def _update_source(core: Monitor, src: SourceState, cfg: SourceConfig, now: datetime,
                   out: Outcome) -> None:
    old = src.config
    src.reconfigure(cfg)
    name, p = src.name, src.partition
    for key, watch in list(src.watches.items()):
        v = watch.verdict
        if not still_configured(cfg, v.check, v.subject):
            _retire_watch(core, src, key, now, out)
            continue
        damping = damping_of(cfg, v.check, v.subject)
        assert damping is not None
        if damping != damping_of(old, v.check, v.subject):
            watch.machine = AlertMachine.from_state(watch.machine.to_state(), damping)
            core.dirty.add((p, "w", name, key))
            core.scheduler.push(now, "watch", name, key)
    reshaped = _shape(cfg.anomaly) != _shape(old.anomaly)
    an = cfg.anomaly
    for subject in list(src.series):
        if reshaped or an is None or metric_of(subject) not in an.metrics:
            del src.series[subject]
            core.tombstones.add((p, "ser", name, subject))
    src.evict_check = None
    if cfg.freshness != old.freshness:
        src.fresh_armed = None
        if cfg.freshness is not None:
            core.scheduler.push(now, "fresh", name, "")
