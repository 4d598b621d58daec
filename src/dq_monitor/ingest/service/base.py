"""The monitor service's shared state, its record types and helpers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dq_monitor.config import Config
from dq_monitor.errors import DqMonitorError
from dq_monitor.formats import OpenLineageFormat
from dq_monitor.ingest.observing import Observer
from dq_monitor.kafka import changelog
from dq_monitor.kafka.backoff import Backoff
from dq_monitor.kafka.failures import (
    WriteHealth,
)
from dq_monitor.kafka.headers import FORMAT_HEADER
from dq_monitor.monitor import Emitted, Monitor
from dq_monitor.state.snapshots import SnapshotPlanner
from dq_monitor.telemetry import Telemetry

log = logging.getLogger("dq_monitor.service")

#: Longest wait between loop turns; bounds how late a stop request or a deadline is seen.
MAX_POLL_S = 0.2

Clock = Callable[[], datetime]
#: topic, key, value, partition, headers (``NO_HEADERS`` for none: a record of plain values
#: only is left alone by the cyclic collector, NFR-003)
Record = tuple[str, bytes | None, bytes | None, int | None, Sequence[tuple[str, bytes]]]
NO_HEADERS: tuple[tuple[str, bytes], ...] = ()


def listed(headers: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """A record's headers as the Kafka client takes them (a list; a new one for none)."""
    return headers if isinstance(headers, list) else list(headers)
#: A record to re-route to its source's home partition: the record and its Kafka timestamp.
Forward = tuple[Record, int | None]


@dataclass(slots=True)
class _InFlight:
    """Records sent by one loop turn (alerts and dead letters) or one checkpoint (state),
    until they are acknowledged."""

    records: list[Record]
    alerts: list[Emitted]
    dead: list[dict[str, Any]]
    spans: list[Any]
    acks: asyncio.Future[list[Any]] | None = None
    finished: bool = False
    #: For a checkpoint: the input offsets to commit once its state is durable.
    offsets: dict[TopicPartition, int] | None = None


class StateRestoreError(DqMonitorError):
    """State of owned partitions could not be restored within the deadline (NFR-006)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class ServiceBase:
    """The service's state and what every part reads: clients, the monitor, positions, counters."""

    #: Seconds of failed restore attempts before giving up (the process then exits non-zero).
    restore_deadline_s = 120.0

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utc_now,
        on_published: Callable[[Emitted, datetime], None] | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.config = config
        self.kafka = config.kafka
        self.clock = clock
        self.on_published = on_published
        self.monitor = Monitor(config)
        self.stats: Counter[str] = Counter()
        self.ready = anyio.Event()
        self.revoked_pending: set[int] = set()
        self.changelog_topic = self.kafka.changelog_topic or f"{self.kafka.group_id}.changelog"
        #: Events that arrived on a partition other than their source's home go here first.
        self.repartition_topic = f"{self.kafka.group_id}.repartition"
        #: FR-022: topics of OpenLineage events and their format.
        self.lineage_topics = frozenset(self.kafka.openlineage_topics)
        self.openlineage = OpenLineageFormat(config)
        #: FR-028: observed data topics, windowed per partition and merged per source.
        self.observer = Observer(config, self.monitor, self.stats)
        self._forward: list[Forward] = []
        #: Sends of alerts and dead letters not yet accounted for, oldest first.
        self._in_flight: list[_InFlight] = []
        #: The last checkpoint's state until it is acknowledged, and the commit that follows.
        self._state_sent: _InFlight | None = None
        self._committing: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.telemetry = telemetry if telemetry is not None else Telemetry.disabled()
        #: Input records by (topic, type) since the last batch, added to the counter per batch.
        self._consumed: Counter[tuple[str, str]] = Counter()
        self._positions: dict[TopicPartition, int] = {}
        #: Input offsets processed since the last checkpoint (committed with it).
        self._uncommitted: dict[TopicPartition, int] = {}
        self._checkpointed_at = time.monotonic()
        #: Input records read since the last checkpoint (``kafka.commit_records`` bounds them).
        self._read_since_checkpoint = 0
        #: Partitions assigned to us whose state is not restored yet (a failed attempt).
        self._restore_pending: set[int] = set()
        self._restore_failing_since: float | None = None
        self._restore_retry_at = 0.0
        self._restore_backoff = Backoff()
        self._restore_error = ""
        #: Dead letters found while restoring (unreadable state records), published next turn.
        self._state_dead: list[dict[str, Any]] = []
        #: NFR-001: the rolling snapshot cycle of each owned changelog partition.
        self.snapshots = SnapshotPlanner()
        #: Seconds the last restore took (None: none yet), for ``dq_state_restore_seconds``.
        self._restore_s: float | None = None
        #: NFR-001: the changelog read ahead while the first group join is under way (every
        #: partition: a lone instance gets them all); taken by the first restore.
        self._ahead: asyncio.Task[dict[int, changelog.SnapshotScan]] | None = None
        #: The last Kafka timestamp converted (milliseconds, datetime).
        self._last_ts: tuple[int, datetime] = (0, datetime.fromtimestamp(0, UTC))
        #: NFR-008: topics no record can be written to now; ``/readyz`` is false meanwhile.
        self.writes = WriteHealth()
        #: FR-025: a new configuration for the loop to apply between batches, and the future
        #: its caller awaits.
        self._reconfig: tuple[Config, asyncio.Future[None]] | None = None
        #: The loop is processing (``reconfigure`` hands it over; before and after, it applies
        #: at once).
        self._running = False
        self.telemetry.ready_checks["monitor"] = self.is_ready
        self.telemetry.ready_checks["monitor.writes"] = self.writes.ready
        self.telemetry.gauge("dq_series_tracked", lambda: [
            (len(s.series), self._source_label(name))
            for name, s in self.monitor.sources.items()])
        self.telemetry.gauge("dq_consumer_lag", self._lag)
        self.telemetry.gauge("dq_series_evicted", lambda: [
            (n, self._source_label(name)) for name, n in self.monitor.evicted.items()])
        self.telemetry.gauge("dq_state_restore", lambda: [] if self._restore_s is None else [
            (self._restore_s, {"topic": self.changelog_topic})])
        #: Each source's metric label, made once: a scrape reads thousands of them on the loop.
        self._labels: dict[str, dict[str, Any]] = {}

    def _source_label(self, name: str) -> dict[str, Any]:
        label = self._labels.get(name)
        if label is None:
            if len(self._labels) > 4 * len(self.monitor.sources) + 1024:
                self._labels.clear()  # sources gone (revoked, reconfigured) leave theirs
            label = self._labels[name] = {"source": name}
        return label

    def is_ready(self) -> bool:
        """Partitions assigned and every one of them restored."""
        return self.ready.is_set() and not self._restore_pending

    def _lag(self) -> list[tuple[float, dict[str, Any]]]:
        """Records between our position and the partition end, as last fetched."""
        consumer = self._consumer
        if consumer is None:
            return []
        out: list[tuple[float, dict[str, Any]]] = []
        for tp in consumer.assignment():
            end, pos = consumer.highwater(tp), self._positions.get(tp)
            if end is not None and pos is not None:
                out.append((max(0, end - pos), {"topic": tp.topic, "partition": tp.partition}))
        return out


def _format(headers: Any) -> str | None:
    """The format of a re-homed record that is not native (its ``FORMAT_HEADER``)."""
    if headers:
        for key, value in headers:
            if key == FORMAT_HEADER:
                return bytes(value).decode("utf-8", "replace")
    return None


def _kind_of(value: bytes | None) -> str | None:
    """The ``kind`` of a dead letter we wrote (None if it is not one)."""
    try:
        kind = orjson.loads(value or b"null").get("kind")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return kind if isinstance(kind, str) else None


def _summary(monitor_stats: Mapping[str, int], stats: Mapping[str, int]) -> str:
    parts = {**monitor_stats, **stats}
    return ", ".join(f"{k}={v}" for k, v in sorted(parts.items())) or "nothing processed"
