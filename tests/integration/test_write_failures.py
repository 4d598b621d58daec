"""NFR-008 / NFR-006: a write that can never succeed is dead-lettered (or skipped, for state)
and counted, and the service goes on, against a real broker.

The refusal is a real one: the producer's ``max_request_size`` (``kafka.max_request_size``) is
smaller than the alerts and state records of a source with a very long name, and aiokafka
refuses such a record for good with ``MessageSizeTooLargeError``.
"""

from __future__ import annotations

import anyio
import pytest

from dq_monitor.ingest.service import MonitorService
from dq_monitor.telemetry import Telemetry
from tests.integration.conftest import Kafka, config_for, orders_revenue

pytestmark = pytest.mark.integration

LONG = "warehouse." + "x" * 5000


@pytest.mark.req("NFR-008", "NFR-006", "NFR-004")
async def test_a_record_too_large_is_dead_lettered_and_processing_goes_on(kafka: Kafka) -> None:
    await kafka.create(kafka.topic("metrics"))
    cfg = config_for(kafka, f"""
  - name: orders
    anomaly: {{metrics: [revenue], baseline: rolling, window: 20, min_samples: 5}}
  - name: {LONG}
    freshness: {{max_staleness: 1s}}
""", inputs=("metrics",))
    cfg = cfg.model_copy(update={"kafka": cfg.kafka.model_copy(
        update={"max_request_size": 4096, "max_event_bytes": 1024})})
    telemetry = Telemetry(cfg.telemetry)
    service = MonitorService(cfg, telemetry=telemetry)
    stop = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(service.run, stop)
            with anyio.fail_after(30):
                await service.ready.wait()
            # The long-named source is never seen: its freshness WARN and FAIL are due within
            # 1 s, and neither those alerts nor the source's state fit in 4096 bytes.
            await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= 1)
            for v in (100, 101, 99, 100, 102, 98, 100, 101):
                await kafka.send(kafka.topic("metrics"), orders_revenue(v), key="orders")
            await kafka.send(kafka.topic("metrics"), orders_revenue(10_000), key="orders")
            alerts = await kafka.read(kafka.topic("alerts"),
                                      lambda xs: any(a["source"] == "orders" for a in xs))
            dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= 2)
            with anyio.fail_after(10):  # the next checkpoint (kafka.commit_interval)
                while not service.stats["unwritable.skipped"]:
                    await anyio.sleep(0.05)
            ready, checks = telemetry.readiness()
            text = telemetry.metrics_text().decode()
            stop.set()
    finally:
        await telemetry.aclose()
    assert len(dead) == 2  # WARN, then FAIL
    for letter in dead:
        assert letter["kind"] == "unwritable_record"
        assert letter["topic"] == kafka.topic("alerts")
        assert letter["reason"].startswith("MessageSizeTooLargeError: The message is")
        assert letter["value_truncated"] and letter["value_bytes"] > 4096
        assert LONG[:200] in letter["value"]  # enough of the alert to tell which it was
    # the service kept going: the other source's alert came after the refused one
    assert [(a["check"], a["source"], a["status"]) for a in alerts] == [
        ("anomaly", "orders", "firing")]
    assert service.stats["unwritable.dead_lettered"] == 2
    assert service.stats["unwritable.skipped"] >= 1  # the long source's state records
    lines = [line for line in text.splitlines() if line.startswith("dq_unwritable_records")]
    alerts_topic = kafka.topic("alerts")
    assert any(f'topic="{alerts_topic}"' in line and 'action="dead_lettered"' in line
               and 'error="MessageSizeTooLargeError"' in line and line.endswith(" 2.0")
               for line in lines), lines
    assert any(".changelog" in line and 'action="skipped"' in line for line in lines), lines
    # one record refused is not a topic refused: still ready
    assert ready and checks["monitor.writes"]
