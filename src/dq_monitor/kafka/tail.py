"""Follow a whole topic without a consumer group: every instance reads every partition.

The silences topic and the operator API's view of the alert topic are read this way, so each
instance holds the same picture whichever partitions its group consumers own. ``loaded`` is set
once the records present at start have been read; after a broker outage the tail resumes where
it was rather than from the start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from dq_monitor.config import KafkaConfig
from dq_monitor.kafka.backoff import Backoff, pause, quiet_stop
from dq_monitor.kafka.clients import common_kwargs
from dq_monitor.kafka.topics import ensure_topics, partition_counts

log = logging.getLogger(__name__)

Apply = Callable[[ConsumerRecord[bytes, bytes]], None]


class TopicTail:
    def __init__(self, cfg: KafkaConfig, topic: str, apply: Apply, *,
                 create: tuple[int, dict[str, str]] | None = None) -> None:
        """``create``: (partitions, configs) to create the topic with when it is missing."""
        self.cfg, self.topic, self.apply, self.create = cfg, topic, apply, create
        self.loaded = anyio.Event()
        self.records = 0
        self._positions: dict[TopicPartition, int] = {}

    async def run(self, stop: anyio.Event) -> None:
        backoff = Backoff()
        while not stop.is_set():
            consumer = AIOKafkaConsumer(**common_kwargs(self.cfg), enable_auto_commit=False,
                                        auto_offset_reset="earliest", fetch_max_wait_ms=100)
            try:
                await consumer.start()
                await self._follow(consumer, stop, backoff)
            except (KafkaError, OSError) as exc:
                delay = backoff.next()
                log.warning("reading %s failed (%s); retrying in %.1fs", self.topic,
                            type(exc).__name__, delay)
                await pause(delay, stop)
            finally:
                with anyio.CancelScope(shield=True):
                    await quiet_stop(consumer)

    async def _follow(self, consumer: AIOKafkaConsumer, stop: anyio.Event,
                      backoff: Backoff) -> None:
        if self.create is not None:
            await ensure_topics(self.cfg, {self.topic: self.create})
        counts = await partition_counts(self.cfg, [self.topic])
        while self.topic not in counts:  # e.g. the alert topic, before the monitor made it
            await pause(1.0, stop)
            if stop.is_set():
                return
            counts = await partition_counts(self.cfg, [self.topic])
        tps = [TopicPartition(self.topic, p) for p in range(counts[self.topic])]
        consumer.assign(tps)
        for tp in tps:
            if tp in self._positions:
                consumer.seek(tp, self._positions[tp])
            else:
                await consumer.seek_to_beginning(tp)
        ends = await consumer.end_offsets(tps) if not self.loaded.is_set() else {}
        backoff.reset()
        while not stop.is_set():
            if not self.loaded.is_set() and all(
                    [await consumer.position(tp) >= end for tp, end in ends.items()]):
                self.loaded.set()
                log.info("%s read: %d record(s)", self.topic, self.records)
            batch = await consumer.getmany(timeout_ms=200, max_records=1000)
            for tp, records in batch.items():
                for record in records:
                    self.records += 1
                    self.apply(record)
                if records:
                    self._positions[tp] = records[-1].offset + 1
