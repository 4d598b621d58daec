"""FR-010, NFR-002: a channel whose queue is full falls behind and reads the alert topic at
its own positions until it caught up; its backlog, seen from outside."""

from __future__ import annotations

from typing import Any

import anyio
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from dq_monitor.events import Alert
from dq_monitor.kafka import consumer_kwargs
from dq_monitor.kafka.backoff import Backoff, pause, quiet_stop
from dq_monitor.routing import dispatch
from dq_monitor.routing.backlog import Change
from dq_monitor.routing.router.base import RouterBase, log
from dq_monitor.telemetry import ChannelDelivery

#: Records a behind channel's own reader fetches at once (it waits for room in its queue).
CATCH_UP_BATCH = 200


class CatchUpMixin(RouterBase):
    """FR-010: channels that fell behind, and every channel's backlog."""

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
