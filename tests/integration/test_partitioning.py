"""A source's state has one home whatever partitioner or key its producer used (NFR-006).

librdkafka (confluent-kafka, Go, .NET, kcat) hashes keys with CRC32, Java and aiokafka with
murmur2: with two instances in a group, events of a source may land on the partition another
instance owns. They are re-routed to the source's home partition, so its freshness is judged by
one instance that sees every update, and a record keyed by another source cannot split state.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncIterator

import anyio
import orjson
import pytest
from confluent_kafka import Producer

from dq_monitor.ingest.service import MonitorService
from dq_monitor.monitor import partition_for
from tests.integration.conftest import Kafka, config_for, now_rfc3339, serving

pytestmark = pytest.mark.integration

FEEDS = [f"feed{i}" for i in range(8)]
SOURCES = "".join(f"""
  - name: {name}
    freshness: {{max_staleness: 8s}}
""" for name in FEEDS)


@contextlib.asynccontextmanager
async def two_instances(kafka: Kafka) -> AsyncIterator[tuple[MonitorService, MonitorService]]:
    cfg = config_for(kafka, SOURCES, inputs=("updates",))
    a, b = MonitorService(cfg), MonitorService(cfg)
    async with serving(a), serving(b):
        with anyio.fail_after(30):
            while len(a.monitor.owned) != 1 or len(b.monitor.owned) != 1:
                await anyio.sleep(0.1)
        yield a, b


@pytest.mark.req("NFR-006", "FR-003")
async def test_crc32_producer_and_mis_keyed_records_keep_one_home_per_source(
    kafka: Kafka,
) -> None:
    # The premise: librdkafka puts some of these sources on another partition than murmur2.
    crc = {n: (zlib.crc32(n.encode()) & 0xFFFFFFFF) % 2 for n in FEEDS}
    assert any(crc[n] != partition_for(n, 2) for n in FEEDS)
    topic = kafka.topic("updates")
    await kafka.create(topic, partitions=2)
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 0})

    def send_round(mis_key: bool) -> None:
        for name in FEEDS:
            body = orjson.dumps({"type": "table_update", "source": name,
                                 "updated_at": now_rfc3339(), "row_count": 1})
            producer.produce(topic, body, key=(FEEDS[0] if mis_key else name).encode())
        producer.flush(10)

    async with two_instances(kafka) as (a, b):
        with anyio.move_on_after(12):  # longer than the 8 s staleness limit (warn at 6.4 s)
            i = 0
            while True:
                await anyio.to_thread.run_sync(send_round, i % 5 == 4)
                i += 1
                await anyio.sleep(0.5)
        homes = {n: [s for s in (a, b) if n in s.monitor.sources] for n in FEEDS}
        rerouted = a.stats["events.rerouted"] + b.stats["events.rerouted"]
        alerts = await kafka.read(kafka.topic("alerts"), lambda xs: False, timeout=2)
    assert {n: len(owners) for n, owners in homes.items()} == dict.fromkeys(FEEDS, 1)
    for n, (owner,) in homes.items():
        assert partition_for(n, 2) in owner.monitor.owned
        assert owner.monitor.sources[n].last_updated is not None, n
    assert rerouted > 0
    assert [(x["source"], x["severity"], x["detail"]) for x in alerts] == []
