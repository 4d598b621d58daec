"""FR-028 under NFR-007: one of two ``dq-monitor run`` processes observing a 3-partition topic is
SIGKILLed in the middle of a window. The survivor re-reads the dead one's partitions from
their committed offsets (never past an open window) and the window is judged once, with every
record counted once."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import orjson
import pytest

from dq_monitor.testing import eventually
from tests.faults import harness as h
from tests.integration.conftest import HEARTBEAT, SESSION_TIMEOUT, Kafka

pytestmark = [pytest.mark.integration, pytest.mark.faults]

WINDOW_S = 12
BEFORE, AFTER = 150, 150


def config_text(kafka: Kafka) -> str:
    return f"""
kafka:
  bootstrap_servers: "{kafka.bootstrap}"
  group_id: {kafka.prefix}-mon
  input_topics: [{kafka.topic("updates")}]
  alert_topic: {kafka.topic("alerts")}
  dead_letter_topic: {kafka.topic("dead")}
  session_timeout: {SESSION_TIMEOUT}
  heartbeat_interval: {HEARTBEAT}
  commit_interval: 200ms
telemetry: {{http_port: 0}}
observe:
  - topic: {kafka.topic("orders")}
    source: stream.orders
    window: {WINDOW_S}s
    grace: 1s
sources:
  - name: stream.orders
    completeness: {{min_row_count: 1000000}}
"""


async def send_orders(kafka: Kafka, first: int, count: int) -> None:
    for i in range(first, first + count):
        await kafka.send(kafka.topic("orders"), {"order_id": i, "customer_id": f"c{i}"},
                         key=f"o{i}")


@pytest.mark.req("FR-028", "NFR-007", "NFR-004", "FR-016")
async def test_an_instance_killed_mid_window_counts_every_record_once(
        kafka: Kafka, tmp_path: Path) -> None:
    await kafka.create(kafka.topic("updates"), partitions=2)
    await kafka.create(kafka.topic("orders"), partitions=3)
    config = tmp_path / "config.yaml"
    config.write_text(config_text(kafka))
    first, second = h.Service(config, tmp_path / "a.log"), h.Service(config, tmp_path / "b.log")
    taken: dict[str, float] = {}
    with h.services(first.start(), second.start()):
        await first.wait_for("assigned partitions")
        await second.wait_for("assigned partitions")
        await eventually(lambda: "orders[" in first.text() and "orders[" in second.text(), 30)
        # start right after a window edge, so every record falls in one window
        await anyio.sleep(WINDOW_S - time.time() % WINDOW_S + 0.2)
        await send_orders(kafka, 0, BEFORE)
        await kafka.send(kafka.topic("orders"), b"not JSON at all", key="x")
        await anyio.sleep(1.5)  # read and aggregated (in part committed) by both
        killed = time.monotonic()
        first.kill()
        await send_orders(kafka, BEFORE, AFTER)
        alerts = await kafka.read(
            kafka.topic("alerts"),
            lambda xs: any(x["check"] == "completeness" for x in xs), timeout=60)
        taken["judged_after_kill_s"] = round(time.monotonic() - killed, 2)
        await anyio.sleep(WINDOW_S)  # a second judgement of the window would arrive by now
        alerts = await kafka.read(kafka.topic("alerts"), lambda xs: len(xs) >= len(alerts))
        dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) > 0, timeout=5)
    killed_log = first.text()
    completeness = [(x["status"], x["observed"]) for x in alerts
                    if x["check"] == "completeness"]
    result = {"fault": "observing instance SIGKILLed mid-window",
              "records": BEFORE + AFTER, "observations": completeness, **taken}
    h.record("observe_kill", result)
    assert "orders[" in killed_log.rsplit("observing", 1)[-1], killed_log[-3000:]
    # one observation of the window: every record once, none lost
    assert completeness == [("firing", float(BEFORE + AFTER))], (result, second.text()[-4000:])
    summaries = [d for d in dead if d["kind"] == "malformed_records"]
    assert [d["count"] for d in summaries] == [1], dead
    assert not [d for d in dead if d["kind"] == "malformed_event"], dead
    assert orjson.dumps(summaries[0]["first"])  # names the record: partition, offset, reason
