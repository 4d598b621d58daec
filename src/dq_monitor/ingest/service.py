"""The monitor as a Kafka service: input topics → Monitor → alert topic, at least once (NFR-004).

One loop: fetch a batch, feed the core, run due timers and send its alerts and dead letters at
once. Every ``kafka.commit_interval``, or sooner once ``kafka.commit_records`` input records
have been read (a large fleet's checkpoint may wait longer: ``ingest.cadence``), a
checkpoint waits until those are acknowledged, sends the changed state, and commits the input
offsets only once that state is acknowledged too; the loop goes on judging while
acknowledgements and commits are under way (NFR-002). A crash at any point
re-does work on restart (the same alert may be written twice, with the same fingerprint), never
loses it. Broker outages are waited out with backoff; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from opentelemetry import trace

from dq_monitor import tracing
from dq_monitor.checkpoint_size import RECORD_OVERHEAD
from dq_monitor.collector import release_free_memory
from dq_monitor.config import Config
from dq_monitor.errors import DqMonitorError, MalformedEvent, TopicSetupError
from dq_monitor.events import decode_lean
from dq_monitor.formats import OpenLineageFormat
from dq_monitor.ingest import cadence
from dq_monitor.ingest.cadence import checkpoint_due
from dq_monitor.ingest.deadletter import malformed_event
from dq_monitor.ingest.observing import Observer, is_state_key
from dq_monitor.kafka import changelog, check_access, consumer_kwargs, producer_kwargs
from dq_monitor.kafka.backoff import Backoff, pause, quiet_stop
from dq_monitor.kafka.failures import (
    Verdict,
    WriteHealth,
    classify,
    reason,
    unwritable_record,
)
from dq_monitor.kafka.headers import FORMAT_HEADER, TRIGGERED_HEADER
from dq_monitor.kafka.topics import COMPACT, ensure_topics, partition_counts
from dq_monitor.monitor import Emitted, Monitor, Outcome
from dq_monitor.monitor.dispatch import EVENT_STAT
from dq_monitor.observe import wire
from dq_monitor.state.snapshots import SnapshotPlanner
from dq_monitor.telemetry import Telemetry

log = logging.getLogger("dq_monitor.service")

#: Longest wait between loop turns; bounds how late a stop request or a deadline is seen.
MAX_POLL_S = 0.2

Clock = Callable[[], datetime]
#: topic, key, value, partition, headers
Record = tuple[str, bytes | None, bytes | None, int | None, list[tuple[str, bytes]]]
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


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, service: MonitorService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.service.revoked_pending = {tp.partition for tp in revoked}

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.service.on_assigned(assigned)


class MonitorService:
    """Runs one ``Monitor`` against Kafka until ``stop`` is set.

    A failed state restore is loud, never a stall (NFR-006): the partitions stay unprocessed,
    ``/readyz`` turns false, ``dq_state_restore_failures_total`` counts each attempt, the loop
    retries with backoff, and after ``restore_deadline_s`` of failures ``run`` raises
    ``StateRestoreError`` so the process exits non-zero and an orchestrator restarts it.
    """

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

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: anyio.Event) -> None:
        """Connect (retrying while the broker is unreachable), then process until ``stop``."""
        if not await self._connect(stop):
            await self._read_ahead(set())  # stopped before any assignment
            return
        assert self._consumer is not None and self._producer is not None
        try:
            self._running = True
            await self._loop(stop)
        finally:
            self._running = False
            if self._reconfig is not None and not self._reconfig[1].done():
                self._reconfig[1].set_result(None)  # stopping: nothing more to judge
            with anyio.CancelScope(shield=True):
                await self._shutdown()

    async def reconfigure(self, config: Config) -> None:
        """FR-025: judge by ``config`` (validated, same ``kafka``) from the next batch on.

        The loop swaps it between two batches, so no event is judged half by one configuration
        and half by the other; what the swap resolves is published like any alert. Returns once
        the swap is done.
        """
        if not self._running:
            self.config = config
            outcome = self.monitor.reconfigure(config, self.clock())
            self.monitor.pending.alerts += outcome.alerts
            return
        if self._reconfig is not None:
            self._reconfig[1].cancel()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reconfig = (config, done)
        await asyncio.shield(done)

    def _apply_reconfig(self) -> Outcome:
        """The pending configuration, applied (called by the loop between batches)."""
        if self._reconfig is None:
            return Outcome()
        (config, done), self._reconfig = self._reconfig, None
        self.config = config
        out = self.monitor.reconfigure(config, self.clock())
        if not done.done():
            done.set_result(None)
        log.info("configuration applied: %d source(s) watched, %d alert(s) resolved as no "
                 "longer monitored", len(self.monitor.sources), len(out.alerts))
        return out

    async def _connect(self, stop: anyio.Event) -> bool:
        backoff = Backoff()
        # ``serve`` probed the cluster before starting us; probe again only after a failed
        # attempt, which may have been a refusal that looked like an outage (FR-020).
        failed = False
        while not stop.is_set():
            producer = AIOKafkaProducer(**producer_kwargs(self.kafka))
            consumer = AIOKafkaConsumer(**consumer_kwargs(self.kafka, self.kafka.group_id,
                                                         static=True))
            try:
                if failed:
                    await check_access(self.kafka, self.kafka.bootstrap_servers)
                await producer.start()
                parts = await self._input_partitions()
                if parts == 0:
                    await quiet_stop(consumer, producer)
                    await pause(backoff.next(), stop)
                    continue
                await ensure_topics(self.kafka, {
                    self.kafka.alert_topic: (1, {}),
                    self.kafka.dead_letter_topic: (1, {}),
                    self.changelog_topic: (parts, COMPACT),
                    self.repartition_topic: (parts, {}),
                })
                self.monitor.partition_count = parts
                if self._ahead is None and not self.monitor.owned:
                    self._ahead = asyncio.create_task(changelog.read_ahead(
                        self.kafka, self.changelog_topic, range(parts), producer))
                await consumer.start()
                consumer.subscribe([*self.kafka.input_topics, *self.kafka.openlineage_topics,
                                    *sorted(self.observer.topics), self.repartition_topic],
                                   listener=_Rebalance(self))
            except TopicSetupError:  # NFR-008: refused for good; the message says what to do
                await quiet_stop(consumer, producer)
                raise
            except (KafkaError, OSError) as exc:
                failed = True
                delay = backoff.next()
                log.warning("broker %s unreachable (%s); retrying in %.1fs",
                            self.kafka.bootstrap_servers, type(exc).__name__, delay)
                await quiet_stop(consumer, producer)
                await pause(delay, stop)
                continue
            self._producer, self._consumer = producer, consumer
            log.info("connected to %s; waiting for partitions of %s",
                     self.kafka.bootstrap_servers, ", ".join(self.kafka.input_topics))
            return True
        return False

    async def _input_partitions(self) -> int:
        """Partition count shared by the input topics (they must be co-partitioned to scale out);
        0 while an input topic (OpenLineage topics included) does not exist yet."""
        topics = [*self.kafka.input_topics, *self.kafka.openlineage_topics,
                  *sorted(self.observer.topics)]
        counts = await partition_counts(self.kafka, topics)
        missing = [t for t in topics if t not in counts]
        if missing:
            log.warning("input topic(s) %s do not exist yet; waiting", ", ".join(missing))
            return 0
        # OpenLineage and observed topics need not match (their records are re-homed by
        # payload or merged per source), so the native topics alone decide the homes.
        self.observer.partitions = {t: counts[t] for t in self.observer.topics}
        native = {t: counts[t] for t in self.kafka.input_topics}
        if len(set(native.values())) > 1:
            log.warning("input topics have different partition counts %s: scale-out needs "
                        "co-partitioned topics", native)
        return max(native.values())

    async def _shutdown(self) -> None:
        await self._read_ahead(set())  # not needed any more
        if self._producer is not None and self._consumer is not None:
            try:
                await self._publish(Outcome(), [])
                await self._checkpoint(self._consumer, wait=True)  # last state, then offsets
            except Exception:
                log.warning("final checkpoint not written; state will be rebuilt on restart")
        await quiet_stop(self._consumer, self._producer)
        log.info("stopped: %s", _summary(self.monitor.stats, self.stats))

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Restore state of newly owned partitions from the changelog, then start watching.

        Runs inside the client's rebalance callback, where an exception would only be logged by
        the client: a failure is kept in ``_restore_pending`` and retried by the loop instead.
        """
        observed = self.observer.topics
        # FR-028: observed partitions hold no home state; their numbers are not homes.
        self.observer.assign({tp for tp in assigned if tp.topic in observed}, self.clock())
        for tp in [tp for tp in self._positions if tp.topic in observed]:
            del self._positions[tp]  # read again from the committed offset
        if observed:
            log.info("observing %s", ", ".join(sorted(
                f"{tp.topic}[{tp.partition}]" for tp in self.observer.reading)) or "nothing")
        numbers = {tp.partition for tp in assigned if tp.topic not in observed}
        lost = (self.revoked_pending | self.monitor.owned) - numbers
        self.monitor.revoke(lost)
        self.observer.revoke_homes(lost)
        self.snapshots.drop(lost)
        self.revoked_pending = set()
        self._restore_pending &= numbers
        await self._restore(numbers - self.monitor.owned)
        log.info("assigned partitions %s (%d sources watched)", sorted(numbers),
                 len(self.monitor.sources))
        self.ready.set()

    async def _read_ahead(self, new: set[int]) -> dict[int, changelog.SnapshotScan]:
        """The partitions of ``new`` read ahead (NFR-001), once. A read-ahead still running
        is awaited only if every partition it reads was assigned; otherwise it is cancelled
        (the others' work is discarded). A failed one only costs the time it took."""
        task, self._ahead = self._ahead, None
        if task is None:
            return {}
        if not task.done() and not new >= set(range(self.monitor.partition_count)):
            task.cancel()
        try:
            scans = await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            return {}
        except Exception as exc:
            log.warning("reading %s ahead of the assignment failed (%s: %s); restoring after "
                        "it", self.changelog_topic, type(exc).__name__, exc)
            return {}
        return {p: scan for p, scan in scans.items() if p in new}

    async def _restore(self, new: set[int]) -> None:
        ahead = await self._read_ahead(new)
        if not new:
            return
        assert self._producer is not None
        now = self.clock()
        try:
            done = await changelog.restore_state(
                self.kafka, self.changelog_topic, new, self._producer,
                lambda p, key, value: (self.observer.restore(p, key, value) if is_state_key(key)
                                       else self.monitor.restore(p, key, value, now)),
                on_unreadable=self._state_dead.append, ahead=ahead,
            )
        except Exception as exc:  # broker errors or anything else: loud, retried, bounded
            self._restore_pending |= new
            self._restore_error = f"{type(exc).__name__}: {exc}"
            mono = time.monotonic()
            if self._restore_failing_since is None:
                self._restore_failing_since = mono
            self._restore_retry_at = mono + self._restore_backoff.next()
            self.stats["restore.failed"] += 1
            self.telemetry.restore_failures.add(1, {"topic": self.changelog_topic})
            log.error("state restore of %s partitions %s failed (%s); not ready, retrying",
                      self.changelog_topic, sorted(new), self._restore_error)
            return
        self._restore_s = done.seconds
        for p in new:
            end = done.ends.get(p)
            self.snapshots.restored(p, done.read.get(p, 0), done.keys.get(p, 0),
                                    None if end is None else end + 1)
        self.stats["restore.replayed"] += done.replayed
        self.telemetry.records_replayed.add(done.replayed, {"topic": self.changelog_topic})
        self._restore_pending -= new
        if not self._restore_pending:
            self._restore_failing_since = None
            self._restore_backoff.reset()
        self.monitor.assign(new, self.clock())
        if self._state_dead:
            self.stats["restore.unreadable"] += len(self._state_dead)

    async def _retry_restore(self) -> None:
        """Called by the loop while a restore is pending: retry, or give up after the deadline."""
        mono = time.monotonic()
        since = self._restore_failing_since
        if since is not None and mono - since > self.restore_deadline_s:
            raise StateRestoreError(
                f"state of {self.changelog_topic} partitions {sorted(self._restore_pending)} "
                f"not restored after {self.restore_deadline_s:.0f}s ({self._restore_error})")
        if mono >= self._restore_retry_at:
            await self._restore(set(self._restore_pending))

    # ------------------------------------------------------------------ the loop

    async def _loop(self, stop: anyio.Event) -> None:
        consumer = self._consumer
        assert consumer is not None
        stats = self.monitor.stats
        while not stop.is_set():
            if self._restore_pending:
                await self._retry_restore()
            if self._reconfig is not None:
                await self._publish(self._apply_reconfig(), [])
            timeout = MAX_POLL_S
            wake = self.monitor.next_wakeup()
            if wake is not None:
                timeout = min(timeout, max(0.0, (wake - self.clock()).total_seconds()))
            batch = await consumer.getmany(timeout_ms=int(timeout * 1000), max_records=1000)
            now = self.clock()
            out = Outcome()
            dead: list[dict[str, Any]] = []
            offsets: dict[TopicPartition, int] = {}
            observer = self.observer
            for tp, records in batch.items():
                if tp in observer.reading:  # FR-028: a partition of an observed topic
                    observer.on_records(tp, records, now)
                    self.stats[f"consumed.{tp.topic}"] += len(records)
                    self._consumed[tp.topic, "observed"] += len(records)
                    self._read_since_checkpoint += len(records)
                    self._positions[tp] = records[-1].offset + 1
                    continue
                if tp.topic in observer.by_topic:
                    continue  # fetched before the assignment reached us; read again then
                if tp.partition not in self.monitor.owned:
                    # Fetched while the rebalance callback is still restoring this partition's
                    # state (it runs in the client's own task): read these again afterwards.
                    consumer.seek(tp, records[0].offset)
                    continue
                log.debug("batch %s[%d] offsets %d..%d", tp.topic, tp.partition,
                          records[0].offset, records[-1].offset)
                # Judged events are counted by the core's own per-type stats: the difference
                # over the batch is what this topic brought (no second counter per event).
                judged = {kind: stats[key] for kind, key in EVENT_STAT.items()}
                self._process(tp, records, now, out, dead)
                for kind, key in EVENT_STAT.items():
                    self._consumed[tp.topic, kind] += stats[key] - judged[kind]
                self.stats[f"consumed.{tp.topic}"] += len(records)
                self._read_since_checkpoint += len(records)
                offsets[tp] = self._positions[tp] = records[-1].offset + 1
            for (topic, kind), n in self._consumed.items():
                if n:
                    self.telemetry.events.add(n, {"topic": topic, "type": kind})
            self._consumed.clear()
            if observer.reading:
                self._observe(now, offsets)
            tick = self.monitor.on_tick(now)
            out.alerts += tick.alerts
            out.dead_letters += tick.dead_letters
            await self._publish(out, dead)  # alerts sent at once (NFR-002)
            self._uncommitted.update(offsets)
            state = self._state_sent
            if state is not None and state.acks is not None and state.acks.done():
                await self._checkpointed(consumer)
            if checkpoint_due(self.kafka, time.monotonic() - self._checkpointed_at,
                              self._read_since_checkpoint, self._changed()):
                await self._checkpoint(consumer)

    def _changed(self) -> int:
        """State records the next checkpoint would write, at most (``ingest.cadence``)."""
        monitor = self.monitor
        return (len(monitor.dirty) + monitor.dirty_series + len(monitor.tombstones)
                + len(self.observer.dirty))

    async def _checkpoint(self, consumer: AIOKafkaConsumer, *, wait: bool = False) -> None:
        """Send the state changed since the last checkpoint; its input offsets are committed
        once that state is acknowledged (``_checkpointed``). NFR-004 order: alerts and dead
        letters durable, then state, then offsets. Every ``kafka.commit_interval`` (or
        ``kafka.commit_records`` records; a large one later, ``ingest.cadence``), not every batch:
        a series that changed many times is written once, and a crash re-reads at most an
        interval or two. Neither the state nor
        the commit holds up the loop unless ``wait`` (at shutdown)."""
        await self._settle()  # alerts and dead letters durable first
        if self._state_sent is not None:
            await self._checkpointed(consumer)  # the previous checkpoint, in order
        self._checkpointed_at = time.monotonic()
        self._read_since_checkpoint = 0
        records = self._state_records()
        self.stats["checkpoints"] += 1
        self.stats["checkpoint.records"] += len(records)
        offsets, self._uncommitted = self._uncommitted, {}
        sent = _InFlight(records, [], [], [])
        self._state_sent = sent
        # A failed send leaves it without acks: ``_checkpointed`` writes it again, retrying.
        with contextlib.suppress(KafkaError):
            sent.acks = asyncio.gather(*await self._send_batched(records),
                                       return_exceptions=True)
        sent.offsets = offsets
        if wait:
            await self._checkpointed(consumer)
            if self._committing is not None:
                await self._committing

    def _state_records(self) -> list[Record]:
        """A checkpoint's changelog records: per owned partition, the end marker of a snapshot
        cycle that completed, the state changed since the last checkpoint, and the owed keys
        of the running cycle it refreshes (``state.snapshots``)."""
        topic = self.changelog_topic
        changed = [*self.monitor.take_dirty(), *self.observer.take_dirty()]
        written: dict[int, list[str]] = {p: [] for p in self.monitor.owned}
        for p, key, _ in changed:
            written.setdefault(p, []).append(key)
        markers: list[Record] = []
        refreshed: list[Record] = []
        for p in sorted(self.monitor.owned):
            plan = self.snapshots.plan(p, written[p], partial(self._state_keys, p))
            if plan.marker_from is not None:
                marker, start = changelog.snapshot_marker(plan.marker_from)
                markers.append((topic, marker, start, p, []))
            for key in plan.refresh:
                value = (self.observer.snapshot(key) if is_state_key(key)
                         else self.monitor.snapshot(key))
                refreshed.append((topic, key.encode(), changelog.encode(value), p, []))
        return [*markers,
                *[(topic, key.encode(), changelog.encode(value), p, [])
                  for p, key, value in changed],
                *refreshed]

    def _state_keys(self, partition: int) -> list[str]:
        return [*self.monitor.state_keys(partition), *self.observer.state_keys(partition)]

    async def _checkpointed(self, consumer: AIOKafkaConsumer) -> None:
        """Once the last checkpoint's state is durable (re-sent through outages if a send
        failed), commit its offsets in the background. A snapshot cycle learns where its
        records landed; one whose records were re-sent or refused starts over."""
        sent, self._state_sent = self._state_sent, None
        assert sent is not None
        results = [] if sent.acks is None else await asyncio.shield(sent.acks)
        if sent.acks is None or any(isinstance(r, BaseException) for r in results):
            self.snapshots.restart({r[3] for r in sent.records if r[3] is not None})
            await self._refused(sent.records, await self._write_all(sent.records))
        else:
            self._written(sent.records)
            first: dict[int, int] = {}
            for meta in results:
                p, offset = meta.partition, meta.offset
                if offset >= 0 and offset < first.get(p, offset + 1):
                    first[p] = offset
            count = Counter(r[3] for r in sent.records)
            for p, offset in first.items():
                self.snapshots.acked(p, offset, count[p])
        if len(sent.records) > cadence.SMALL:
            sent.records.clear()
            sent.acks = None  # and its acknowledgements: freed before the trim, not after it
            results.clear()
            release_free_memory()  # NFR-005: the burst's buffers, not its high-water mark
        if sent.offsets:
            if self._committing is not None:
                await self._committing  # commits stay in order
            self._committing = asyncio.create_task(self._commit(consumer, sent.offsets))

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

    async def _publish(self, out: Outcome, dead: list[dict[str, Any]]) -> None:
        """Send alerts and dead letters now, without waiting for their acknowledgement: the
        loop goes on judging while they are acknowledged (NFR-002), and ``_checkpoint`` waits
        for every one of them before it writes state or commits offsets.

        The order matters without transactions: a checkpoint saying "alert X is firing" must
        never be durable while alert X is not, or a restart would restore the state, re-read the
        input, see nothing new and never send X. The reverse (alert durable, checkpoint lost)
        only re-sends X with the same fingerprint.
        """
        forward, self._forward = self._forward, []
        if forward:  # durable before the input offsets are committed, like alerts (NFR-004)
            records = [r for r, _ in forward]
            await self._refused(records, await self._write_all(records,
                                                               [ts for _, ts in forward]))
        spans = []
        outputs: list[Record] = []
        for e in out.alerts:
            headers = [(TRIGGERED_HEADER, str(int(e.triggered_at.timestamp() * 1000)).encode())]
            if self.telemetry.tracing:
                span = tracing.start_alert_span(self.telemetry.tracer, e.alert, e.trace,
                                                e.triggered_at)
                spans.append(span)
                headers.append(tracing.header_of(span))
            outputs.append((self.kafka.alert_topic, e.alert.fingerprint.encode(),
                            e.alert.to_json(), None, headers))
        if self._state_dead:
            dead, self._state_dead = [*self._state_dead, *dead], []
        outputs += [
            (self.kafka.dead_letter_topic, None, orjson.dumps(d), None, [])
            for d in [*dead, *out.dead_letters]
        ]
        if not outputs:
            return
        if spans:
            spans = [*(self.telemetry.tracer.start_span(
                "produce alert", context=trace.set_span_in_context(s)) for s in spans), *spans]
        sent = _InFlight(outputs, out.alerts, [*dead, *out.dead_letters], spans)
        self._in_flight.append(sent)
        try:
            futures = [await self._producer_send(r) for r in outputs]
        except KafkaError:
            await self._settle()  # this one and all before it, in order, retried until acked
            return
        sent.acks = asyncio.gather(*futures, return_exceptions=True)
        sent.acks.add_done_callback(lambda _: self._acked(sent))

    async def _producer_send(self, record: Record) -> asyncio.Future[Any]:
        topic, key, value, partition, headers = record
        assert self._producer is not None
        fut: asyncio.Future[Any] = await self._producer.send(
            topic, value=value, key=key, partition=partition, headers=headers)
        return fut

    async def _send_batched(self, records: list[Record]) -> list[asyncio.Future[Any]]:
        """Send records that name their partition as one batch per partition (a per-record
        ``send`` costs tens of microseconds of Python each; a checkpoint has hundreds), in
        order; a record too large for a batch of its own goes alone. One that may be over
        ``kafka.max_request_size`` goes through ``send``, which checks it (a batch is not
        checked): NFR-008, it is refused, not written past the limit."""
        producer = self._producer
        assert producer is not None
        futures: list[asyncio.Future[Any]] = []
        by_partition: dict[tuple[str, int], list[Record]] = {}
        limit = self.kafka.max_request_size - RECORD_OVERHEAD
        for record in records:
            if record[3] is None or len(record[1] or b"") + len(record[2] or b"") > limit:
                futures.append(await self._producer_send(record))
            else:
                by_partition.setdefault((record[0], record[3]), []).append(record)
        for (topic, partition), group in by_partition.items():
            batch, n = producer.create_batch(), 0
            for record in group:
                _, key, value, _, headers = record
                if batch.append(key=key, value=value, timestamp=None, headers=headers):
                    n += 1
                    continue
                if n:  # full: send it and start the next one with this record
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch, n = producer.create_batch(), 0
                    if batch.append(key=key, value=value, timestamp=None, headers=headers):
                        n = 1
                        continue
                    batch = producer.create_batch()
                futures.append(await self._producer_send(record))
            if n:
                batch.close()
                futures.append(await producer.send_batch(batch, topic, partition=partition))
        return futures

    def _acked(self, sent: _InFlight) -> None:
        """Done callback of a send: finish it at once when every record was acknowledged (a
        failure is left to ``_settle``, which re-sends in order)."""
        acks = sent.acks
        if acks is None or acks.cancelled():
            return
        if not any(isinstance(r, BaseException) for r in acks.result()):
            self._finish(sent, self.clock())

    def _finish(self, sent: _InFlight, acked: datetime, refused: set[int] | None = None) -> None:
        """Account for records that are durable: spans, counters, latency, ``on_published``.
        ``refused``: indexes of records refused for good, which are not (see ``_refused``)."""
        if sent.finished:
            return
        sent.finished = True
        for span in sent.spans:
            span.end()
        alerts, dead = sent.alerts, sent.dead
        if refused:
            n = len(alerts)
            alerts = [e for i, e in enumerate(alerts) if i not in refused]
            dead = [d for i, d in enumerate(dead, n) if i not in refused]
        self._written(sent.records)
        self.stats["alerts.published"] += len(alerts)
        self.stats["dead_lettered"] += len(dead)
        self._record(alerts, dead, acked)
        if self.on_published is not None:
            for e in alerts:
                self.on_published(e, acked)

    def _written(self, records: list[Record]) -> None:
        """NFR-008: a topic refused earlier takes records again (``/readyz`` may turn true)."""
        if self.writes.refused:
            for topic in {r[0] for r in records}:
                self.writes.written(topic)

    async def _settle(self) -> None:
        """Wait until every record sent by ``_publish`` is acknowledged. From the first send
        that failed on, everything is sent again in order and retried through outages (a
        duplicate alert, same fingerprint, is allowed; a loss is not)."""
        in_flight, self._in_flight = self._in_flight, []
        for i, sent in enumerate(in_flight):
            if sent.acks is not None:
                results = await asyncio.shield(sent.acks)
                if not any(isinstance(r, BaseException) for r in results):
                    self._finish(sent, self.clock())
                    continue
            for again in in_flight[i:]:
                if not again.finished:
                    refused = await self._write_all(again.records)
                    self._finish(again, self.clock(), {j for j, _ in refused})
                    await self._refused(again.records, refused)
            return

    async def _write_all(
        self, records: list[Record], timestamps: list[int | None] | None = None
    ) -> list[tuple[int, BaseException]]:
        """Send all records and wait for every acknowledgement, retrying through outages.

        NFR-008: a record refused for good (``kafka.failures``) is not sent again; it is
        returned as (index, error) for the caller to dead-letter or skip. Every retry resends
        all the others in order: a duplicate alert (same fingerprint) is allowed, a loss or a
        firing after its resolve is not."""
        stamps = timestamps or [None] * len(records)
        producer = self._producer
        assert producer is not None
        backoff = Backoff()
        refused: dict[int, BaseException] = {}
        while True:
            failure: BaseException | None = None
            sent: list[tuple[int, asyncio.Future[Any]]] = []
            for i, ((topic, key, value, partition, headers), ts) in enumerate(
                    zip(records, stamps, strict=True)):
                if i in refused:
                    continue
                try:
                    sent.append((i, await producer.send(
                        topic, value=value, key=key, partition=partition, headers=headers,
                        timestamp_ms=ts)))
                except KafkaError as exc:
                    if self.writes.failed(topic, exc).final:
                        refused[i] = exc
                        continue
                    failure = exc
                    break
            results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
            for (i, _), result in zip(sent, results, strict=True):
                if not isinstance(result, BaseException):
                    self.writes.written(records[i][0])
                elif self.writes.failed(records[i][0], result).final:
                    refused[i] = result
                elif failure is None:
                    failure = result
            if failure is None:
                return sorted(refused.items(), key=lambda item: item[0])
            delay = backoff.next()
            log.warning("could not write %d record(s) (%s); retrying in %.1fs",
                        len(records) - len(refused), type(failure).__name__, delay)
            await pause(delay)

    async def _refused(self, records: list[Record],
                       refused: list[tuple[int, BaseException]]) -> None:
        """NFR-008: records the cluster or the producer refused for good, never retried.

        An alert or a rerouted event is dead-lettered as ``unwritable_record`` with the reason
        (its key and value cut short); so is a dead letter refused as a record (too large). A
        state record is skipped: the next checkpoint of that state writes it afresh. Each is
        logged and counted (``dq_unwritable_records``); a dead letter about them that cannot be
        written either is logged, counted and dropped, never a stall."""
        if not refused:
            return
        dead: list[dict[str, Any]] = []
        for i, exc in refused:
            topic, key, value, partition, _ = records[i]
            about_dead = topic == self.kafka.dead_letter_topic
            kind = _kind_of(value) if about_dead else None
            relay = (topic in (self.kafka.alert_topic, self.repartition_topic)
                     or (about_dead and kind != "unwritable_record"
                         and classify(exc) is Verdict.RECORD))
            action = "dead_lettered" if relay else "skipped"
            self.stats[f"unwritable.{action}"] += 1
            self.telemetry.unwritable.add(1, {"topic": topic, "error": type(exc).__name__,
                                              "action": action})
            log.error("record for %s[%s] refused for good (%s); %s", topic,
                      "any" if partition is None else partition, reason(exc),
                      "dead-lettered" if relay else "dropped" if about_dead
                      else "skipped (the next checkpoint writes this state afresh)")
            if relay:
                dead.append(unwritable_record(topic, partition, key, value, exc,
                                              max_request_size=self.kafka.max_request_size))
        if not dead:
            return
        letters: list[Record] = [(self.kafka.dead_letter_topic, None, orjson.dumps(d), None, [])
                                 for d in dead]
        lost = await self._write_all(letters)
        for i, exc in lost:
            self.stats["unwritable.dropped"] += 1
            self.telemetry.unwritable.add(1, {"topic": self.kafka.dead_letter_topic,
                                              "error": type(exc).__name__, "action": "dropped"})
            log.error("dead letter of a refused record for %s not written either (%s); dropped",
                      dead[i]["topic"], reason(exc))
        lost_at = {i for i, _ in lost}
        written = [d for i, d in enumerate(dead) if i not in lost_at]
        self.stats["dead_lettered"] += len(written)
        for d in written:
            self.telemetry.dead_letters.add(1, {"kind": d["kind"]})

    def _record(self, alerts: list[Emitted], dead: list[dict[str, Any]],
                acked: datetime) -> None:
        tel = self.telemetry
        for e in alerts:
            a = e.alert
            tel.alerts.add(1, {"check": a.check, "severity": a.severity, "status": a.status})
            if a.status == "firing":
                tel.detection_latency.record(
                    max(0.0, (acked - e.triggered_at).total_seconds()),
                    {"check": a.check, "severity": a.severity})
        for d in dead:
            tel.dead_letters.add(1, {"kind": d["kind"]})

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        owned = {tp: o for tp, o in offsets.items() if tp in consumer.assignment()}
        if not owned:
            return
        try:
            await consumer.commit(owned)
            log.debug("committed %s", {f"{tp.topic}[{tp.partition}]": o for tp, o in
                                        owned.items()})
        except CommitFailedError:
            # The group rebalanced: the new owner re-reads these records (at least once).
            log.info("commit skipped after a rebalance; records will be re-read")
        except KafkaError as exc:
            log.warning("commit failed (%s); records will be re-read", type(exc).__name__)


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
