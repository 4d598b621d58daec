"""Checkpointing monitor state to a compacted changelog topic, and reading it back.

Partition *p* of the changelog holds the state owned by input partition *p* (keys such as
``ser|source|subject``), so restoring after a restart or a rebalance reads only the partitions
this instance was given. A restore reads up to a marker record it writes itself first: that
works on brokers whose high watermark is approximate as well as on Apache Kafka.

NFR-006: any record may be unreadable (bytes that are not JSON, a shape from another version, a
value the current config cannot hold). Such a record is skipped, logged and handed to
``on_unreadable`` as an ``unreadable_state`` dead-letter record; the rest restores. Losing one
state record costs at most a re-warm-up of one series or one repeated alert, while refusing to
start would stop every alert.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dq_monitor.config import KafkaConfig
from dq_monitor.kafka.clients import common_kwargs

log = logging.getLogger(__name__)

MARKER_PREFIX = "__restore_marker__|"

Apply = Callable[[int, str, dict[str, Any] | None], None]
Unreadable = Callable[[dict[str, Any]], None]


def encode(value: dict[str, Any] | None) -> bytes | None:
    return None if value is None else orjson.dumps(value)


async def restore(
    cfg: KafkaConfig,
    topic: str,
    partitions: Iterable[int],
    producer: AIOKafkaProducer,
    apply: Apply,
    on_unreadable: Unreadable | None = None,
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
                    try:
                        key = rec.key.decode() if rec.key else ""
                        if key.startswith(MARKER_PREFIX) or not key:
                            continue
                        value = None if rec.value is None else orjson.loads(rec.value)
                        if value is not None and not isinstance(value, dict):
                            raise TypeError(f"value must be a JSON object, not "
                                            f"{type(value).__name__}")
                        apply(tp.partition, key, value)
                    except Exception as exc:  # any record, any shape: skip it, never stall
                        reason = f"{type(exc).__name__}: {exc}"[:500]
                        log.warning("state topic %s[%d] offset %d: unreadable record skipped "
                                    "(%s)", topic, tp.partition, rec.offset, reason)
                        if on_unreadable is not None:
                            on_unreadable(unreadable_state(topic, tp.partition, rec.offset,
                                                           rec.key, reason))
                        continue
                    applied += 1
    finally:
        await consumer.stop()
    log.info("restored %d state records from %s partitions %s", applied, topic, parts)
    return applied


def unreadable_state(
    topic: str, partition: int, offset: int, key: bytes | None, reason: str
) -> dict[str, Any]:
    """The dead-letter record of a state record that could not be restored."""
    return {
        "kind": "unreadable_state",
        "reason": reason,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": None if key is None else key.decode("utf-8", "backslashreplace")[:1024],
    }
