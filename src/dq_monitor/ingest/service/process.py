"""Decoding and judging input batches per format (FR-022, FR-024, FR-028)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition

from dq_monitor import tracing
from dq_monitor.errors import MalformedEvent
from dq_monitor.events import decode_lean
from dq_monitor.formats import OpenLineageFormat
from dq_monitor.ingest.deadletter import malformed_event
from dq_monitor.ingest.service.base import (
    _format,
)
from dq_monitor.ingest.service.restore import (
    RestoreMixin,
)
from dq_monitor.kafka.headers import FORMAT_HEADER
from dq_monitor.monitor import Outcome
from dq_monitor.observe import wire


class ProcessMixin(RestoreMixin):
    """Decoding and judging a partition's batch in its topic's format, re-homing records of another
    partition's sources (FR-022, FR-024, FR-028)."""

    def _process(
        self, tp: TopicPartition, records: list[Any], now: datetime, out: Outcome,
        dead: list[dict[str, Any]],
    ) -> None:
        """Decode and judge one partition's batch in its topic's format (FR-022)."""
        if tp.topic in self.lineage_topics:
            self._process_lineage(tp, records, now, out, dead, at_home=False)
        elif tp.topic == self.repartition_topic and any(
                _format(rec.headers) for rec in records):
            for rec in records:  # mixed formats: one record at a time, in order
                kind = _format(rec.headers)
                if kind == OpenLineageFormat.name:
                    self._process_lineage(tp, [rec], now, out, dead, at_home=True)
                elif kind == wire.FORMAT:
                    self._process_report(tp, rec, now, out, dead)
                else:
                    self._process_native(tp, [rec], now, out, dead)
        else:
            self._process_native(tp, records, now, out, dead)

    def _observe(self, now: datetime, offsets: dict[TopicPartition, int]) -> None:
        """FR-028: send the reports of windows closed on owned observed partitions (written
        before the offsets are committed, like every re-homed record), and commit no further
        than the first record of each partition's oldest open window."""
        observer = self.observer
        header = [(FORMAT_HEADER, wire.FORMAT.encode())]
        for source, home, value in observer.reports(now):
            self.stats["observe.reports"] += 1
            self._forward.append(((self.repartition_topic, source.encode(), value, home,
                                   list(header)), None))
        for tp in observer.reading:
            position = self._positions.get(tp)
            if position is not None:
                offsets[tp] = observer.safe_offset(tp, position)

    def _process_report(self, tp: TopicPartition, rec: Any, now: datetime, out: Outcome,
                        dead: list[dict[str, Any]]) -> None:
        """FR-028: a partition's report of closed windows, at its source's home."""
        try:
            self.observer.on_report(rec.value, tp.partition,
                                    self._kafka_ts(rec.timestamp, now), now, out)
        except MalformedEvent as exc:
            self._malformed(tp, rec, exc, dead)

    def _kafka_ts(self, ts_ms: int | None, now: datetime) -> datetime:
        if not ts_ms:
            return now
        last_ms, last_ts = self._last_ts
        if ts_ms != last_ms:
            last_ts = datetime.fromtimestamp(ts_ms / 1000, UTC)
            self._last_ts = (ts_ms, last_ts)
        return last_ts

    def _process_lineage(
        self, tp: TopicPartition, records: list[Any], now: datetime, out: Outcome,
        dead: list[dict[str, Any]], *, at_home: bool,
    ) -> None:
        """OpenLineage records (FR-022). One event may name datasets of several sources, whose
        homes are different partitions: the ones at home here are judged, and the record goes
        once to each other home through the repartition topic, where (``at_home``) only the
        datasets at home there are judged. A dataset of no configured source is counted."""
        decode, max_bytes = self.openlineage.decode, self.kafka.max_event_bytes
        on_dataset, homes, partition = self.monitor.on_dataset, self.monitor.homes, tp.partition
        stats = self.monitor.stats
        alerts = out.alerts
        for rec in records:
            raw = rec.value
            try:
                if raw is None:
                    raise MalformedEvent("empty record (no value)")
                observations = decode(raw, max_bytes)
            except MalformedEvent as exc:
                self._malformed(tp, rec, exc, dead)
                continue
            kafka_ts = self._kafka_ts(rec.timestamp, now)
            if not at_home:
                self._consumed[tp.topic, "openlineage"] += 1
                stats["events.openlineage"] += 1
                if not observations:
                    stats["events.openlineage.no_dataset"] += 1
            first = len(alerts)
            elsewhere: dict[int, str] = {}
            for obs in observations:
                home = homes.get(obs.source)
                if home is None or home == partition:
                    if not at_home or home is not None:
                        on_dataset(obs, partition, kafka_ts, now, out)
                elif not at_home:
                    elsewhere.setdefault(home, obs.source)
            for home, source in elsewhere.items():
                self.stats["events.rerouted"] += 1
                headers = [*(rec.headers or []), (FORMAT_HEADER, OpenLineageFormat.name.encode())]
                self._forward.append(((self.repartition_topic, source.encode(), rec.value, home,
                                       headers), rec.timestamp))
            if self.telemetry.tracing and len(alerts) > first:
                parent = tracing.extract(rec.headers)
                if parent is not None:
                    alerts[first:] = [replace(e, trace=parent) for e in alerts[first:]]

    def _process_native(
        self, tp: TopicPartition, records: list[Any], now: datetime, out: Outcome,
        dead: list[dict[str, Any]],
    ) -> None:
        """Decode and judge one partition's batch of native events: the per-event loop, with
        what every event needs bound once."""
        decode, max_bytes = decode_lean, self.kafka.max_event_bytes
        on_event, on_metric = self.monitor.on_event, self.monitor.on_metric
        homes = self.monitor.homes
        # FR-024: a source a pattern covers is placed like a named one (None: no patterns)
        find = self.monitor.home if self.config.catalog.patterns else None
        partition = tp.partition
        # Records of the repartition topic are at home by construction.
        rerouting = tp.topic != self.repartition_topic
        traced = self.telemetry.tracing
        alerts = out.alerts
        last_ms, last_ts = self._last_ts
        for rec in records:
            raw = rec.value
            try:
                if raw is None:
                    raise MalformedEvent("empty record (no value)")
                event = decode(raw, max_bytes)
            except MalformedEvent as exc:
                self._malformed(tp, rec, exc, dead)
                continue
            ts_ms = rec.timestamp
            if not ts_ms:
                kafka_ts = now
            elif ts_ms == last_ms:
                kafka_ts = last_ts  # records of one batch often share a millisecond
            else:
                kafka_ts = last_ts = datetime.fromtimestamp(ts_ms / 1000, UTC)
                last_ms = ts_ms
            first = len(alerts)
            if isinstance(event, tuple):
                source, metric, value, ts, tags = event
                if rerouting:
                    home = homes.get(source)  # None: not a named source
                    if home is None and find is not None:
                        home = find(source)
                    if home is not None and home != partition:
                        self._reroute(tp, rec, source, "metric", home)
                        continue
                on_metric(source, metric, value, ts, tags, partition, kafka_ts, now, out)
            else:
                if rerouting:
                    home = homes.get(event.source)
                    if home is None and find is not None:
                        home = find(event.source)
                    if home is not None and home != partition:
                        self._reroute(tp, rec, event.source, "table_update", home)
                        continue
                on_event(event, partition, kafka_ts, now, out)
            if traced and len(alerts) > first:
                parent = tracing.extract(rec.headers)
                if parent is not None:
                    alerts[first:] = [replace(e, trace=parent) for e in alerts[first:]]
        self._last_ts = (last_ms, last_ts)

    def _malformed(self, tp: TopicPartition, rec: Any, exc: MalformedEvent,
                   dead: list[dict[str, Any]]) -> None:
        self.stats["malformed"] += 1
        self._consumed[tp.topic, "malformed"] += 1
        dead.append(malformed_event(reason=exc.reason, topic=tp.topic, partition=tp.partition,
                                    offset=rec.offset, timestamp_ms=rec.timestamp,
                                    raw=rec.value))

    def _reroute(self, tp: TopicPartition, rec: Any, source: str, kind: str, home: int) -> None:
        """NFR-006: a source's state lives on its home partition whatever partitioner (or key)
        the producer used; the home's owner processes it from the repartition topic."""
        self._consumed[tp.topic, kind] += 1  # not judged here, so counted here
        self.stats["events.rerouted"] += 1
        self._forward.append(((self.repartition_topic, source.encode(), rec.value, home,
                               list(rec.headers or [])), rec.timestamp))
