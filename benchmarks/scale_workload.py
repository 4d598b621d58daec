"""The records and configuration of the scale benchmark (``bench_scale.py``).

Two workloads over ``series`` = sources × 10 metrics, keyed by source:

* ``realistic`` (the headline): event timestamps that advance with every record, Gaussian
  noise around a per-series level, 1–3 tags per source (fixed, so they name no extra series),
  about 0.5 % of values far off their level (alerts fire and resolve), 4 partitions.
* ``best_case`` (kept for comparison with earlier figures, never the headline): one timestamp
  for every record, small integer values, no tags, no anomalies, 2 partitions.

Records are built in order (record ``i`` belongs to series ``i % series``), so every series
gets a value in each pass over the fleet; the partition of a source is fixed (murmur2 of its
name), as Kafka's
keyed producers place it (and the monitor expects: none has to be re-routed).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2

METRICS = 10
WINDOW = 100
ANOMALY_RATE = 0.005
#: How far the oldest event timestamp lies in the past at most (freshness allows an hour).
SPAN = timedelta(minutes=30)


@dataclass(frozen=True)
class Workload:
    """One row's records: how many series, and whether realistic or the old best case."""

    series: int
    realistic: bool = True

    @property
    def name(self) -> str:
        return "realistic" if self.realistic else "best_case"

    @property
    def sources(self) -> int:
        return max(1, self.series // METRICS)

    @property
    def partitions(self) -> int:
        return 4 if self.realistic else 2


def source_name(k: int) -> str:
    return f"src{k:05d}"


def tags_of(k: int) -> dict[str, str]:
    """One to three tags, the same on every record of source ``k``."""
    tags = {"region": f"r{k % 4}"}
    if k % 3 >= 1:
        tags["host"] = f"h{k % 16:02d}"
    if k % 3 == 2:
        tags["env"] = "prod"
    return tags


def config_text(bootstrap: str, topic: str, group: str, port: int, sources: int,
                commit_interval: str = "1s", session_timeout: str = "6s",
                checkpoint_ratio: float | None = None, instance_id: str | None = None) -> str:
    """A ``dq-monitor run`` config watching ``sources`` sources, each with freshness,
    completeness and an anomaly check over the 10 metrics at window 100. Alert and dead-letter
    topics are the group's own, so a monitor starting up reads no other run's alerts.
    ``checkpoint_ratio`` 0 checkpoints on every ``commit_interval`` however many series changed
    (the run before a restart: the longest history per series). ``instance_id``: join as
    that static member (``kafka.group_instance_id``)."""
    metrics = ", ".join(f"m{j}" for j in range(METRICS))
    ratio = "" if checkpoint_ratio is None else f"\n  checkpoint_ratio: {checkpoint_ratio}"
    if instance_id is not None:
        ratio += f"\n  group_instance_id: {instance_id}"
    body = "\n".join(
        f"  - name: {source_name(k)}\n    freshness: {{max_staleness: 1h}}\n"
        f"    completeness: {{columns: {{c: {{max_null_rate: 0.5}}}}}}\n"
        f"    anomaly: {{metrics: [{metrics}], window: {WINDOW}, min_samples: 20}}"
        for k in range(sources))
    return f"""
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {group}
  input_topics: [{topic}]
  alert_topic: {group}.alerts
  dead_letter_topic: {group}.dead
  session_timeout: {session_timeout}
  heartbeat_interval: 1s
  commit_interval: {commit_interval}{ratio}
telemetry: {{http_port: {port}}}
sources:
{body}
"""


def records(work: Workload, n: int, seed: int = 31) -> Iterator[tuple[int, bytes, bytes]]:
    """``n`` records of the workload as (partition, key, value)."""
    sources = work.sources
    series = sources * METRICS
    names = [source_name(k) for k in range(sources)]
    keys = [name.encode() for name in names]
    parts = [(murmur2(key) & 0x7FFFFFFF) % work.partitions for key in keys]
    now = datetime.now(UTC)
    if not work.realistic:
        stamp = now.isoformat().replace("+00:00", "Z")
        for i in range(n):
            k = i % sources
            yield parts[k], keys[k], orjson.dumps(
                {"type": "metric", "source": names[k], "metric": f"m{i // sources % METRICS}",
                 "value": 100.0 + (i * 7919 % 13), "ts": stamp})
        return
    rng = random.Random(seed)
    tags = [tags_of(k) for k in range(sources)]
    levels = [rng.uniform(50.0, 500.0) for _ in range(series)]
    step = min(timedelta(milliseconds=1), SPAN / max(n, 1))
    first = now - step * n
    for i in range(n):
        s = i % series
        k, metric = s % sources, s // sources
        level = levels[s]
        noise = level * 0.02
        value = rng.gauss(level, noise)
        if rng.random() < ANOMALY_RATE:
            value = level + rng.choice((-1.0, 1.0)) * noise * rng.uniform(12.0, 30.0)
        yield parts[k], keys[k], orjson.dumps(
            {"type": "metric", "source": names[k], "metric": f"m{metric}", "value": value,
             "ts": (first + step * i).isoformat().replace("+00:00", "Z"), "tags": tags[k]})


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, work: Workload, n: int) -> None:
    """Create ``topic`` with the workload's partitions and write ``n`` records to it, in
    batches per partition (the fast path of the producer)."""
    await create_topic(bootstrap, topic, work.partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False,
                                max_batch_size=1024 * 1024, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        batches = {p: producer.create_batch() for p in range(work.partitions)}
        pending = []
        for partition, key, value in records(work, n):
            batch = batches[partition]
            if batch.append(key=key, value=value, timestamp=None) is None:
                pending.append(await producer.send_batch(batch, topic, partition=partition))
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
            if len(pending) >= 16:
                for fut in pending:
                    await fut
                pending.clear()
        for partition, batch in batches.items():
            if batch.record_count():
                pending.append(await producer.send_batch(batch, topic, partition=partition))
        for fut in pending:
            await fut
    finally:
        await producer.stop()
