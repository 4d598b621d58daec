"""FR-016: two monitor instances in one group share the partitions; state moves with them."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from tests.integration.conftest import Kafka, config_for, now_rfc3339, running

pytestmark = pytest.mark.integration

# src0 and src1 land on partitions 0 and 1 with Kafka's default partitioner.
SOURCES = """
  - name: src0
    anomaly: {metrics: [m], window: 20, min_samples: 5}
  - name: src1
    anomaly: {metrics: [m], window: 20, min_samples: 5}
"""


def metric(source: str, value: float) -> dict[str, Any]:
    return {"type": "metric", "source": source, "metric": "m", "value": value,
            "ts": now_rfc3339()}


@pytest.mark.req("FR-016", "NFR-004")
async def test_second_instance_takes_a_partition_with_its_state(kafka: Kafka) -> None:
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"), partitions=2)
    cfg = config_for(kafka, SOURCES)
    async with running(cfg) as a:
        for i in range(12):
            for source in ("src0", "src1"):
                await kafka.send(kafka.topic("metrics"), metric(source, 100.0 + i % 3),
                                 key=source)
        with anyio.fail_after(20):
            while a.stats[f"consumed.{kafka.topic('metrics')}"] < 24:
                await anyio.sleep(0.05)
        await anyio.sleep(0.5)  # the batch's checkpoint and commit
        async with running(cfg) as b:
            with anyio.fail_after(40):
                while not (a.monitor.owned and b.monitor.owned):
                    await anyio.sleep(0.1)
            assert a.monitor.owned | b.monitor.owned == {0, 1}
            assert not a.monitor.owned & b.monitor.owned
            for source in ("src0", "src1"):
                await kafka.send(kafka.topic("metrics"), metric(source, 900.0), key=source)
            alerts = await kafka.read(
                kafka.topic("alerts"),
                lambda xs: {x["source"] for x in xs if x["severity"] == "FAIL"} >= {"src0",
                                                                                  "src1"})
    fired = {(x["source"], x["severity"], x["status"]) for x in alerts}
    assert {("src0", "FAIL", "firing"), ("src1", "FAIL", "firing")} <= fired
    # each instance judged its own partition's source, with the window built before the move
    assert a.monitor.stats["alerts.anomaly.FAIL.firing"] == 1
    assert b.monitor.stats["alerts.anomaly.FAIL.firing"] == 1
