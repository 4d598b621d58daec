"""Checkpointing monitor state to a compacted changelog topic, and reading it back.

Partition *p* of the changelog holds the state owned by input partition *p* (keys such as
``ser|source|subject``), so restoring after a restart or a rebalance reads only the partitions
this instance was given. A restore reads up to a marker record it writes itself first: that
works on brokers whose high watermark is approximate as well as on Apache Kafka.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dq_monitor.config import KafkaConfig
from dq_monitor.ingest.clients import common_kwargs

log = logging.getLogger(__name__)

MARKER_PREFIX = "__restore_marker__|"

Apply = Callable[[int, str, dict[str, Any] | None], None]


def encode(value: dict[str, Any] | None) -> bytes | None:
    return None if value is None else orjson.dumps(value)


async def restore(
    cfg: KafkaConfig,
    topic: str,
    partitions: Iterable[int],
    producer: AIOKafkaProducer,
    apply: Apply,
) -> int:
    """Replay every changelog record of ``partitions`` into ``apply``; returns records applied."""
    parts = sorted(set(partitions))
    if not parts:
        return 0
    ends: dict[int, int] = {}
    for p in parts:
        meta = await producer.send_and_wait(
            topic, key=f"{MARKER_PREFIX}{uuid.uuid4()}".encode(), value=None, partition=p
        )
        ends[p] = meta.offset
    consumer = AIOKafkaConsumer(**common_kwargs(cfg), enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    applied = 0
    try:
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        pending = set(parts)
        while pending:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batch.items():
                for rec in records:
                    if rec.offset >= ends[tp.partition]:
                        pending.discard(tp.partition)
                        break
                    key = rec.key.decode() if rec.key else ""
                    if key.startswith(MARKER_PREFIX) or not key:
                        continue
                    value = None if rec.value is None else orjson.loads(rec.value)
                    apply(tp.partition, key, value)
                    applied += 1
    finally:
        await consumer.stop()
    log.info("restored %d state records from %s partitions %s", applied, topic, parts)
    return applied
