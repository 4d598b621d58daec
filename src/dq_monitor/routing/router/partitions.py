"""Alert partitions gained and lost: paused until their delivery state is restored from
the delivery log, forgotten (after a last commit) when revoked."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from dq_monitor.kafka import changelog
from dq_monitor.routing import dispatch
from dq_monitor.routing.dedup import DeliveryLog
from dq_monitor.routing.router.base import RouterBase, log


class Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, router: PartitionsMixin, consumer: AIOKafkaConsumer) -> None:
        self.router, self.consumer = router, consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.router.on_revoked(self.consumer, revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.router.on_assigned(self.consumer, assigned)


class PartitionsMixin(RouterBase):
    """Rebalances of the alert topic and the restore of gained partitions."""

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
