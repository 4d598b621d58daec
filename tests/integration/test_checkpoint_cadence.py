"""The checkpoint cadence of a large fleet, observed from outside (NFR-003, NFR-004): a
checkpoint that would rewrite every series waits until enough input was read per state record
(or the longest interval passed), and the input offsets wait with it."""

from __future__ import annotations

import asyncio

import anyio
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from dq_monitor.config import Config
from dq_monitor.ingest.cadence import SMALL
from dq_monitor.ingest.service import MonitorService
from tests.integration.conftest import Kafka, config_for, now_rfc3339, running

pytestmark = [pytest.mark.integration, pytest.mark.req("NFR-003", "NFR-004")]

#: More series than a checkpoint writes on schedule.
SERIES = 3 * SMALL
SOURCES = """
  - name: fleet
    anomaly: {metrics: [m], window: 20, min_samples: 5}
"""


def cadence(kafka: Kafka, max_interval: str) -> Config:
    cfg = config_for(kafka, SOURCES, inputs=("metrics",))
    return cfg.model_copy(update={"kafka": cfg.kafka.model_copy(update={
        "commit_interval": 0.2, "checkpoint_ratio": 4.0,
        "checkpoint_max_interval": float(max_interval)})})


async def send_round(kafka: Kafka, value: float) -> None:
    """One value to each of the ``SERIES`` series of ``fleet``."""
    producer = await kafka.producer()
    topic, ts = kafka.topic("metrics"), now_rfc3339()
    sent = [await producer.send(topic, orjson.dumps(
        {"type": "metric", "source": "fleet", "metric": "m", "value": value + i % 7,
         "ts": ts, "tags": {"id": str(i)}}), key=b"fleet") for i in range(SERIES)]
    await asyncio.gather(*sent)


async def committed(kafka: Kafka, group: str) -> int:
    reader = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=group,
                              enable_auto_commit=False)
    await reader.start()
    try:
        offset = await reader.committed(TopicPartition(kafka.topic("metrics"), 0))
    finally:
        await reader.stop()
    return offset or 0


async def judged(service: MonitorService, n: int) -> None:
    with anyio.fail_after(30):
        while service.monitor.stats["events.metric"] < n:
            await anyio.sleep(0.05)


async def test_a_checkpoint_of_every_series_waits_for_enough_input(kafka: Kafka) -> None:
    await kafka.create(kafka.topic("metrics"))
    cfg = cadence(kafka, "60")
    await send_round(kafka, 100.0)  # read in a few batches as soon as the service starts
    async with running(cfg) as service:
        await judged(service, SERIES)
        await anyio.sleep(1.5)  # several commit intervals: every series changed, little read
        assert await committed(kafka, cfg.kafka.group_id) == 0
        for r in range(4):  # now 5 input records per changed series: over the ratio of 4
            await send_round(kafka, 100.0 + r)
        with anyio.fail_after(20):  # long before the 60 s bound
            while (offset := await committed(kafka, cfg.kafka.group_id)) == 0:
                await anyio.sleep(0.2)
    assert offset >= 4 * (SERIES + 1)


async def test_a_postponed_checkpoint_is_written_by_the_longest_interval(kafka: Kafka) -> None:
    await kafka.create(kafka.topic("metrics"))
    cfg = cadence(kafka, "4")
    await send_round(kafka, 100.0)
    async with running(cfg) as service:
        await judged(service, SERIES)
        assert await committed(kafka, cfg.kafka.group_id) == 0
        with anyio.fail_after(20):
            while (offset := await committed(kafka, cfg.kafka.group_id)) < SERIES:
                await anyio.sleep(0.2)
        # the state is durable before the offsets: every series is on the changelog
        states = await kafka.read_records(
            f"{cfg.kafka.group_id}.changelog",
            lambda rs: len({r.key for r in rs if r.key and r.key.startswith(b"ser")}) >= SERIES)
    assert offset == SERIES
    assert len({r.key for r in states if r.key and r.key.startswith(b"ser")}) == SERIES
