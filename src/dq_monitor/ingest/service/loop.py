"""``MonitorService``: lifecycle (connect, loop, reconfigure, shutdown) over the parts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import anyio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from dq_monitor.config import Config
from dq_monitor.errors import TopicSetupError
from dq_monitor.ingest.cadence import checkpoint_due
from dq_monitor.ingest.service.base import (
    MAX_POLL_S,
    _summary,
    log,
)
from dq_monitor.ingest.service.process import (
    ProcessMixin,
)
from dq_monitor.kafka import changelog, check_access, consumer_kwargs, producer_kwargs
from dq_monitor.kafka.backoff import Backoff, pause, quiet_stop
from dq_monitor.kafka.topics import COMPACT, ensure_topics, partition_counts
from dq_monitor.monitor import Outcome
from dq_monitor.monitor.dispatch import EVENT_STAT


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, service: MonitorService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.service.revoked_pending = {tp.partition for tp in revoked}

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.service.on_assigned(assigned)


class MonitorService(ProcessMixin):
    """Runs one ``Monitor`` against Kafka until ``stop`` is set.

    A failed state restore is loud, never a stall (NFR-006): the partitions stay unprocessed,
    ``/readyz`` turns false, ``dq_state_restore_failures_total`` counts each attempt, the loop
    retries with backoff, and after ``restore_deadline_s`` of failures ``run`` raises
    ``StateRestoreError`` so the process exits non-zero and an orchestrator restarts it.
    """

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
