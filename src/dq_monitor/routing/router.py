"""The alert router: a thin Kafka loop around ``routing.dispatch`` (FR-007…FR-010, FR-021).

It reads the alert topic with its own consumer group and commits an alert's offset only once
every channel it routes to has delivered it, dead-lettered it or held it, and the delivery-log
records of that are durable, so a crash re-delivers rather than loses. A hold (silence, mute
window) is a record in the delivery log, written before the offset is committed: nothing held
pins an offset (NFR-008).

Delivery (NFR-002, FR-010): each channel has a bounded queue (``routing.queue_size``) and up to
``max_in_flight`` deliveries under way, in order per fingerprint (``routing.lanes``); a
delivery's delivery-log records are sent without waiting for the broker's answer, which is
awaited before its offset may be committed. A channel whose queue is full falls behind instead
of dropping anything: the others go on, and it reads the alert topic itself from its own
position (``dispatch.Pending``) with a consumer of its own, as fast as it delivers, until it
caught up and reads with the others again. Falling behind is loud: a WARNING per episode,
``dq_channel_backlog`` and ``dq_delivery_age_seconds`` (``routing.backlog``). Nothing is
dead-lettered but what failed its retries or was refused for good.

Delivery state (dedup entries, episodes, reminder schedule, holds) is kept per alert partition,
in a compacted delivery log co-partitioned with the alert topic. A partition gained in a
rebalance is paused until its delivery state is restored; a partition lost is forgotten, and
jobs still queued for it are dropped (its new owner delivers them from the committed offset, and
releases its holds). So only the owner of a partition delivers or reminds for it, several
routers can share the alert topic, and "resolved goes where firing went" holds across failovers.
"""

from __future__ import annotations

import logging
import time
from asyncio import Future
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode
from pydantic import ValidationError

from dq_monitor import tracing
from dq_monitor.acks import Ack, AckBook
from dq_monitor.channels import build_channel
from dq_monitor.channels.base import Channel
from dq_monitor.channels.grouped import GroupChannel, GroupSend, Notification
from dq_monitor.config import Config
from dq_monitor.errors import DqMonitorError
from dq_monitor.events import Alert
from dq_monitor.kafka import changelog, check_access, consumer_kwargs, producer_kwargs
from dq_monitor.kafka.backoff import Backoff, pause, quiet_stop
from dq_monitor.kafka.failures import Verdict, WriteHealth, reason, unwritable_record
from dq_monitor.kafka.headers import TRIGGERED_HEADER, header_ms
from dq_monitor.kafka.tail import TopicTail
from dq_monitor.kafka.topics import COMPACT, ensure_topics, partition_counts
from dq_monitor.routing import dispatch
from dq_monitor.routing.backlog import Change, ChannelBacklog
from dq_monitor.routing.dedup import DeliveryLog
from dq_monitor.routing.dispatch import Grouping, Pending, Step
from dq_monitor.routing.group import Groups, GroupSpec, decode_member, encode_member, is_group_key
from dq_monitor.routing.hold import HoldReason
from dq_monitor.routing.inhibit import Inhibitor, LearnedLineage, Lineage, blast_radius
from dq_monitor.routing.lanes import Lanes
from dq_monitor.routing.match import matching
from dq_monitor.routing.mute import MuteWindow
from dq_monitor.routing.retry import RetryPolicy, Throttle, deliver_with_retry
from dq_monitor.silence import SilenceBook
from dq_monitor.telemetry import ChannelDelivery, Telemetry

log = logging.getLogger("dq_monitor.router")

#: How often held deliveries are looked at again (a silence expired, a window ended).
RELEASE_CHECK_S = 1.0
#: Records a behind channel's own reader fetches at once (it waits for room in its queue).
CATCH_UP_BATCH = 200

#: A delivery-log or dead-letter record sent but not yet acknowledged: the producer's future
#: and what to write again the careful way if it failed.
_Write = tuple["Future[Any] | None", str, bytes | None, bytes | None, int | None]


@dataclass(slots=True)
class Job:
    alert: Alert
    channel: str
    #: The alert partition whose delivery state this job reads and writes.
    partition: int
    repeat: bool
    triggered_at: float | None
    #: Offset of the alert record (``None`` for a reminder, which holds no commit back).
    offset: int | None = None
    #: The alert's trace (from the record's ``traceparent``), parent of the delivery span.
    trace: Context | None = None
    #: FR-018: the mute-window lists of the routes that chose this channel.
    mutes: dispatch.Mutes = ()
    #: Released from a hold: its hold record is tombstoned once this job ended.
    released: bool = False
    #: When the alert was triggered (or the job made), for the channel's delivery age.
    detected: float = 0.0
    #: The job's place in its channel's backlog (``ChannelBacklog.add``).
    token: int = 0
    #: Delivery-log records sent for this job: durable before its offset is committed.
    writes: list[_Write] = field(default_factory=list)
    #: FR-027: the channel groups this alert: the job forwards it to its group's notifier.
    group: GroupSpec | None = None


def _fingerprint(job: Job) -> str:
    """A channel's jobs of one fingerprint are delivered one at a time, in order."""
    return job.alert.fingerprint


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, router: AlertRouter, consumer: AIOKafkaConsumer) -> None:
        self.router, self.consumer = router, consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.router.on_revoked(self.consumer, revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.router.on_assigned(self.consumer, assigned)


class _GroupRebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, router: AlertRouter, consumer: AIOKafkaConsumer) -> None:
        self.router, self.consumer = router, consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.router.on_groups_revoked(self.consumer, revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.router.on_groups_assigned(self.consumer, assigned)


def _inhibits(config: Config) -> bool:
    """FR-027: whether inhibition can hold anything: rules, or lineage to follow."""
    routing = config.routing
    return bool(routing.inhibit) or (routing.inhibit_downstream and (
        any(s.upstream for s in config.sources) or bool(config.kafka.openlineage_topics)))


def _upstream(config: Config) -> dict[str, list[str]]:
    """Lineage given by hand: each named source's ``upstream``."""
    return {s.name: s.upstream for s in config.sources if s.name is not None and s.upstream}


def _groups_on(config: Config) -> bool:
    """FR-027: whether any route groups alerts."""
    routing = config.routing
    return bool(routing.group_by) or any(r.group_by for r in routing.routes)


class AlertRouter:
    def __init__(
        self,
        config: Config,
        *,
        telemetry: Telemetry | None = None,
        channels: dict[str, Channel] | None = None,
        clock: Callable[[], float] = time.time,
        silences: SilenceBook | None = None,
    ) -> None:
        self.config = config
        self.kafka = config.kafka
        self.telemetry = telemetry if telemetry is not None else Telemetry.disabled()
        self.clock = clock
        self.policy = RetryPolicy.from_config(config.routing.retry)
        #: Delivery state of each alert partition this router owns and has restored.
        self.logs: dict[int, DeliveryLog] = {}
        self.channels = channels if channels is not None else {}
        self.stats: Counter[str] = Counter()
        self.ready = anyio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._pending: dict[TopicPartition, Pending] = {}
        #: Partitions assigned but not restored yet: paused until their state is back.
        self._restore_pending: set[TopicPartition] = set()
        self._restore_backoff = Backoff()
        self._restore_retry_at = 0.0
        self._joined = False
        #: Per channel: its queue (``routing.lanes``), what waits on it, and its backlog.
        self._lanes: dict[str, Lanes[Job]] = {}
        #: Per channel: its idle workers' wake-ups, and room made in its queue.
        self._idle: dict[str, list[anyio.Event]] = {}
        self._room: dict[str, anyio.Event] = {}
        self._backlog: dict[str, ChannelBacklog] = {}
        #: Per channel: its receiver's rate limit, waited out by all its deliveries.
        self._throttles: dict[str, Throttle] = {}
        #: Channels whose own reader runs (they fell behind on some partition).
        self._catching_up: set[str] = set()
        self._stopping = anyio.Event()
        self._settle_send: MemoryObjectSendStream[Job] | None = None
        #: Queues of rebuilt channels whose workers closed their channel (FR-025).
        self._retired: set[int] = set()
        self._tg: anyio.abc.TaskGroup | None = None
        self.windows = {name: MuteWindow.from_config(name, w)
                        for name, w in config.routing.mute_windows.items()}
        #: FR-018: the deployment's silences; a router given none follows the topic itself.
        self._own_silences = silences is None
        self.silences = silences if silences is not None else SilenceBook(config.kafka)
        self.telemetry.ready_checks["router"] = self.ready.is_set
        #: NFR-008: topics no record can be written to now; ``/readyz`` is false meanwhile.
        self.writes = WriteHealth()
        self.telemetry.ready_checks["router.writes"] = self.writes.ready
        #: FR-027: the groups of each groups-topic partition this router owns and restored.
        self.groups: dict[int, Groups] = {}
        self._grouping = Grouping(config.routing)
        self._groups_restore: set[TopicPartition] = set()
        #: Groups-topic partition → the next offset to commit (its records' state is durable).
        self._groups_done: dict[TopicPartition, int] = {}
        self._groups_running = False
        self._stop: anyio.Event | None = None
        #: FR-027: the deployment's firing alerts (the whole alert topic, followed) and the
        #: inhibition they cause; lineage given by hand plus lineage learned (the changelog).
        self.learned = LearnedLineage()
        self._lineage_version = -1
        self.inhibitor = Inhibitor(config.routing.inhibit,
                                   downstream=config.routing.inhibit_downstream)
        self._refresh_lineage()
        self._firing_tail: TopicTail | None = None
        #: FR-027: acknowledgements (every instance follows their topic); those not yet
        #: applied to the groups this router owns wait in ``_acks_new``.
        self.acks = AckBook(config.kafka, on_ack=self._acks_new_append)
        self._acks_new: list[Ack] = []

    # ------------------------------------------------------------------ lifecycle

    async def run(self, stop: anyio.Event) -> None:
        producer, consumer = await self._connect(stop)
        if producer is None or consumer is None:
            return
        self._producer = producer
        try:
            for name, cfg in self.config.channels.items():
                if name not in self.channels:
                    self.channels[name] = build_channel(name, cfg, producer=producer)
            self._grouping = self._make_grouping()
            self._stop = stop
            async with anyio.create_task_group() as tg:
                self._tg = tg
                if _groups_on(self.config):
                    self._start_groups()
                if self._own_silences:
                    tg.start_soon(self.silences.run, stop)
                if _inhibits(self.config):
                    self._start_inhibition(tg, stop)
                tg.start_soon(self.acks.run, stop)
                settle_send, settle_receive = anyio.create_memory_object_stream[Job](
                    float("inf"))
                self._settle_send = settle_send
                tg.start_soon(self._settler, settle_receive)
                for name in self.config.channels:
                    self._start_channel(name)
                self.telemetry.gauge("dq_channel_backlog", self._backlog_gauge)
                self.telemetry.gauge("dq_delivery_age", self._age_gauge)
                self.telemetry.delivery_status = self.delivery_status
                tg.start_soon(self._reminders, stop)
                tg.start_soon(self._releases, stop)
                # no delivery before the silences are known: a restart must not page through one
                while not (self.silences.loaded.is_set() or stop.is_set()):
                    await pause(0.05, stop)
                # nor before the firing alerts are known: an inhibited alert must not page
                while not (self._firing_tail is None or self._firing_tail.loaded.is_set()
                           or stop.is_set()):
                    await pause(0.05, stop)
                consumer.subscribe([self.kafka.alert_topic],
                                   listener=_Rebalance(self, consumer))
                await self._loop(consumer, stop)
                self._stopping.set()  # behind channels stop reading on their own
                for name, lanes in self._lanes.items():
                    lanes.closed = True  # workers drain what is queued, then end
                    self._wake(name, everyone=True)
                    self._made_room(name)
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
                await quiet_stop(consumer, producer)
            log.info("router stopped: %s", dict(self.stats))

    def _start_channel(self, name: str) -> None:
        """A queue (``routing.lanes``) and ``max_in_flight`` workers for channel ``name``; its
        backlog and room signal outlive a rebuild (FR-025), so jobs under way stay counted."""
        assert self._tg is not None
        cfg = self.config.channels[name]
        self._lanes[name] = Lanes(self.config.routing.queue_size, cfg.max_in_flight,
                                  _fingerprint)
        self._idle[name] = []
        self._room.setdefault(name, anyio.Event())
        self._backlog.setdefault(name, ChannelBacklog())
        for _ in range(cfg.max_in_flight):
            self._tg.start_soon(self._worker, name)

    def _close_channel(self, name: str) -> None:
        """Take no new jobs for ``name``: its workers deliver what is queued, then end (and
        close the channel, once it is no longer the configured one)."""
        lanes = self._lanes.pop(name, None)
        if lanes is not None:
            lanes.closed = True
            self._wake(name, everyone=True)
            self._idle.pop(name, None)
        self._made_room(name)

    async def reconfigure(self, config: Config) -> None:
        """FR-025: route by ``config`` (validated, same ``kafka``) from the next alert on:
        routes, mute windows, retry policy and dedup window at once; a channel added gets
        workers, a channel changed gets new ones (its queued jobs go out through the old ones,
        which close it once they have), a channel removed takes no new jobs and its place in
        the alert topic (when it had fallen behind) no longer holds commits back."""
        old, self.config = self.config, config
        self.policy = RetryPolicy.from_config(config.routing.retry)
        self.windows = {name: MuteWindow.from_config(name, w)
                        for name, w in config.routing.mute_windows.items()}
        for state in self.logs.values():
            state.window = config.routing.dedup_window
        for groups in self.groups.values():
            groups.dedup_window = config.routing.dedup_window
        self.inhibitor.configure(config.routing.inhibit,
                                 downstream=config.routing.inhibit_downstream)
        self._lineage_version = -1
        self._refresh_lineage()
        if self._tg is None or self._producer is None:
            return  # not running: ``run`` builds the channels of the config it finds
        for name, cfg in old.channels.items():
            if config.channels.get(name) != cfg:
                self._close_channel(name)
        for name in set(old.channels) - set(config.channels):
            for pending in self._pending.values():
                pending.forget(name)
            self._backlog.pop(name, None)
            self.channels.pop(name, None)
        for name, cfg in config.channels.items():
            if old.channels.get(name) != cfg or name not in self._lanes:
                self.channels[name] = build_channel(name, cfg, producer=self._producer)
                self._start_channel(name)
        self._grouping = self._make_grouping()
        if _groups_on(config):
            self._start_groups()
        if _inhibits(config) and self._firing_tail is None and self._stop is not None:
            self._start_inhibition(self._tg, self._stop)

    def _make_grouping(self) -> Grouping:
        return Grouping(self.config.routing, frozenset(
            n for n, ch in self.channels.items() if isinstance(ch, GroupChannel)))

    async def _connect(
        self, stop: anyio.Event
    ) -> tuple[AIOKafkaProducer | None, AIOKafkaConsumer | None]:
        backoff = Backoff()
        # ``serve`` probed the cluster before starting us; probe again only after a failed
        # attempt, which may have been a refusal that looked like an outage (FR-020).
        failed = False
        while not stop.is_set():
            producer = AIOKafkaProducer(**producer_kwargs(self.kafka))
            consumer = AIOKafkaConsumer(**consumer_kwargs(self.kafka, self.kafka.router_group))
            try:
                if failed:
                    await check_access(self.kafka, self.kafka.bootstrap_servers)
                await producer.start()
                await ensure_topics(self.kafka, {
                    self.kafka.alert_topic: (1, {}),
                    self.kafka.dead_letter_topic: (1, {}),
                })
                await self._ensure_delivery_log()
                await consumer.start()
                return producer, consumer
            except (KafkaError, OSError) as exc:
                failed = True
                delay = backoff.next()
                log.warning("router: broker %s unreachable (%s); retrying in %.1fs",
                            self.kafka.bootstrap_servers, type(exc).__name__, delay)
                await quiet_stop(consumer, producer)
                await pause(delay, stop)
        return None, None

    async def _ensure_delivery_log(self) -> None:
        """The delivery log has the alert topic's partitions: partition p holds p's state."""
        log_topic = self.kafka.delivery_log
        counts = await partition_counts(self.kafka, [self.kafka.alert_topic, log_topic])
        parts = counts[self.kafka.alert_topic]
        if log_topic not in counts:
            await ensure_topics(self.kafka, {log_topic: (parts, COMPACT)})
        elif counts[log_topic] != parts:
            raise DqMonitorError(
                f"kafka.delivery_log_topic {log_topic!r} has {counts[log_topic]} "
                f"partition(s) but the alert topic has {parts}: delivery state must be "
                "co-partitioned with the alerts (delete the delivery log, or name a new one)")

    # ------------------------------------------------------------------ partitions

    def on_assigned(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        """Pause gained partitions until their delivery state is restored by the loop (an
        exception here would only be logged by the client, so nothing here can fail)."""
        self._joined = True
        gained = {tp for tp in assigned if tp.partition not in self.logs}
        self._restore_pending = (self._restore_pending & assigned) | gained
        if gained:
            consumer.pause(*gained)
            self._restore_retry_at = 0.0

    async def on_revoked(self, consumer: AIOKafkaConsumer, revoked: set[TopicPartition]) -> None:
        """Commit what is done for the lost partitions, then forget their state: their new
        owner restores it from the delivery log and delivers the rest."""
        await self._commit(consumer)
        for tp in revoked:
            self.logs.pop(tp.partition, None)
            self._pending.pop(tp, None)
            self._restore_pending.discard(tp)
            for backlog in self._backlog.values():
                backlog.unread_from(tp.partition, None)

    async def _restore_partitions(self, consumer: AIOKafkaConsumer) -> None:
        todo = {tp for tp in self._restore_pending if tp in consumer.assignment()}
        self._restore_pending = todo
        if not todo or time.monotonic() < self._restore_retry_at:
            return
        assert self._producer is not None
        restored: dict[int, list[tuple[bytes, bytes | None]]] = {tp.partition: [] for tp in todo}
        dead: list[dict[str, Any]] = []
        try:
            await changelog.restore(
                self.kafka, self.kafka.delivery_log, sorted(restored), self._producer,
                lambda p, key, value: restored[p].append(
                    (key.encode(), None if value is None else orjson.dumps(value))),
                on_unreadable=dead.append,
            )
        except Exception as exc:  # broker trouble or anything else: loud and retried
            delay = self._restore_backoff.next()
            self._restore_retry_at = time.monotonic() + delay
            self.stats["restore.failed"] += 1
            log.error("router: restoring delivery state of partitions %s failed (%s: %s); "
                      "retrying in %.1fs", sorted(restored), type(exc).__name__, exc, delay)
            return
        self._restore_backoff.reset()
        for p, records in restored.items():
            state = DeliveryLog(self.config.routing.dedup_window)
            reasons: list[str] = []
            state.load(records, on_unreadable=reasons.append)
            dead.extend(dispatch.unreadable_delivery_state(self.kafka.delivery_log, p, r)
                        for r in reasons)
            self.logs[p] = state
        for record in dead:
            await self._dead_letter(record)
        log.info("router: partitions %s of %s restored (%d delivery entries, %d held)",
                 sorted(restored), self.kafka.alert_topic,
                 sum(len(self.logs[p]) for p in restored),
                 sum(len(self.logs[p].held) for p in restored))
        self._restore_pending = set()
        consumer.resume(*todo)

    # ------------------------------------------------------------------ reading

    async def _loop(self, consumer: AIOKafkaConsumer, stop: anyio.Event) -> None:
        while not stop.is_set():
            if self._restore_pending:
                await self._restore_partitions(consumer)
            elif self._joined and not self.ready.is_set():
                # in the group and every owned partition restored (a standby owns none)
                self.ready.set()
                log.info("router ready: %d channel(s), %d route(s), alert partitions %s",
                         len(self.channels), len(self.config.routing.routes),
                         sorted(self.logs))
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            for tp, records in batch.items():
                if tp.partition not in self.logs:
                    # fetched just before a rebalance paused it: read again once restored
                    if tp in consumer.assignment():
                        consumer.seek(tp, records[0].offset)
                    continue
                pending = self._pending.setdefault(tp, Pending())
                for rec in records:
                    await self._route(tp, rec, pending)
            self._observe_backlogs()
            await self._commit(consumer)

    async def _route(self, tp: TopicPartition, rec: Any, pending: Pending) -> None:
        try:
            alert = Alert.from_json(rec.value)
        except (ValidationError, ValueError, TypeError) as exc:
            pending.read(rec.offset, 0)
            await self._dead_letter(dispatch.malformed_alert(
                str(exc).splitlines()[0], tp.topic, tp.partition, rec.offset))
            return
        if self._firing_tail is not None:
            self.inhibitor.observe(alert)  # before its own tail sees it
        chosen = dispatch.targets(self.config.routing.routes, self.logs[tp.partition], alert,
                                  self._grouping)
        if chosen.unseen_episode:
            self.stats["resolved.unseen_episode"] += 1
        queued = 0
        for channel in chosen.channels:
            if channel not in self._lanes or pending.position(channel) is not None:
                continue  # not configured, or behind here: it reads this record itself
            job = self._job(alert, channel, tp.partition, rec, chosen.mutes, chosen.groups)
            if self._enqueue(job):
                queued += 1
                continue
            # FR-010: a full queue holds nothing else up and drops nothing: the channel reads
            # on from this record by itself, as fast as it delivers
            pending.fall_behind(channel, rec.offset)
            self._backlog[channel].unread_from(tp.partition, job.detected)
            self._start_catch_up(channel)
        pending.read(rec.offset, queued)

    def _job(self, alert: Alert, channel: str, partition: int, rec: Any,
             mutes: dict[str, dispatch.Mutes], groups: dict[str, GroupSpec]) -> Job:
        triggered = header_ms(rec.headers, TRIGGERED_HEADER)
        return Job(alert, channel, partition, False, triggered, rec.offset,
                   tracing.extract(rec.headers), mutes.get(channel, ()),
                   detected=triggered if triggered is not None else rec.timestamp / 1000,
                   group=groups.get(channel))

    def _enqueue(self, job: Job) -> bool:
        """Queue ``job`` for its channel; ``False`` (nothing changed) when its queue is full."""
        if not job.detected:
            job.detected = self.clock()
        lanes = self._lanes.get(job.channel)
        if lanes is None or not lanes.put(job):  # full, or (FR-025) the channel was removed
            return False
        state = self.logs.get(job.partition)
        if state is not None:
            state.queue(job.alert, job.channel)
        job.token = self._backlog[job.channel].add(job.detected)
        self._wake(job.channel)
        return True

    def _wake(self, channel: str, *, everyone: bool = False) -> None:
        """Wake one idle worker of ``channel`` (a job may be takeable now), or all of them."""
        _wake_idle(self._idle.get(channel, []), everyone=everyone)

    def _made_room(self, channel: str) -> None:
        """Wake the channel's own reader, waiting for room in its queue."""
        room = self._room.get(channel)
        if room is not None:
            room.set()
            self._room[channel] = anyio.Event()

    def _finish(self, job: Job, *, ended: bool = True) -> None:
        """A queued job left its channel: no longer in flight. If it ``ended`` (delivered,
        skipped, held, dead-lettered) its record's offset may be committed once its
        delivery-log records are durable and the record's other jobs ended too; one cut off
        (shutdown) keeps the offset open, so the next start delivers it."""
        state = self.logs.get(job.partition)
        if state is not None:
            state.done(job.alert, job.channel)
        backlog = self._backlog.get(job.channel)  # gone with a channel a reload removed
        if backlog is not None:
            backlog.end(job.token)
        if not ended:
            return
        if job.writes and self._settle_send is not None:
            self._settle_send.send_nowait(job)
        else:
            self._ended(job)

    async def _settler(self, jobs: MemoryObjectReceiveStream[Job]) -> None:
        """End jobs once their delivery-log records are acknowledged (in the order they
        ended): the next delivery never waits for the broker, the commit does."""
        async with jobs:
            async for job in jobs:
                for write in job.writes:
                    await self._confirm(write)
                job.writes.clear()
                self._ended(job)

    def _ended(self, job: Job) -> None:
        if job.offset is None:
            return
        pending = self._pending.get(TopicPartition(self.kafka.alert_topic, job.partition))
        if pending is not None:
            pending.ended(job.offset)

    # ------------------------------------------------------------------ delivering

    async def _worker(self, name: str) -> None:
        """One of ``max_in_flight`` workers of a channel: takes the next job whose fingerprint
        has nothing under way, until the queue is closed and empty."""
        # A reload may rebuild the channel (FR-025): these workers keep serving the queue they
        # started with until it is closed and empty, then close a channel no longer in use.
        channel, lanes, idle = self.channels[name], self._lanes[name], self._idle[name]
        while True:
            job = lanes.take()
            if job is None:
                if lanes.finished:
                    _wake_idle(idle, everyone=True)  # the channel's other workers end too
                    if self.channels.get(name) is not channel and id(lanes) not in self._retired:
                        self._retired.add(id(lanes))
                        with anyio.CancelScope(shield=True):
                            await channel.aclose()
                    return
                wake = anyio.Event()
                idle.append(wake)
                await wake.wait()
                continue
            self._made_room(name)
            if len(lanes):
                _wake_idle(idle)  # another worker may take the next one meanwhile
            ended = False
            try:
                await self._work(channel, job)
                ended = True
            finally:
                lanes.done(job)
                # a delivery cut off by shutdown did not end: its offset stays uncommitted
                self._finish(job, ended=ended)
                _wake_idle(idle)  # its fingerprint's next job may go now

    async def _work(self, channel: Channel, job: Job) -> None:
        state = self.logs.get(job.partition)
        if state is None:  # the partition moved to another router
            self.stats[f"{job.channel}.revoked"] += 1
            return
        if await self._hold(state, job):
            return
        if job.group is not None:  # FR-027: its group's notifier sends it
            await self._forward(job)
            await self._settle(job)
            return
        step = dispatch.next_step(state, job.alert, job.channel,
                                  reminder=job.repeat, now=self.clock())
        if step is Step.SKIP:
            self._count(job.channel, "deduplicated")
        else:
            job.repeat = step is Step.REMIND
            await self._deliver(channel, job, state)
        await self._settle(job)

    # ------------------------------------------------------------------ inhibition (FR-027)

    def _start_inhibition(self, tg: anyio.abc.TaskGroup, stop: anyio.Event) -> None:
        """Follow the whole alert topic (the firing alerts of every partition, whichever
        router owns it) and, for learned lineage, the monitor's changelog."""
        self._firing_tail = TopicTail(self.kafka, self.kafka.alert_topic, self._observe_firing)
        tg.start_soon(self._firing_tail.run, stop)
        if self.kafka.openlineage_topics:
            tail = TopicTail(self.kafka, self.kafka.changelog,
                             lambda record: self.learned.apply(record.key, record.value))
            tg.start_soon(tail.run, stop)

    def _observe_firing(self, record: Any) -> None:
        try:
            self.inhibitor.observe(Alert.from_json(record.value or b""))
        except (ValidationError, ValueError, TypeError):
            return  # the router that owns its partition dead-letters it

    def _refresh_lineage(self) -> None:
        if self._lineage_version != self.learned.version:
            self._lineage_version = self.learned.version
            self.inhibitor.set_lineage(Lineage.merged(_upstream(self.config),
                                                      self.learned.graph()))

    def _blast(self, alert: Alert) -> str | None:
        """The sources downstream of a firing freshness or run alert's source (its blast
        radius), for its notifications."""
        if (not self.config.routing.inhibit_downstream or alert.status != "firing"
                or alert.check not in ("freshness", "run")):
            return None
        self._refresh_lineage()
        return blast_radius(self.inhibitor.lineage, alert.source)

    # ------------------------------------------------------------------ groups (FR-027)

    async def _forward(self, job: Job) -> None:
        """Re-key ``job``'s alert by its group key onto the groups topic, where the one router
        owning that key's partition notifies the group; durable before the alert's offset is
        committed, like a delivery-log record."""
        assert self._producer is not None and job.group is not None
        key, value = encode_member(job.group, job.alert, job.triggered_at)
        topic = self.kafka.groups
        try:
            future: Future[Any] | None = await self._producer.send(topic, value=value, key=key)
        except KafkaError:
            future = None  # ``_confirm`` writes it the careful way
        job.writes.append((future, topic, key, value, None))
        self._count(job.channel, "grouped")

    def _start_groups(self) -> None:
        if not self._groups_running and self._tg is not None and self._stop is not None:
            self._groups_running = True
            self._tg.start_soon(self._groups_loop, self._stop)

    async def _groups_loop(self, stop: anyio.Event) -> None:
        """Own a share of the groups topic in a consumer group of its own: fold its records
        into the groups (state on the delivery log, then the offset), and send what is due."""
        consumer: AIOKafkaConsumer | None = None
        backoff = Backoff()
        while consumer is None and not stop.is_set():
            attempt = AIOKafkaConsumer(**consumer_kwargs(
                self.kafka, f"{self.kafka.router_group}.groups"))
            try:
                parts = (await partition_counts(self.kafka, [self.kafka.alert_topic]))[
                    self.kafka.alert_topic]
                await ensure_topics(self.kafka, {self.kafka.groups: (parts, {})})
                await attempt.start()
                consumer = attempt
            except (KafkaError, OSError) as exc:
                await quiet_stop(attempt)
                delay = backoff.next()
                log.warning("router: cannot read %s (%s); retrying in %.1fs",
                            self.kafka.groups, type(exc).__name__, delay)
                await pause(delay, stop)
        if consumer is None:
            return
        try:
            consumer.subscribe([self.kafka.groups], listener=_GroupRebalance(self, consumer))
            while not stop.is_set():
                if self._groups_restore:
                    await self._restore_groups(consumer)
                batch = await consumer.getmany(timeout_ms=100, max_records=500)
                now = self.clock()
                writes: list[_Write] = []
                for tp, records in batch.items():
                    groups = self.groups.get(tp.partition)
                    if groups is None:
                        if tp in consumer.assignment():
                            consumer.seek(tp, records[0].offset)
                        continue
                    for rec in records:
                        try:
                            spec, alert, triggered = decode_member(rec.value)
                        except ValueError as exc:
                            await self._dead_letter(dispatch.malformed_alert(
                                str(exc), tp.topic, tp.partition, rec.offset))
                        else:
                            writes += await self._persist(
                                tp.partition, groups.observe(spec, alert, now, triggered))
                        self._groups_done[tp] = rec.offset + 1
                writes += await self._apply_acks()
                for write in writes:
                    await self._confirm(write)
                self._notify(self.clock())
                await self._commit_groups(consumer)
        finally:
            with anyio.CancelScope(shield=True):
                await self._commit_groups(consumer)
                await quiet_stop(consumer)

    def on_groups_assigned(self, consumer: AIOKafkaConsumer,
                           assigned: set[TopicPartition]) -> None:
        gained = {tp for tp in assigned if tp.partition not in self.groups}
        self._groups_restore = (self._groups_restore & assigned) | gained
        if gained:
            consumer.pause(*gained)

    async def on_groups_revoked(self, consumer: AIOKafkaConsumer,
                                revoked: set[TopicPartition]) -> None:
        """Commit what is folded in, then forget the groups: their next owner restores them
        from the delivery log (a notification under way here is sent again there)."""
        await self._commit_groups(consumer)
        for tp in revoked:
            self.groups.pop(tp.partition, None)
            self._groups_done.pop(tp, None)
            self._groups_restore.discard(tp)

    async def _restore_groups(self, consumer: AIOKafkaConsumer) -> None:
        todo = {tp for tp in self._groups_restore if tp in consumer.assignment()}
        self._groups_restore = todo
        if not todo:
            return
        assert self._producer is not None
        found: dict[int, list[tuple[bytes, bytes | None]]] = {tp.partition: [] for tp in todo}

        def keep(p: int, key: str, value: Any) -> None:
            raw = key.encode()
            if is_group_key(raw):
                found[p].append((raw, None if value is None else orjson.dumps(value)))

        try:
            await changelog.restore(self.kafka, self.kafka.delivery_log, sorted(found),
                                    self._producer, keep)
        except Exception as exc:  # broker trouble or anything else: loud and retried
            self.stats["restore.failed"] += 1
            log.error("router: restoring the groups of partitions %s failed (%s: %s)",
                      sorted(found), type(exc).__name__, exc)
            await anyio.sleep(1.0)
            return
        for p, records in found.items():
            groups = Groups(self.config.routing.dedup_window)
            for raw_key, raw_value in records:
                try:
                    groups.apply(raw_key, raw_value)
                except ValueError as exc:
                    await self._dead_letter(dispatch.unreadable_delivery_state(
                        self.kafka.delivery_log, p, str(exc)))
            self.groups[p] = groups
            for ack in list(self.acks.acks.values()):  # made while no router owned them
                for write in await self._persist(p, groups.acknowledge(
                        ack.fingerprint, ack.by, ack.comment, ack.at.timestamp())[1]):
                    await self._confirm(write)
        log.info("router: groups partitions %s restored (%d groups)", sorted(found),
                 sum(len(self.groups[p]) for p in found))
        self._groups_restore = set()
        consumer.resume(*todo)

    def _acks_new_append(self, ack: Ack) -> None:
        if self._groups_running:  # else no group to acknowledge (reminders read the book)
            self._acks_new.append(ack)

    async def _apply_acks(self) -> list[_Write]:
        """FR-027: acknowledgements read since the last look, applied to the owned groups."""
        writes: list[_Write] = []
        acks, self._acks_new = self._acks_new, []
        for ack in acks:
            for p, groups in list(self.groups.items()):
                writes += await self._persist(p, groups.acknowledge(
                    ack.fingerprint, ack.by, ack.comment, ack.at.timestamp())[1])
        return writes

    async def _commit_groups(self, consumer: AIOKafkaConsumer) -> None:
        owned = consumer.assignment()
        offsets = {tp: o for tp, o in self._groups_done.items() if tp in owned}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            log.info("router: groups commit skipped (%s); records will be re-read",
                     type(exc).__name__)

    def _notify(self, now: float) -> None:
        """Send every group notification due at ``now`` (each in a task of its own)."""
        if self._tg is None:
            return
        for partition, groups in list(self.groups.items()):
            for note in groups.due(now):
                self._tg.start_soon(self._send_group, partition, groups, note)

    async def _send_group(self, partition: int, groups: Groups, note: Notification) -> None:
        channel = self.channels.get(note.channel)
        if isinstance(channel, GroupChannel):
            notes = {a.fingerprint: b for a in note.alerts if (b := self._blast(a)) is not None}
            if notes:
                note = replace(note, notes=notes)
            outcome = await deliver_with_retry(
                GroupSend(channel, note), note.alerts[0], note.repeat, self.policy,
                throttle=self._throttles.setdefault(note.channel, Throttle()))
            if outcome.rate_limited:
                self._count(note.channel, "rate_limited", outcome.rate_limited)
            now = self.clock()
            if outcome.ok:
                self._count(note.channel, "ok")
                for fp, at in groups.triggered_at(note).items():
                    alert = next(a for a in note.alerts if a.fingerprint == fp)
                    self.telemetry.alert_latency.record(max(0.0, now - at), {
                        "channel": note.channel, "check": alert.check,
                        "severity": alert.severity, "outcome": "delivered"})
            else:
                self._count(note.channel, "failed")
                for alert in note.alerts:
                    await self._dead_letter(dispatch.undeliverable_alert(
                        alert, note.channel, outcome.reason or "delivery failed",
                        outcome.attempts))
        else:
            now = self.clock()  # the channel was removed by a reload (FR-025)
        if self.groups.get(partition) is not groups:
            return  # the partition moved: its next owner sends it again (at least once)
        for write in await self._persist(partition, groups.delivered(note, now)):
            await self._confirm(write)

    # ------------------------------------------------------------------ falling behind

    def _start_catch_up(self, name: str) -> None:
        if name not in self._catching_up and self._tg is not None:
            self._catching_up.add(name)
            self._tg.start_soon(self._catch_up, name)

    async def _catch_up(self, name: str) -> None:
        """FR-010: read the alert topic at ``name``'s own positions, as fast as it delivers,
        until it caught up everywhere (then the main loop queues its jobs again)."""
        consumer = AIOKafkaConsumer(**{**consumer_kwargs(self.kafka, ""), "group_id": None})
        backoff = Backoff()
        try:
            while not self._stopping.is_set():
                try:
                    await consumer.start()
                    break
                except (KafkaError, OSError) as exc:
                    delay = backoff.next()
                    log.warning("router: channel %r cannot read the alert topic (%s); "
                                "retrying in %.1fs", name, type(exc).__name__, delay)
                    await pause(delay, self._stopping)
            fetched: dict[TopicPartition, int] = {}  # where the consumer reads on
            while not self._stopping.is_set():
                todo = self._positions(name)
                if not todo:
                    return
                if set(todo) != consumer.assignment():
                    consumer.assign(list(todo))
                    fetched = {}
                for tp, at in todo.items():
                    if fetched.get(tp) != at:
                        consumer.seek(tp, at)
                        fetched[tp] = at
                try:
                    batch = await consumer.getmany(timeout_ms=200, max_records=CATCH_UP_BATCH)
                except KafkaError as exc:
                    log.warning("router: channel %r: reading the alert topic failed (%s)",
                                name, type(exc).__name__)
                    fetched = {}
                    await pause(backoff.next(), self._stopping)
                    continue
                for tp, records in batch.items():
                    fetched.pop(tp, None)
                    for rec in records:
                        if not await self._take(name, tp, rec):
                            break
                    else:
                        fetched[tp] = records[-1].offset + 1
        finally:
            self._catching_up.discard(name)
            with anyio.CancelScope(shield=True):
                await quiet_stop(consumer)

    def _positions(self, name: str) -> dict[TopicPartition, int]:
        """Where ``name`` still reads by itself: owned, restored partitions it is behind on (a
        partition it caught up on is handed back to the main loop here)."""
        out: dict[TopicPartition, int] = {}
        for tp, pending in self._pending.items():
            at = pending.position(name)
            if at is None or tp.partition not in self.logs:
                continue
            if pending.rejoin(name):
                self._backlog[name].unread_from(tp.partition, None)
                continue
            out[tp] = at
        return out

    async def _take(self, name: str, tp: TopicPartition, rec: Any) -> bool:
        """Route the record at ``rec.offset`` for ``name`` alone, waiting for room in its queue;
        ``False`` when ``name`` no longer reads ``tp`` itself (caught up, or the partition
        moved)."""
        pending = self._pending.get(tp)
        at = None if pending is None else pending.position(name)
        if pending is None or at is None or tp.partition not in self.logs:
            return False
        if rec.offset < at:
            return True  # taken before: the fetch began earlier
        if pending.rejoin(name):
            self._backlog[name].unread_from(tp.partition, None)
            return False
        try:
            alert = Alert.from_json(rec.value)
        except (ValidationError, ValueError, TypeError):
            pending.took(name, rec.offset, 0)  # dead-lettered when the main loop read it
            return True
        chosen = dispatch.targets(self.config.routing.routes, self.logs[tp.partition], alert,
                                  self._grouping)
        job = self._job(alert, name, tp.partition, rec, chosen.mutes, chosen.groups)
        jobs = 0
        if name in chosen.channels:
            while not self._enqueue(job):
                await self._room[name].wait()
                if (self._stopping.is_set() or self._pending.get(tp) is not pending
                        or pending.position(name) is None):  # stopping, moved, or removed
                    return False
            jobs = 1
        pending.took(name, rec.offset, jobs)
        self._backlog[name].unread_from(tp.partition, job.detected)
        if pending.rejoin(name):
            self._backlog[name].unread_from(tp.partition, None)
            return False
        return True

    def _observe_backlogs(self) -> None:
        """Log the start (WARNING) and end (INFO) of each channel's falling-behind episode."""
        now = self.clock()
        for name, backlog in self._backlog.items():
            lanes = self._lanes[name]
            unread = sum(p.unread(name) for p in self._pending.values())
            behind = any(p.position(name) is not None for p in self._pending.values())
            count = backlog.count(unread)
            change = backlog.observe(behind=behind, queued=len(lanes),
                                     capacity=lanes.capacity, backlog=count, now=now)
            if change is None:
                continue
            if change.change is Change.FELL_BEHIND:
                self.stats[f"{name}.fell_behind"] += 1
                log.warning("router: channel %r falls behind: its queue of %d is full (%d "
                            "alerts undelivered); it reads the alert topic at its own pace "
                            "until it catches up, nothing is dropped", name, lanes.capacity,
                            count)
            else:
                log.info("router: channel %r caught up after %.1fs (at most %d alerts "
                         "undelivered)", name, change.lasted, change.peak)

    def _horizon(self) -> float | None:
        """The trigger time of the oldest alert not delivered on some channel (queued, under
        way, or not read yet by a channel behind): a restart may read it again, so delivery
        entries younger than it plus ``dedup_window`` must stay (``DeliveryLog.record``)."""
        oldest = [t for b in self._backlog.values() if (t := b.oldest()) is not None]
        return min(oldest) if oldest else None

    def delivery_status(self) -> list[ChannelDelivery]:
        """NFR-002: each channel's backlog now (status page, ``/api/v1``, gauges)."""
        now = self.clock()
        out = []
        for name, backlog in self._backlog.items():
            unread = sum(p.unread(name) for p in self._pending.values())
            oldest = backlog.oldest()
            out.append(ChannelDelivery(
                channel=name, backlog=backlog.count(unread),
                age_s=None if oldest is None else max(0.0, now - oldest),
                behind=any(p.position(name) is not None for p in self._pending.values())))
        return out

    def _backlog_gauge(self) -> list[tuple[float, dict[str, Any]]]:
        return [(float(d.backlog), {"channel": d.channel}) for d in self.delivery_status()]

    def _age_gauge(self) -> list[tuple[float, dict[str, Any]]]:
        return [(d.age_s or 0.0, {"channel": d.channel}) for d in self.delivery_status()]

    async def _hold(self, state: DeliveryLog, job: Job) -> bool:
        """FR-018: hold ``job`` if something holds it now, or its fingerprint is already held on
        its channel (decided at release). The hold goes to the delivery log before the job
        ends, so its offset may be committed (NFR-008)."""
        now = self.clock()
        reason = self._holding(job.alert, job.mutes, now)
        if reason is None and not state.held.holds(job.alert, job.channel):
            return False
        job.writes += await self._persist(job.partition, state.held.hold(
            job.alert, job.channel, now, reason, mutes=job.mutes, repeat=job.repeat,
            triggered_at=job.triggered_at))
        if reason is None:
            held = state.held.get(job.alert.fingerprint, job.channel)
            reason = None if held is None else held.reason
        self._count(job.channel, "inhibited" if reason is HoldReason.INHIBIT else "silenced")
        return True

    async def _settle(self, job: Job) -> None:
        """A job released from a hold ended: take its hold off the delivery log."""
        state = self.logs.get(job.partition)
        if job.released and state is not None:
            job.writes += await self._persist(job.partition,
                                        state.held.settled(job.alert.fingerprint, job.channel))

    async def _deliver(self, channel: Channel, job: Job, state: DeliveryLog) -> None:
        span = self.telemetry.tracer.start_span(
            f"deliver {job.channel}", context=job.trace,
            attributes={"dq.channel": job.channel, "dq.repeat": job.repeat})
        try:
            await self._deliver_traced(channel, job, state, span)
        finally:
            span.end()

    async def _deliver_traced(self, channel: Channel, job: Job, state: DeliveryLog,
                              span: Span) -> None:
        blast = self._blast(job.alert)
        sent = job.alert if blast is None else job.alert.model_copy(
            update={"detail": f"{job.alert.detail} ({blast})"})
        outcome = await deliver_with_retry(
            channel, sent, job.repeat, self.policy,
            throttle=self._throttles.setdefault(job.channel, Throttle()))
        span.set_attribute("dq.attempts", outcome.attempts)
        if outcome.rate_limited:
            self._count(job.channel, "rate_limited", outcome.rate_limited)
        if not outcome.ok:
            span.set_status(Status(StatusCode.ERROR, outcome.reason or "undeliverable"))
        if outcome.attempts > outcome.rate_limited + 1:
            self._count(job.channel, "retried", outcome.attempts - outcome.rate_limited - 1)
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
        self._latency(job, "delivered", now)
        job.writes += await self._persist(job.partition, state.record(
            job.alert, job.channel, now, repeat=job.repeat, horizon=self._horizon()))

    def _latency(self, job: Job, outcome: str, now: float) -> None:
        """NFR-002 ``dq_alert_latency``: trigger to the end of the delivery, delivered or
        given up (so an alert that is late shows even when it never arrives)."""
        if job.triggered_at is not None:
            self.telemetry.alert_latency.record(
                max(0.0, now - job.triggered_at),
                {"channel": job.channel, "check": job.alert.check,
                 "severity": job.alert.severity, "outcome": outcome})

    async def _reminders(self, stop: anyio.Event) -> None:
        """Re-send alerts still firing ``dedup_window`` after their last delivery, for the
        partitions this router owns (and only those)."""
        interval = dispatch.reminder_interval(self.config.routing.dedup_window)
        while not stop.is_set():
            await pause(interval, stop)
            if stop.is_set():
                return
            now = self.clock()
            for partition, state in list(self.logs.items()):
                for alert, channel in state.due_reminders(now):
                    if self.acks.covering(alert) is not None:
                        state.reminder_failed(alert, channel)  # FR-027: acknowledged
                        continue
                    if channel in self._lanes and not self._enqueue(
                            Job(alert, channel, partition, True, None)):
                        state.reminder_failed(alert, channel)  # queue full: next round

    def _holding(self, alert: Alert, mutes: dispatch.Mutes, now: float) -> HoldReason | None:
        """FR-018: what holds a delivery at ``now``: a mute window of every route that chose its
        channel, or a silence; ``None`` when nothing does."""
        if self._firing_tail is not None:
            self._refresh_lineage()
            if self.inhibitor.inhibited_by(alert) is not None:
                return HoldReason.INHIBIT
        if not (mutes or len(self.silences.set)):
            return None
        at = datetime.fromtimestamp(now, UTC)
        if mutes and dispatch.held(mutes, self.windows, at):
            return HoldReason.MUTE
        if self.silences.silencing(alert, at):
            return HoldReason.SILENCE
        return None

    async def _releases(self, stop: anyio.Event) -> None:
        """Release held deliveries soon after their window ends or their silence expires."""
        while not stop.is_set():
            await pause(RELEASE_CHECK_S, stop)
            if not stop.is_set():
                await self._release_held(self.clock())

    async def _release_held(self, now: float) -> None:
        """FR-018: decide the held deliveries nothing holds any more (see ``routing.hold``);
        a dropped hold is tombstoned now, a sent one once its delivery ended."""
        for partition, state in list(self.logs.items()):
            if not len(state.held):
                continue
            out = state.held.release(lambda h: self._holding(h.alert, h.mutes, now) is not None)
            for write in await self._persist(partition, out.records):
                await self._confirm(write)
            for h in out.send:  # decided: deliver now, whatever the windows say next
                if h.channel not in self.config.channels:  # FR-025: a reload removed it
                    for write in await self._persist(partition, state.held.settled(
                            h.alert.fingerprint, h.channel)):
                        await self._confirm(write)
                    continue
                group = dispatch.group_specs(self._grouping, matching(
                    self.config.routing.routes, h.alert)).get(h.channel)
                if h.channel not in self._lanes or not self._enqueue(Job(
                        h.alert, h.channel, partition, h.repeat, h.triggered_at,
                        released=True, group=group)):
                    state.held.unrelease(h)  # its queue is full: released again later

    async def _undeliverable(self, job: Job, reason: str, attempts: int, *,
                             recipients: tuple[str, ...] | None = None) -> None:
        """Dead-letter a delivery that failed, or (``recipients``) the part of it that did.

        A ``resolved`` that could not be delivered still ends its episode on the channel, as a
        delivered one would: no reminders for an alert that is over, and the next firing of the
        same check is news (not a duplicate of the old episode).
        """
        state = self.logs.get(job.partition)
        if recipients is None:
            self._latency(job, "dead_lettered", self.clock())
        if state is not None and recipients is None:
            if job.repeat:
                state.reminder_failed(job.alert, job.channel)
            if job.alert.status == "resolved":
                job.writes += await self._persist(job.partition, state.record(
                    job.alert, job.channel, self.clock(), horizon=self._horizon()))
        await self._dead_letter(dispatch.undeliverable_alert(
            job.alert, job.channel, reason, attempts, recipients=recipients))

    async def _persist(self, partition: int, records: list[tuple[bytes, bytes | None]]
                       ) -> list[_Write]:
        """Send delivery-log records without waiting for the broker's answer; ``_confirm``
        each before anything that depends on it is committed."""
        assert self._producer is not None
        out: list[_Write] = []
        topic = self.kafka.delivery_log
        for key, value in records:
            try:
                future: Future[Any] | None = await self._producer.send(
                    topic, value=value, key=key, partition=partition)
            except KafkaError:
                future = None  # refused at once: ``_confirm`` writes it the careful way
            out.append((future, topic, key, value, partition))
        return out

    async def _confirm(self, write: _Write) -> None:
        """Wait until a record sent by ``_persist`` is durable; one that failed is written
        again by ``_write`` (waiting out broker trouble, skipping what is refused for good)."""
        future, topic, key, value, partition = write
        if future is not None:
            try:
                await future
                self.writes.written(topic)
                return
            except KafkaError:
                pass
        await self._write(topic, key, value, partition)

    async def _dead_letter(self, record: dict[str, Any]) -> None:
        self.stats[f"dead_letter.{record['kind']}"] += 1
        self.telemetry.dead_letters.add(1, {"kind": record["kind"]})
        await self._write(self.kafka.dead_letter_topic, None, orjson.dumps(record))

    async def _write(self, topic: str, key: bytes | None, value: bytes | None,
                     partition: int | None = None, *, relay: bool = True) -> None:
        """Write one record, waiting out broker trouble: dropping it would lose a delivery fact.

        NFR-008: a record refused for good (``kafka.failures``) is not retried: it is logged
        and counted (``dq_unwritable_records``) and skipped; a dead letter refused as too large
        is replaced by a short ``unwritable_record`` one (``relay``), once."""
        assert self._producer is not None
        backoff = Backoff()
        while True:
            try:
                await self._producer.send_and_wait(topic, value=value, key=key,
                                                   partition=partition)
                self.writes.written(topic)
                return
            except KafkaError as exc:
                verdict = self.writes.failed(topic, exc)
                if verdict.final:
                    again = (relay and verdict is Verdict.RECORD
                             and topic == self.kafka.dead_letter_topic)
                    action = "dead_lettered" if again else "skipped"
                    self.stats[f"unwritable.{action}"] += 1
                    self.telemetry.unwritable.add(1, {"topic": topic, "action": action,
                                                      "error": type(exc).__name__})
                    log.error("router: record for %s refused for good (%s); %s", topic,
                              reason(exc), "dead-lettered in short" if again else "skipped")
                    if again:
                        await self._write(topic, None, orjson.dumps(unwritable_record(
                            topic, partition, key, value, exc,
                            max_request_size=self.kafka.max_request_size)), relay=False)
                    return
                delay = backoff.next()
                log.warning("router: cannot write to %s (%s); retrying in %.1fs", topic,
                            type(exc).__name__, delay)
                await pause(delay)

    def _count(self, channel: str, outcome: str, n: int = 1) -> None:
        self.stats[f"{channel}.{outcome}"] += n
        self.telemetry.deliveries.add(n, {"channel": channel, "outcome": outcome})

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        owned = consumer.assignment()
        offsets = {tp: p.commit_point() for tp, p in self._pending.items()
                   if p.high >= 0 and tp in owned}
        offsets = {tp: o for tp, o in offsets.items() if o > 0}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            log.info("router commit skipped (%s); alerts will be re-read and deduplicated",
                     type(exc).__name__)


def _wake_idle(idle: list[anyio.Event], *, everyone: bool = False) -> None:
    """Wake one of a channel's idle workers (a job may be takeable now), or all of them."""
    while idle:
        idle.pop().set()
        if not everyone:
            return
