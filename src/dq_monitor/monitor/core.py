"""The monitor core, sans I/O: owned sources, verdicts → alert machines → alerts, and state.

The Kafka adapter (``ingest``) feeds it records through ``on_event`` (the ``EventDispatcher``
of ``dispatch``) and calls ``on_tick`` whenever ``next_wakeup`` is due; tests drive it directly
with a fake clock. It owns the per-partition source state, judges every verdict against the
source's alert machines, arms freshness deadlines and damping timers on its ``Scheduler``
(``scheduler``: one heap of typed deadlines and the sweep) and re-evaluates everything every
``scheduler.sweep_interval`` (NFR-001). The sweep also evicts the anomaly series that received
no value for their source's ``series_ttl`` (NFR-005/NFR-008, ``evict_idle``). Changed state is
reported by key (``take_dirty``) so the adapter can checkpoint it to the changelog topic
(``state.checkpoint`` encodes series; an evicted series is a tombstone) before committing input
offsets.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from operator import itemgetter
from sys import intern
from typing import TYPE_CHECKING, Any

from aiokafka.partitioner import murmur2

from dq_monitor.alerts.build import build_alert, span
from dq_monitor.alerts.machine import AlertMachine, Transition
from dq_monitor.checks.freshness import evaluate_freshness, freshness_severity
from dq_monitor.checks.verdict import FAIL, OK, PENDING, Severity, Verdict
from dq_monitor.config import Config, Damping, SourceConfig
from dq_monitor.events import Alert, format_rfc3339, parse_rfc3339
from dq_monitor.monitor.configured import damping_of, no_longer_monitored, still_configured
from dq_monitor.monitor.dispatch import SEP, EventDispatcher, watch_key
from dq_monitor.monitor.outcome import Emitted, Outcome
from dq_monitor.monitor.reconfigure import reconfigure
from dq_monitor.monitor.scheduler import Scheduler
from dq_monitor.state import checkpoint, lineage
from dq_monitor.state.sources import SourceState, Watch

#: A changelog value: a JSON object, a series' packed state, or None (deleted).
StateValue = dict[str, Any] | bytes | None

if TYPE_CHECKING:
    from dq_monitor.checks.anomaly import SeriesState

#: The checks whose alert state a changelog record may hold.
_CHECKS = ("freshness", "completeness", "anomaly", "threshold", "run", "assertion", "schema")
#: The watch key of a source's freshness alert.
_FRESHNESS_WATCH = watch_key("freshness", None)


def partition_for(source: str, partition_count: int) -> int:
    """The partition Kafka's default partitioner gives a record keyed by ``source``."""
    return int(murmur2(source.encode()) & 0x7FFFFFFF) % partition_count


class Monitor:
    """All checks of all owned sources; one instance per process, one thread."""

    def __init__(self, config: Config, *, partition_count: int = 1) -> None:
        self.config = config
        #: Home partition of each configured source, for the current ``partition_count`` (a new
        #: dict whenever the count changes).
        self.homes: dict[str, int] = {}
        self.partition_count = partition_count
        self.owned: set[int] = set()
        self.sources: dict[str, SourceState] = {}
        #: FR-024: sources in ``sources`` discovered by each ``match`` pattern (``max_sources``
        #: caps it).
        self.discovered: Counter[str] = Counter()
        #: Counts by name, missing ones 0 (a defaultdict: it counts once per event, at about
        #: half the cost of a Counter).
        self.stats: defaultdict[str, int] = defaultdict(int)
        #: Series evicted for idleness, by source, over the life of this instance (monotonic:
        #: kept when a partition is revoked; ``dq_series_evicted_total`` reads it).
        self.evicted: Counter[str] = Counter()
        #: Freshness deadlines, damping timers and the sweep (``dq_monitor.scheduler``).
        self.scheduler = Scheduler(config.scheduler.sweep_interval)
        #: Changed state as (partition, kind, source, subject): the key text is built only when
        #: it is checkpointed.
        self.dirty: set[tuple[int, str, str, str]] = set()
        #: NFR-005: an anomaly series that changed is marked in place (``SeriesState.dirty_in``)
        #: rather than listed here (a key per series cost some 250 bytes while a large fleet's
        #: checkpoint waits, ``ingest.cadence``): the sources holding marked series, and how
        #: many series were marked since the last ``take_dirty``.
        self.dirty_sources: set[str] = set()
        self.dirty_series = 0
        #: State to delete from the changelog whatever ``sources`` holds now: a source or check
        #: no longer configured (FR-025), by the same (partition, kind, source, subject).
        self.tombstones: set[tuple[int, str, str, str]] = set()
        #: FR-025: restored alert state of sources or checks no longer configured, by
        #: (partition, key), latest record winning; resolved and deleted by ``assign``.
        self.orphans: dict[tuple[int, str], dict[str, Any] | None] = {}
        #: What ``assign`` and ``reconfigure`` caused, handed out by the next ``on_tick``.
        self.pending = Outcome()
        #: Report every anomaly evaluation in ``Outcome.anomaly`` (the backtest reads z from it).
        self.trace_anomaly = False
        #: Routes events to the checks; ``on_event`` and ``on_metric`` are its bound methods,
        #: so the per-event call goes straight to them.
        self.dispatcher = EventDispatcher(self)
        self.on_event = self.dispatcher.on_event
        self.on_metric = self.dispatcher.on_metric
        self.on_dataset = self.dispatcher.on_dataset

    # ------------------------------------------------------------------ ownership

    @property
    def partition_count(self) -> int:
        return self._partition_count

    @partition_count.setter
    def partition_count(self, count: int) -> None:
        self._partition_count = count
        self.homes = {name: partition_for(name, count) for name in self.config.sources_by_name}
        self._homes_cap = len(self.homes) + sum(p.source_cap
                                                for p in self.config.catalog.patterns)

    def owner(self, source: str) -> int:
        """Home partition of ``source`` (murmur2 of its name, as Kafka's Java partitioner);
        precomputed for configured sources, which is every event that matters per event."""
        home = self.homes.get(source)
        return partition_for(source, self._partition_count) if home is None else home

    def home(self, source: str) -> int | None:
        """Home partition of a monitored source, named or discovered by a pattern (FR-024:
        placed exactly like a named one); None for a source no entry covers. A discovered
        source's home is remembered with the named ones', up to its pattern caps in all."""
        home = self.homes.get(source)
        if home is not None or not self.config.catalog.patterns:
            return home
        if self.config.catalog.lookup(source) is None:
            return None
        home = partition_for(source, self._partition_count)
        if len(self.homes) < self._homes_cap:
            self.homes[source] = home
        return home

    def assign(self, partitions: Iterable[int], now: datetime) -> None:
        """Start watching the configured sources owned by ``partitions`` (after any restore),
        and the sources discovered by a pattern that the restore brought back (FR-024: a
        pattern names no source that is expected before it appears)."""
        new = set(partitions) - self.owned
        self.owned |= new
        for name, cfg in self.config.sources_by_name.items():
            p = self.owner(name)
            if p in new:
                src = self.sources.get(name)
                if src is None:
                    src = self.new_source(cfg, p, now)
                self._watch(src, now)
        for src in self.sources.values():
            if src.config.match is not None and src.partition in new:
                self._watch(src, now)
        self._resolve_orphans(new, now)
        self.scheduler.start(now)

    def _resolve_orphans(self, partitions: set[int], now: datetime) -> None:
        """FR-025 at start-up: restored state that belongs to no configured source or check is
        deleted, and an alert it kept firing is resolved ("no longer monitored")."""
        for (p, key), value in list(self.orphans.items()):
            if p not in partitions:
                continue
            del self.orphans[p, key]
            kind, name, *rest = key.split(SEP, 2)
            self.tombstones.add((p, kind, name, rest[0] if rest else ""))
            if kind != "w" or value is None:
                continue
            check, source, subject = value["verdict"][:3]
            verdict = Verdict(check, source, subject, OK, None, None,
                              no_longer_monitored(check, source, subject))
            machine = AlertMachine.from_state(value["machine"], Damping())
            transition = machine.retire(verdict, now)
            if transition is not None:
                alert = build_alert(transition, event_time=now, detected_at=now)
                self.stats[f"alerts.{alert.check}.{alert.severity}.{alert.status}"] += 1
                self.pending.alerts.append(Emitted(alert, p, now))

    def assign_new(self, cfg: SourceConfig, partition: int, now: datetime) -> SourceState:
        """Start watching named source ``cfg`` on owned ``partition`` (FR-025: one a reload
        added), its freshness clock from ``now``."""
        src = self.new_source(cfg, partition, now)
        self._watch(src, now)
        return src

    def reconfigure(self, config: Config, now: datetime) -> Outcome:
        """FR-025: judge by ``config`` from now on (``monitor.reconfigure``)."""
        return reconfigure(self, config, now)

    def _watch(self, src: SourceState, now: datetime) -> None:
        self._arm_freshness(src, now)
        for key in src.watches:
            self.scheduler.push(now, "watch", src.name, key)

    def revoke(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        self.owned -= gone
        for name in [n for n, s in self.sources.items() if s.partition in gone]:
            self._forget(name)

    def _forget(self, name: str) -> None:
        src = self.sources.pop(name)
        if src.config.match is not None:
            self.discovered[src.config.match] -= 1

    def new_source(self, cfg: SourceConfig, partition: int, now: datetime) -> SourceState:
        """Start the state of source ``cfg`` (its resolved entry) on ``partition``."""
        src = SourceState(config=cfg, partition=partition, watching_since=now)
        self._add(src)
        self.dirty.add((partition, "src", src.name, ""))
        return src

    def _add(self, src: SourceState) -> None:
        self.sources[src.name] = src
        if src.config.match is not None:
            self.discovered[src.config.match] += 1

    def source_capped(self, cfg: SourceConfig) -> bool:
        """FR-024: ``cfg`` is a pattern's entry whose ``max_sources`` are all discovered."""
        return cfg.match is not None and self.discovered[cfg.match] >= cfg.source_cap

    def alert(self, src: SourceState, transition: Transition, *, event_time: datetime,
              detected_at: datetime) -> Alert:
        """The alert event of ``transition`` with its source's owner, labels and runbook
        (FR-024) and the labels its events carry (FR-022: ``namespace``), counted."""
        cfg = src.config
        # the entry's labels, then what the source's events say (an OpenLineage namespace)
        labels = {**cfg.labels, **src.labels} if src.labels else cfg.labels
        alert = build_alert(transition, event_time=event_time, detected_at=detected_at,
                            labels=labels or None, owner=cfg.owner, runbook_url=cfg.runbook_url)
        self.stats[f"alerts.{alert.check}.{alert.severity}.{alert.status}"] += 1
        return alert

    # ------------------------------------------------------------------ time

    def next_wakeup(self) -> datetime | None:
        """The earliest instant ``on_tick`` has work: a deadline, a damping timer or a sweep."""
        return self.scheduler.next_wakeup()

    def on_tick(self, now: datetime) -> Outcome:
        out = Outcome()
        if self.pending.alerts or self.pending.dead_letters:
            out, self.pending = self.pending, out
        for when, _, kind, name, key in self.scheduler.due(now):
            src = self.sources.get(name)
            if src is None:
                continue
            if kind == "fresh":
                if src.config.freshness is None:
                    continue  # the check was removed by a reload
                if src.fresh_armed == when:
                    src.fresh_armed = None
                self.check_freshness(src, now, out, event_time=when, triggered_at=when)
            else:
                self._reobserve(src, key, now, out, when)
        if self.scheduler.sweep_due(now):
            self.sweep(now, out)
        return out

    def sweep(self, now: datetime, out: Outcome) -> None:
        """NFR-001: re-evaluate every check of every owned source, events or not."""
        self.stats["sweeps"] += 1
        for src in list(self.sources.values()):
            if src.series:
                self.evict_idle(src, now, out)
            if src.config.freshness is not None:
                self.check_freshness(src, now, out, event_time=now, triggered_at=now)
            for key in [f for f, w in src.watches.items() if w.verdict.check != "freshness"]:
                self._reobserve(src, key, now, out, now)

    def evict_idle(self, src: SourceState, now: datetime, out: Outcome) -> None:
        """NFR-005/NFR-008: drop the series of ``src`` that received no value for its
        ``series_ttl`` (by ``SeriesState.seen``, the processing clock), so ``max_series`` counts
        live series and batch-id tags cannot fill it for good.

        Called by the sweep, never per event. One pass over the source's series also finds the
        oldest survivor, and until that one could be idle (``evict_check``) the source is not
        scanned again: a source whose series all keep sending costs one pass per TTL.
        """
        an = src.config.anomaly
        check = src.evict_check
        if an is None or (check is not None and now < check):
            return
        ttl = timedelta(seconds=an.series_ttl)
        cutoff = now - ttl
        oldest = now
        idle: list[tuple[str, datetime]] = []
        for subject, series in src.series.items():
            seen = series.seen
            if seen is None:
                series.seen = now  # not stamped by its owner: idle from now on
            elif seen <= cutoff:
                idle.append((subject, seen))
            elif seen < oldest:
                oldest = seen
        src.evict_check = oldest + ttl
        for subject, seen in idle:
            self._evict(src, subject, min(seen + ttl, now), now, out)

    def _evict(
        self, src: SourceState, subject: str, idle_at: datetime, now: datetime, out: Outcome
    ) -> None:
        """Forget one series: a tombstone for its state in the next checkpoint (a restart must
        not bring it back), and its anomaly alert, if firing, resolved (``idle_at``: the
        instant the series reached its TTL, the resolved event's time)."""
        an = src.config.anomaly
        assert an is not None
        name = src.name
        del src.series[subject]
        self.dirty.add((src.partition, "ser", name, subject))
        src.series_evicted += 1
        self.evicted[name] += 1
        self.stats["series.evicted"] += 1
        key = watch_key("anomaly", subject)
        watch = src.watches.pop(key, None)
        if watch is None:
            return
        self.dirty.add((src.partition, "w", name, key))
        verdict = Verdict("anomaly", name, subject, OK, None, None,
                          f"{subject} received no value for {span(an.series_ttl)} "
                          f"(series_ttl); the series was evicted")
        transition = watch.machine.retire(verdict, now)
        if transition is not None:
            alert = self.alert(src, transition, event_time=idle_at, detected_at=now)
            out.alerts.append(Emitted(alert, src.partition, idle_at))

    def _reobserve(
        self, src: SourceState, key: str, now: datetime, out: Outcome, when: datetime
    ) -> None:
        watch = src.watches.get(key)
        if watch is None:
            return
        if watch.verdict.check == "freshness":
            # re-judged from its clock, never from a stale verdict
            self.check_freshness(src, now, out, event_time=when, triggered_at=when)
            return
        damping = self._damping(src.config, watch.verdict)
        self.judge(src, watch.verdict, damping, now, out, event_time=when, triggered_at=when)

    def _arm_freshness(self, src: SourceState, now: datetime) -> None:
        if src.config.freshness is not None:
            self.scheduler.push(now, "fresh", src.name, "")

    def check_freshness(
        self, src: SourceState, now: datetime, out: Outcome, *, event_time: datetime,
        triggered_at: datetime,
    ) -> None:
        cfg = src.config.freshness
        assert cfg is not None
        if _FRESHNESS_WATCH not in src.watches:
            # No alert state: a fresh source needs no verdict (it would change nothing), only
            # its next deadline.
            severity, _, nxt = freshness_severity(
                cfg, reference=src.last_updated or src.watching_since, now=now)
            if severity is OK:
                self._arm(src, nxt)
                return
        res = evaluate_freshness(src.name, cfg, last_updated=src.last_updated,
                                 watching_since=src.watching_since, now=now)
        if res.verdict.severity.firing:
            # Latency and event time start at the instant the threshold was crossed.
            reference = src.last_updated or src.watching_since
            limit = cfg.max_staleness if res.verdict.severity is FAIL else (
                cfg.warn_ratio * cfg.max_staleness)
            crossed = reference + timedelta(seconds=limit)
            event_time = triggered_at = min(crossed, now)
        self.judge(src, res.verdict, cfg, now, out, event_time=event_time,
                    triggered_at=triggered_at)
        self._arm(src, res.next_change_at)

    def _arm(self, src: SourceState, deadline: datetime | None) -> None:
        if deadline is not None:
            armed = src.fresh_armed
            if armed is None or deadline < armed:
                # A later deadline needs no new entry: the armed one fires first and re-arms.
                src.fresh_armed = deadline
                self.scheduler.push(deadline, "fresh", src.name, "")

    # ------------------------------------------------------------------ verdicts → alerts

    @staticmethod
    def _damping(cfg: SourceConfig, verdict: Verdict) -> Damping:
        damping = damping_of(cfg, verdict.check, verdict.subject)
        assert damping is not None
        return damping

    def judge(
        self, src: SourceState, verdict: Verdict, damping: Damping, now: datetime, out: Outcome,
        *, event_time: datetime, triggered_at: datetime,
    ) -> None:
        key = watch_key(verdict.check, verdict.subject)
        watch = src.watches.get(key)
        if watch is None:
            if not verdict.severity.firing:
                return  # healthy and never alerted: nothing to remember
            watch = src.watches[key] = Watch(AlertMachine(damping), verdict)
        if verdict.severity is not PENDING:
            watch.verdict = verdict
        transition = watch.machine.observe(verdict, now)
        self.dirty.add((src.partition, "w", src.name, key))
        if transition is not None:
            alert = self.alert(src, transition, event_time=event_time, detected_at=now)
            out.alerts.append(Emitted(alert, src.partition, triggered_at))
        due = watch.machine.next_due(now)
        if due is not None:
            self.scheduler.push(due, "watch", src.name, key)
        elif watch.machine.idle:
            del src.watches[key]

    # ------------------------------------------------------------------ checkpoints

    def take_dirty(self) -> list[tuple[int, str, StateValue]]:
        """Changed state since the last call as (partition, key, value or None for deleted).

        State of a partition this instance no longer owns is left out, not deleted: its new
        owner restores it from the changelog, and a tombstone from here would erase it.
        """
        dirty = self.dirty
        owned, sources = self.owned, self.sources
        # The series marked in place (nearly every record of a large fleet's checkpoint) are
        # keyed and encoded straight from the objects found here (NFR-003: no key to build,
        # split and look up again per series).
        entries: list[tuple[int, str, SeriesState | None]] = []
        for name in self.dirty_sources:
            src = sources.get(name)
            if src is not None:
                p = src.partition
                mine = p in owned
                for sub, marked in src.series.items():
                    if marked.dirty_in >= 0:
                        marked.dirty_in = -1  # listed again on its next change
                        if mine and not (dirty and (p, "ser", name, sub) in dirty):
                            entries.append((p, f"ser{SEP}{name}{SEP}{sub}", marked))
        self.dirty_sources.clear()
        self.dirty_series = 0
        for p, kind, name, sub in dirty:
            if kind == "ser" and (src := sources.get(name)) is not None:
                series = src.series.get(sub)
                if series is not None:
                    series.dirty_in = -1  # listed again on its next change
            if p in owned and name in sources:
                entries.append((p, _state_key(kind, name, sub), None))
        dirty.clear()
        entries.sort(key=_BY_KEY)
        changed: list[tuple[int, str, StateValue]] = [
            (p, key, self.snapshot(key) if series is None else checkpoint.encode(series))
            for p, key, series in entries]
        if self.tombstones:
            written = {(p, key) for p, key, _ in entries}
            gone = sorted({(p, _state_key(kind, name, sub))
                           for p, kind, name, sub in self.tombstones if p in owned} - written)
            self.tombstones.clear()
            changed += [(p, key, None) for p, key in gone]
        return changed

    def state_keys(self, partition: int) -> list[str]:
        """Changelog keys of the live state of owned ``partition`` (a snapshot cycle's due)."""
        keys: list[str] = []
        for name, src in self.sources.items():
            if src.partition != partition:
                continue
            keys.append(_state_key("src", name, ""))
            keys += [_state_key("ser", name, sub) for sub in src.series]
            keys += [_state_key("w", name, sub) for sub in src.watches]
        return keys

    def snapshot(self, key: str) -> StateValue:
        kind, name, *rest = key.split(SEP, 2)
        src = self.sources.get(name)
        if src is None:
            return None
        if kind == "src":
            state: dict[str, Any] = {
                "watching_since": format_rfc3339(src.watching_since),
                "last_updated": None if src.last_updated is None
                else format_rfc3339(src.last_updated),
            }
            if src.schema is not None:
                state["schema"] = [list(column) for column in src.schema]
            if src.labels:
                state["labels"] = src.labels
            if src.upstream:
                state["upstream"] = lineage.encode(src.upstream)
            return state
        if kind == "ser":
            series = src.series.get(rest[0])
            return None if series is None else checkpoint.encode(series)
        watch = src.watches.get(rest[0])
        if watch is None:
            return None
        v = watch.verdict
        return {
            "machine": watch.machine.to_state(),
            "verdict": [v.check, v.source, v.subject, v.severity.value, v.observed, v.expected,
                        v.detail],
        }

    def restore(self, partition: int, key: str, value: StateValue, now: datetime) -> None:
        """Apply one changelog record (latest value wins); unknown sources are skipped, and so
        are new sources of a pattern whose ``max_sources`` are all here (FR-024).

        The record is read whole before anything changes, so an unreadable one (it raises,
        and the caller skips it: NFR-006) leaves the state as it was.
        """
        kind, name, *rest = key.split(SEP, 2)
        if kind not in ("src", "ser", "w") or (kind != "src" and not rest):
            raise ValueError(f"unknown state key kind {kind!r}")
        obj: dict[str, Any] | None = None  # the value of any kind but a series': an object
        if isinstance(value, bytes):
            if kind != "ser":
                raise ValueError(f"{kind} state: a packed value (only a series' state is packed)")
        else:
            obj = value
        if self.owner(name) != partition:
            return  # left from a placement that is no longer its home
        cfg = self.config.catalog.lookup(name)
        if cfg is None:
            # FR-025: no longer configured; ``assign`` resolves and deletes it
            self.orphans[partition, key] = _checked_watch(obj, name) if kind == "w" else None
            return
        if name not in self.sources and self.source_capped(cfg):
            return
        if kind == "src":
            if obj is None:
                return
            since = parse_rfc3339(obj["watching_since"])
            last = obj.get("last_updated")
            last_updated = None if last is None else parse_rfc3339(last)
            schema = _schema_or_none(obj.get("schema"))
            labels = _labels_or_none(obj.get("labels"))
            upstream = lineage.decode(obj.get("upstream", []))
            src = self._restored_source(cfg, partition, now)
            src.watching_since, src.last_updated = since, last_updated
            src.schema, src.labels, src.upstream = schema, labels, upstream
        elif kind == "ser":
            if value is None or cfg.anomaly is None:
                self._restored_source(cfg, partition, now).series.pop(rest[0], None)
            else:
                series = checkpoint.decode(value, cfg.anomaly)  # packed, or an older form
                # Idle since it was last seen (an older record has no such time: since now);
                # never later than now, whatever clock wrote it.
                series.seen = now if series.seen is None else min(series.seen, now)
                src = self._restored_source(cfg, partition, now)
                src.series[intern(rest[0])] = series  # shared, as ``dispatch`` keys it
                src.evict_check = None  # it may be idle already: the next sweep looks
        else:
            if obj is None:
                self._restored_source(cfg, partition, now).watches.pop(rest[0], None)
                self.orphans.pop((partition, key), None)
                return
            checked = _checked_watch(obj, name)
            assert checked is not None
            check, source, subject, severity, observed, expected, detail = checked["verdict"]
            verdict = Verdict(check, source, subject, Severity(severity), observed, expected,
                              detail)
            damping = damping_of(cfg, check, subject)
            if damping is None or not still_configured(cfg, check, subject):
                # FR-025: the check is no longer configured; ``assign`` resolves and deletes it
                self.orphans[partition, key] = obj
                return
            watch = Watch(AlertMachine.from_state(obj["machine"], damping), verdict)
            self._restored_source(cfg, partition, now).watches[rest[0]] = watch

    def _restored_source(self, cfg: SourceConfig, partition: int, now: datetime) -> SourceState:
        assert cfg.name is not None
        src = self.sources.get(cfg.name)
        if src is None:
            src = SourceState(config=cfg, partition=partition, watching_since=now)
            self._add(src)
        return src


#: Checkpoint entries in key order: partition, then key (no two entries share both).
_BY_KEY = itemgetter(0, 1)


def _state_key(kind: str, name: str, sub: str) -> str:
    return f"{kind}{SEP}{name}" if kind == "src" else f"{kind}{SEP}{name}{SEP}{sub}"


def _checked_watch(value: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """An alert-state record whose verdict has the shape ``snapshot`` writes (it raises
    otherwise: the caller skips the record and dead-letters it, NFR-006)."""
    if value is None:
        return None
    check, source, subject, severity, observed, expected, detail = value["verdict"]
    if not (check in _CHECKS and source == name and severity in ("OK", "WARN", "FAIL", "PENDING")
            and isinstance(detail, str) and (subject is None or isinstance(subject, str))
            and _number_or_none(observed) and _number_or_none(expected)):
        raise ValueError("verdict: out of shape")
    AlertMachine.from_state(value["machine"], Damping())  # readable, or it raises here
    return value


def _schema_or_none(value: object) -> tuple[tuple[str, str], ...] | None:
    """A checkpointed schema: a list of [name, type] pairs of strings (NFR-006: else raise)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(
            isinstance(c, list) and len(c) == 2 and all(isinstance(x, str) for x in c)
            for c in value):
        raise ValueError("schema: out of shape")
    return tuple((c[0], c[1]) for c in value)


def _labels_or_none(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("labels: out of shape")
    return value


def _number_or_none(value: object) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool)
                             and math.isfinite(value))
