"""The alert router: alert topic → matched channels, at least once, each channel on its own.

It reads the alert topic with its own consumer group and commits an alert's offset only once
every channel it routes to has delivered it or dead-lettered it (FR-010), so a crash re-delivers
rather than loses. Each channel has a bounded queue and its own worker: a slow or dead channel
never delays another, and a full queue dead-letters the overflow visibly instead of blocking the
rest. Delivered keys go to a compacted delivery-log topic read back at start, so dedup (FR-009)
and "resolved goes where firing went" survive restarts. Reminders for alerts still firing after
``dedup_window`` are sent from the log with ``repeat: true``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode
from pydantic import ValidationError

from dq_monitor import tracing
from dq_monitor.channels import build_channel
from dq_monitor.channels.base import Channel
from dq_monitor.config import Config
from dq_monitor.events import Alert, format_rfc3339
from dq_monitor.ingest import changelog
from dq_monitor.ingest.service import TRIGGERED_HEADER
from dq_monitor.ingest.topics import COMPACT, ensure_topics
from dq_monitor.kafka import check_access, consumer_kwargs, producer_kwargs
from dq_monitor.routing.dedup import Decision, DeliveryLog
from dq_monitor.routing.match import route_channels
from dq_monitor.routing.retry import RetryPolicy, deliver_with_retry
from dq_monitor.telemetry import Telemetry

log = logging.getLogger("dq_monitor.router")

MAX_BACKOFF_S = 30.0


@dataclass(slots=True)
class Job:
    alert: Alert
    channel: str
    repeat: bool
    triggered_at: float | None
    done: Callable[[], None]
    #: The alert's trace (from the record's ``traceparent``), parent of the delivery span.
    trace: Context | None = None


@dataclass(slots=True)
class _Pending:
    """Offsets of one partition still being delivered; the commit point is the lowest one."""

    open: dict[int, int] = field(default_factory=dict)  # offset → channel jobs left
    high: int = -1  # highest offset read

    def commit_point(self) -> int:
        return min(self.open) if self.open else self.high + 1


class AlertRouter:
    def __init__(
        self,
        config: Config,
        *,
        telemetry: Telemetry | None = None,
        channels: dict[str, Channel] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.kafka = config.kafka
        self.telemetry = telemetry
        self.clock = clock
        self.policy = RetryPolicy.from_config(config.routing.retry)
        self.log = DeliveryLog(config.routing.dedup_window)
        self.channels = channels if channels is not None else {}
        self.stats: Counter[str] = Counter()
        self.ready = anyio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._pending: dict[TopicPartition, _Pending] = {}
        self._queues: dict[str, MemoryObjectSendStream[Job]] = {}
        if telemetry is not None:
            telemetry.ready_checks["router"] = self.ready.is_set

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: anyio.Event) -> None:
        producer, consumer = await self._connect(stop)
        if producer is None or consumer is None:
            return
        self._producer = producer
        try:
            await self._load_log(producer)
            for name, cfg in self.config.channels.items():
                if name not in self.channels:
                    self.channels[name] = build_channel(name, cfg, producer=producer)
            async with anyio.create_task_group() as tg:
                for name in self.config.channels:
                    send, receive = anyio.create_memory_object_stream[Job](
                        self.config.routing.queue_size)
                    self._queues[name] = send
                    tg.start_soon(self._worker, name, receive)
                tg.start_soon(self._reminders, stop)
                self.ready.set()
                log.info("router ready: %d channel(s), %d route(s)", len(self.channels),
                         len(self.config.routing.routes))
                await self._loop(consumer, stop)
                for q in self._queues.values():
                    await q.aclose()  # workers drain what is queued, then end
                with anyio.move_on_after(5):
                    while any(p.open for p in self._pending.values()):
                        await anyio.sleep(0.05)
                        await self._commit(consumer)
                tg.cancel_scope.cancel()
            await self._commit(consumer)
        finally:
            with anyio.CancelScope(shield=True):
                for ch in self.channels.values():
                    await ch.aclose()
                for client in (consumer, producer):
                    try:
                        await client.stop()
                    except Exception:
                        log.debug("client stop failed", exc_info=True)
            log.info("router stopped: %s", dict(self.stats))

    async def _connect(
        self, stop: anyio.Event
    ) -> tuple[AIOKafkaProducer | None, AIOKafkaConsumer | None]:
        delay = 0.5
        while not stop.is_set():
            producer = AIOKafkaProducer(**producer_kwargs(self.kafka))
            consumer = AIOKafkaConsumer(
                self.kafka.alert_topic, **consumer_kwargs(self.kafka, self.kafka.router_group))
            try:
                await check_access(self.kafka, self.kafka.bootstrap_servers)
                await producer.start()
                await ensure_topics(self.kafka, {
                    self.kafka.alert_topic: (1, {}),
                    self.kafka.dead_letter_topic: (1, {}),
                    self.kafka.delivery_log: (1, COMPACT),
                })
                await consumer.start()
                return producer, consumer
            except (KafkaError, OSError) as exc:
                log.warning("router: broker %s unreachable (%s); retrying in %.1fs",
                            self.kafka.bootstrap_servers, type(exc).__name__, delay)
                for client in (consumer, producer):
                    try:
                        await client.stop()
                    except Exception:
                        log.debug("client stop failed", exc_info=True)
                with anyio.move_on_after(delay):
                    await stop.wait()
                delay = min(delay * 2, MAX_BACKOFF_S)
        return None, None

    async def _load_log(self, producer: AIOKafkaProducer) -> None:
        entries: list[tuple[bytes, bytes | None]] = []
        await changelog.restore(
            self.kafka, self.kafka.delivery_log, [0], producer,
            lambda _p, key, value: entries.append(
                (key.encode(), None if value is None else orjson.dumps(value))),
        )
        self.log.load(entries)

    # ------------------------------------------------------------------ reading

    async def _loop(self, consumer: AIOKafkaConsumer, stop: anyio.Event) -> None:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            for tp, records in batch.items():
                pending = self._pending.setdefault(tp, _Pending())
                for rec in records:
                    pending.high = max(pending.high, rec.offset)
                    await self._route(tp, rec)
            await self._commit(consumer)

    async def _route(self, tp: TopicPartition, rec: Any) -> None:
        try:
            alert = Alert.from_json(rec.value)
        except (ValidationError, ValueError, TypeError) as exc:
            await self._dead_letter({
                "kind": "malformed_alert", "reason": str(exc).splitlines()[0],
                "topic": tp.topic, "partition": tp.partition, "offset": rec.offset,
            })
            return
        triggered = _header_ms(rec.headers, TRIGGERED_HEADER)
        if alert.status == "firing":
            targets = route_channels(self.config.routing.routes, alert)
        elif self.log.knows(alert.fingerprint):
            targets = sorted(self.log.firing_channels(alert.fingerprint))
        else:
            # No delivery of this episode on record here (its firing was delivered by another
            # router before a failover): the route rules decide, so the recovery is not lost.
            self.stats["resolved.unseen_episode"] += 1
            targets = route_channels(self.config.routing.routes, alert)
        jobs = [c for c in targets if c in self._queues]
        if not jobs:
            return
        pending = self._pending[tp]
        pending.open[rec.offset] = len(jobs)

        def done(offset: int = rec.offset) -> None:
            left = pending.open[offset] - 1
            if left:
                pending.open[offset] = left
            else:
                del pending.open[offset]

        parent = tracing.extract(rec.headers)
        for channel in jobs:
            await self._enqueue(Job(alert, channel, False, triggered, done, parent))

    async def _enqueue(self, job: Job) -> None:
        try:
            self._queues[job.channel].send_nowait(job)
            self.log.queue(job.alert, job.channel)
        except anyio.WouldBlock:
            # A full queue must not stall the other channels: overflow is dead-lettered, loudly.
            await self._undeliverable(job, "channel queue full", 0)
            job.done()

    # ------------------------------------------------------------------ delivering

    async def _worker(self, name: str, jobs: MemoryObjectReceiveStream[Job]) -> None:
        channel = self.channels[name]
        async with jobs:
            async for job in jobs:
                try:
                    # Dedup is decided here, in the channel's own order, so a copy queued
                    # behind its original sees the original's delivery (FR-009).
                    decision = self.log.decide(job.alert, job.channel, self.clock())
                    stale = job.repeat and decision is not Decision.SEND_REMINDER
                    if decision is Decision.SKIP_DUPLICATE or stale:
                        # a duplicate, or a reminder the episode no longer needs (resolved,
                        # escalated or just delivered since it was queued)
                        if job.repeat:
                            self.log.reminder_failed(job.alert, job.channel)
                        self._count(job.channel, "deduplicated")
                    else:
                        job.repeat = job.repeat or decision is Decision.SEND_REMINDER
                        await self._deliver(channel, job)
                finally:
                    self.log.done(job.alert, job.channel)
                    job.done()

    async def _deliver(self, channel: Channel, job: Job) -> None:
        span = None
        if self.telemetry is not None:
            span = self.telemetry.tracer.start_span(
                f"deliver {job.channel}", context=job.trace,
                attributes={"dq.channel": job.channel, "dq.repeat": job.repeat})
        try:
            await self._deliver_traced(channel, job, span)
        finally:
            if span is not None:
                span.end()

    async def _deliver_traced(self, channel: Channel, job: Job, span: Span | None) -> None:
        outcome = await deliver_with_retry(channel, job.alert, job.repeat, self.policy)
        if span is not None:
            span.set_attribute("dq.attempts", outcome.attempts)
            if not outcome.ok:
                span.set_status(Status(StatusCode.ERROR, outcome.reason or "undeliverable"))
        if outcome.attempts > 1:
            self._count(job.channel, "retried", outcome.attempts - 1)
        if not outcome.ok:
            self._count(job.channel, "failed")
            await self._undeliverable(job, outcome.reason or "delivery failed", outcome.attempts)
            return
        if outcome.undelivered is not None:  # FR-011: delivered, but not to everyone
            self._count(job.channel, "partial")
            await self._undeliverable(job, outcome.undelivered.reason, outcome.attempts,
                                      recipients=outcome.undelivered.recipients)
        else:
            self._count(job.channel, "ok")
        now = self.clock()
        if self.telemetry is not None and job.triggered_at is not None:
            self.telemetry.alert_latency.record(
                max(0.0, now - job.triggered_at),
                {"channel": job.channel, "check": job.alert.check,
                 "severity": job.alert.severity})
        for key, value in self.log.record(job.alert, job.channel, now, repeat=job.repeat):
            await self._write(self.kafka.delivery_log, key, value)

    async def _reminders(self, stop: anyio.Event) -> None:
        """Re-send alerts still firing ``dedup_window`` after their last delivery."""
        interval = min(30.0, max(0.5, self.config.routing.dedup_window / 10))
        while not stop.is_set():
            with anyio.move_on_after(interval):
                await stop.wait()
            if stop.is_set():
                return
            for alert, channel in self.log.due_reminders(self.clock()):
                if channel in self._queues:
                    await self._enqueue(Job(alert, channel, True, None, lambda: None))

    async def _undeliverable(self, job: Job, reason: str, attempts: int, *,
                             recipients: tuple[str, ...] | None = None) -> None:
        """Dead-letter a delivery that failed, or (``recipients``) the part of it that did.

        A ``resolved`` that could not be delivered still ends its episode on the channel, as a
        delivered one would: no reminders for an alert that is over, and the next firing of the
        same check is news (not a duplicate of the old episode).
        """
        if job.repeat and recipients is None:
            self.log.reminder_failed(job.alert, job.channel)
        if job.alert.status == "resolved" and recipients is None:
            for key, value in self.log.record(job.alert, job.channel, self.clock()):
                await self._write(self.kafka.delivery_log, key, value)
        record: dict[str, Any] = {
            "kind": "undeliverable_alert", "channel": job.channel, "reason": reason,
            "attempts": attempts, "alert": job.alert.model_dump(mode="json"),
            "at": format_rfc3339(datetime.now(UTC)),
        }
        if recipients is not None:
            record["recipients"] = list(recipients)
        await self._dead_letter(record)

    async def _dead_letter(self, record: dict[str, Any]) -> None:
        self.stats[f"dead_letter.{record['kind']}"] += 1
        if self.telemetry is not None:
            self.telemetry.dead_letters.add(1, {"kind": record["kind"]})
        await self._write(self.kafka.dead_letter_topic, None, orjson.dumps(record))

    async def _write(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """Write one record, waiting out broker trouble: dropping it would lose a delivery fact."""
        assert self._producer is not None
        delay = 0.5
        while True:
            try:
                await self._producer.send_and_wait(topic, value=value, key=key)
                return
            except KafkaError as exc:
                log.warning("router: cannot write to %s (%s); retrying in %.1fs", topic,
                            type(exc).__name__, delay)
                await anyio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)

    def _count(self, channel: str, outcome: str, n: int = 1) -> None:
        self.stats[f"{channel}.{outcome}"] += n
        if self.telemetry is not None:
            self.telemetry.deliveries.add(n, {"channel": channel, "outcome": outcome})

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        offsets = {tp: p.commit_point() for tp, p in self._pending.items() if p.high >= 0}
        offsets = {tp: o for tp, o in offsets.items() if tp in consumer.assignment() and o > 0}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            log.info("router commit skipped (%s); alerts will be re-read and deduplicated",
                     type(exc).__name__)


def _header_ms(headers: Any, name: str) -> float | None:
    for key, value in headers or ():
        if key == name and value:
            try:
                return int(value) / 1000
            except ValueError:
                return None
    return None
