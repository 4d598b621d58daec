"""FR-027: the groups topic's consumer: fold re-keyed alerts into groups (state on the
delivery log, then the offset), apply acknowledgements, and send what is due."""

from __future__ import annotations

from asyncio import Future
from dataclasses import replace
from typing import Any

import anyio
import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from dq_monitor.acks import Ack
from dq_monitor.channels.grouped import GroupChannel, GroupSend, Notification
from dq_monitor.kafka import changelog, consumer_kwargs
from dq_monitor.kafka.backoff import Backoff, pause, quiet_stop
from dq_monitor.kafka.topics import ensure_topics, partition_counts
from dq_monitor.routing import dispatch
from dq_monitor.routing.group import Groups, decode_member, encode_member, is_group_key
from dq_monitor.routing.retry import Throttle, deliver_with_retry
from dq_monitor.routing.router.base import RouterBase, commit_owned, log
from dq_monitor.routing.router.job import Job, Write


class _GroupRebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, router: GroupsMixin, consumer: AIOKafkaConsumer) -> None:
        self.router, self.consumer = router, consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.router.on_groups_revoked(self.consumer, revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.router.on_groups_assigned(self.consumer, assigned)


class GroupsMixin(RouterBase):
    """FR-027: the groups topic, its groups and their notifications."""

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
                writes: list[Write] = []
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

    async def _apply_acks(self) -> list[Write]:
        """FR-027: acknowledgements read since the last look, applied to the owned groups."""
        writes: list[Write] = []
        acks, self._acks_new = self._acks_new, []
        for ack in acks:
            for p, groups in list(self.groups.items()):
                writes += await self._persist(p, groups.acknowledge(
                    ack.fingerprint, ack.by, ack.comment, ack.at.timestamp())[1])
        return writes

    async def _commit_groups(self, consumer: AIOKafkaConsumer) -> None:
        owned = consumer.assignment()
        await commit_owned(consumer, {tp: o for tp, o in self._groups_done.items()
                                      if tp in owned},
                           "router: groups commit skipped (%s); records will be re-read")

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
