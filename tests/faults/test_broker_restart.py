"""NFR-007: the broker SIGKILLed mid-stream and started again on its durable (S3) storage."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from dq_monitor.testing import HttpReceiver, eventually
from tests.faults import harness as h

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.mark.req("NFR-007", "NFR-004")
async def test_broker_killed_and_restarted_mid_stream_loses_no_alert(
    tmp_path: Path, s3: tuple[str, dict[str, str]]
) -> None:
    storage, env = s3
    broker = h.Broker(storage, env, tmp_path / "broker.log")
    await broker.start()
    prefix = f"f{uuid.uuid4().hex[:8]}"
    incidents = h.Incidents(sources=12, rounds=2)
    hook = HttpReceiver()
    url = await hook.start()
    producer = h.Producer(broker.bootstrap)
    config = tmp_path / "config.yaml"
    config.write_text(h.config_text(broker.bootstrap, prefix, incidents, url))
    monitor = h.Service(config, tmp_path / "monitor.log")
    outage: dict[str, Any] = {}
    try:
        # Every topic up front, one at a time: the emulator has no conditional writes, so
        # topics created concurrently (the monitor and its router both do at start) can
        # overwrite each other's metadata in the broker's store.
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        compact = {"cleanup.policy": "compact"}
        try:
            for name, parts, configs in (
                (f"{prefix}.updates", 2, {}), (f"{prefix}.alerts", 1, {}),
                (f"{prefix}.dead", 1, {}), (f"{prefix}-mon.changelog", 2, compact),
                (f"{prefix}-mon.repartition", 2, {}),
                (f"{prefix}.alerts.delivery-log", 1, compact),
            ):
                await admin.create_topics([NewTopic(name, parts, 1, topic_configs=configs)])
        finally:
            await admin.close()
        with h.services(monitor.start()):
            await monitor.wait_for("assigned partitions")
            topic = f"{prefix}.updates"
            await producer.send(topic, incidents.events(0, "bad"), pause=0.02)
            await eventually(lambda: len(hook.requests) >= incidents.sources // 2, 20)
            killed = time.monotonic()
            await broker.kill()  # mid-stream: alerts of round 0 are still being produced
            await anyio.sleep(1.0)
            await broker.start()
            outage["broker_down_s"] = round(time.monotonic() - killed, 2)
            for rnd, kind in ((0, "good"), (1, "bad"), (1, "good")):
                await producer.send(topic, incidents.events(rnd, kind), pause=0.02)
            expected = incidents.expected()
            await eventually(lambda: expected <= {(p["source"], p["status"], float(p["observed"]))
                                             for p in (r.json() for r in hook.requests)}, 60)
            outage["recovered_in_s"] = round(time.monotonic() - killed, 2)
            await anyio.sleep(1.0)  # let late duplicates arrive before counting
    finally:
        await producer.close()
        await hook.stop()
        await broker.stop()
    result = h.figures("broker SIGKILL + restart (S3 storage)", expected,
                     [r.json() for r in hook.requests], context=outage)
    h.record("broker_restart", result)
    assert result["lost"] == 0, (result, monitor.text()[-4000:])
    assert result["delivered"] == len(expected)
