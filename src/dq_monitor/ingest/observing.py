"""FR-028: the monitor loop's side of observed topics (thin: the rules are in ``observe``).

Read side, per owned partition of an observed topic: records go into that partition's open
windows; closed windows leave as one report, re-keyed by source to the source's home
partition of the repartition topic (sent, like every re-homed record, before the input offsets
are committed); the committed offset never passes the first record of an open window.

Home side, per observed source on an owned home partition: reports are merged, and each
complete window is judged once through the monitor core like any other input. The merge state
is checkpointed in the changelog with the rest of the source's state (key ``obs``).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from aiokafka import TopicPartition

from dq_monitor.config import Config, ObserveConfig
from dq_monitor.errors import MalformedEvent
from dq_monitor.monitor import Monitor, Outcome
from dq_monitor.monitor.dispatch import SEP
from dq_monitor.observe import PartitionWindows, SourceWindows, observe_window, wire

#: Changelog key kind of an observed source's merge state.
STATE_KIND = "obs"


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class Observer:
    """Observed topics of one ``MonitorService``."""

    def __init__(self, config: Config, monitor: Monitor, stats: Counter[str]) -> None:
        self.monitor = monitor
        self.by_topic: dict[str, ObserveConfig] = {o.topic: o for o in config.observe}
        self.by_source: dict[str, ObserveConfig] = {o.source_name: o for o in config.observe}
        #: Partition count of each observed topic (set at connect).
        self.partitions: dict[str, int] = {}
        #: Owned observed partitions' open windows.
        self.reading: dict[TopicPartition, PartitionWindows] = {}
        #: Merge state of observed sources whose home this instance owns.
        self.merging: dict[str, SourceWindows] = {}
        self.dirty: set[str] = set()
        self.stats = stats

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self.by_topic)

    def _count(self, key: str, n: int = 1) -> None:
        self.stats[key] += n

    # ------------------------------------------------------------ read side

    def assign(self, tps: set[TopicPartition], now: datetime) -> None:
        """Windows afresh for every owned observed partition after a rebalance: the consumer
        resumes each assigned partition, kept ones included, from its committed offset, which
        no open window passed, so every open window is rebuilt whole from there (windows
        carried over would count those records twice)."""
        self.reading = {tp: PartitionWindows(self.by_topic[tp.topic], tp.partition, _ms(now))
                        for tp in tps if tp.topic in self.by_topic}

    def on_records(self, tp: TopicPartition, records: list[Any], now: datetime) -> None:
        windows = self.reading.get(tp)
        if windows is None:
            return
        now_ms = _ms(now)
        add, late = windows.add, windows.late
        for rec in records:
            add(rec.value, rec.timestamp if rec.timestamp and rec.timestamp > 0 else now_ms,
                rec.offset, now_ms)
        if windows.late != late:
            self._count("observe.records.late", windows.late - late)

    def reports(self, now: datetime) -> list[tuple[str, int, bytes]]:
        """Reports of windows closed since the last call, as (source, home partition, value)."""
        now_ms = _ms(now)
        out: list[tuple[str, int, bytes]] = []
        for tp, windows in self.reading.items():
            closed = windows.close(now_ms)
            if closed is None:
                continue
            cfg = self.by_topic[tp.topic]
            source = cfg.source_name
            parts = self.partitions.get(tp.topic, tp.partition + 1)
            self._count("observe.windows.closed", len(closed.partials))
            out.append((source, self.monitor.owner(source), wire.encode(source, parts, closed)))
        return out

    def safe_offset(self, tp: TopicPartition, position: int) -> int:
        windows = self.reading.get(tp)
        return position if windows is None else windows.safe_offset(position)

    # ------------------------------------------------------------ home side

    def on_report(self, raw: bytes | None, partition: int, kafka_ts: datetime, now: datetime,
                  out: Outcome) -> None:
        """Merge one report (raises ``MalformedEvent`` for an unreadable one) and judge the
        windows it completes."""
        report = wire.decode(raw)
        cfg = self.by_source.get(report.source)
        if cfg is None or cfg.topic != report.topic:
            raise MalformedEvent(f"observe report for {report.source!r} of topic "
                                 f"{report.topic!r}: no such observe entry")
        if self.monitor.owner(report.source) != partition:
            raise MalformedEvent(f"observe report for {report.source!r} on partition "
                                 f"{partition}, not its home")
        state = self.merging.get(report.source)
        if state is None or state.window_ms != cfg.window_ms:
            state = self.merging[report.source] = SourceWindows(
                report.source, cfg.topic, report.partitions, cfg.window_ms)
        state.partitions = report.partitions
        late = state.late
        state.add(report.partition, report.closed_to, report.partials)
        if state.late != late:  # a window already judged: counted, not judged again
            self._count("observe.records.late", state.late - late)
        self.dirty.add(report.source)
        for start, merged in state.take_complete():
            obs = observe_window(report.source, cfg.topic, start, cfg.window_ms, merged,
                                 cfg.fields)
            self._count("observe.windows.judged")
            self.monitor.on_event(obs.update, partition, kafka_ts, now, out)
            at = obs.update.updated_at
            for metric, value in obs.metrics:
                self.monitor.on_metric(report.source, metric, value, at, None, partition,
                                       kafka_ts, now, out)
            if obs.dead_letter is not None:
                out.dead_letters.append(obs.dead_letter)

    def revoke_homes(self, partitions: set[int]) -> None:
        for source in [s for s in self.merging if self.monitor.owner(s) in partitions]:
            del self.merging[source]
            self.dirty.discard(source)

    def take_dirty(self) -> list[tuple[int, str, dict[str, Any] | None]]:
        """Changed merge state as (home partition, changelog key, value)."""
        out: list[tuple[int, str, dict[str, Any] | None]] = []
        for source in sorted(self.dirty):
            state = self.merging.get(source)
            home = self.monitor.owner(source)
            if state is not None and home in self.monitor.owned:
                out.append((home, f"{STATE_KIND}{SEP}{source}", state.to_json()))
        self.dirty.clear()
        return out

    def state_keys(self, partition: int) -> list[str]:
        """Changelog keys of the merge state homed on ``partition``."""
        return [f"{STATE_KIND}{SEP}{s}" for s in self.merging
                if self.monitor.owner(s) == partition]

    def snapshot(self, key: str) -> dict[str, Any] | None:
        """The current value of merge-state ``key`` (None: there is none)."""
        state = self.merging.get(key.split(SEP, 1)[1])
        return None if state is None else state.to_json()

    def restore(self, partition: int, key: str, value: dict[str, Any] | bytes | None) -> None:
        """One changelog record of merge state (latest wins); ``ValueError`` if unreadable."""
        if isinstance(value, bytes):
            raise ValueError("merge state: a packed value (only a series' state is packed)")
        source = key.split(SEP, 1)[1]
        cfg = self.by_source.get(source)
        if cfg is None or self.monitor.owner(source) != partition:
            return
        if value is None:
            self.merging.pop(source, None)
            return
        state = SourceWindows.from_json(source, value)
        if state.topic == cfg.topic and state.window_ms == cfg.window_ms:
            self.merging[source] = state


def is_state_key(key: str) -> bool:
    return key.startswith(STATE_KIND + SEP)
