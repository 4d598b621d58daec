"""The router's lifecycle and main loop: connect, build channels and workers, read the alert
topic, choose each alert's channels (``routing.dispatch``) and queue its jobs; reload."""

from __future__ import annotations

from typing import Any

import anyio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from dq_monitor.channels import build_channel
from dq_monitor.channels.grouped import GroupChannel
from dq_monitor.config import Config
from dq_monitor.errors import DqMonitorError
from dq_monitor.events import Alert
from dq_monitor.kafka import check_access, consumer_kwargs, producer_kwargs
from dq_monitor.kafka.backoff import Backoff, pause, quiet_stop
from dq_monitor.kafka.topics import COMPACT, ensure_topics, partition_counts
from dq_monitor.routing import dispatch
from dq_monitor.routing.backlog import ChannelBacklog
from dq_monitor.routing.dispatch import Grouping, Pending
from dq_monitor.routing.lanes import Lanes
from dq_monitor.routing.mute import MuteWindow
from dq_monitor.routing.retry import RetryPolicy
from dq_monitor.routing.router.base import log
from dq_monitor.routing.router.catchup import CatchUpMixin
from dq_monitor.routing.router.delivery import DeliveryMixin
from dq_monitor.routing.router.groups import GroupsMixin
from dq_monitor.routing.router.holds import HoldsMixin
from dq_monitor.routing.router.job import Job, job_fingerprint
from dq_monitor.routing.router.partitions import PartitionsMixin, Rebalance


def _inhibits(config: Config) -> bool:
    """FR-027: whether inhibition can hold anything: rules, or lineage to follow."""
    routing = config.routing
    return bool(routing.inhibit) or (routing.inhibit_downstream and (
        any(s.upstream for s in config.sources) or bool(config.kafka.openlineage_topics)))


def _groups_on(config: Config) -> bool:
    """FR-027: whether any route groups alerts."""
    routing = config.routing
    return bool(routing.group_by) or any(r.group_by for r in routing.routes)


class AlertRouter(PartitionsMixin, DeliveryMixin, GroupsMixin, CatchUpMixin, HoldsMixin):
    """Routes the alert topic to the channels (see the package docstring for the contract)."""

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
                                   listener=Rebalance(self, consumer))
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
                                  job_fingerprint)
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
