"""FR-025 from outside: ``kill -HUP`` of a real ``dq-monitor run`` process re-reads its file
without a restart; ``POST /-/reload`` refuses an invalid one with every error by path."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.integration.conftest import HEARTBEAT, SESSION_TIMEOUT, Kafka, now_rfc3339
from tests.integration.test_process import start, wait_for_line

pytestmark = pytest.mark.integration

CONFIG = """
kafka:
  bootstrap_servers: "${{DQ_KAFKA_BOOTSTRAP}}"
  group_id: {prefix}-reload
  input_topics: [{prefix}.updates, {prefix}.metrics]
  alert_topic: {prefix}.alerts
  dead_letter_topic: {prefix}.dead
  session_timeout: {session}
  heartbeat_interval: {heartbeat}
  commit_interval: 1s
telemetry: {{http_port: 0}}
sources:
  - name: orders
    anomaly: {{metrics: [revenue], window: 30, min_samples: 10, z_warn: 3, z_fail: 4}}
{more}
"""
PAYMENTS = "  - name: payments\n    completeness: {min_row_count: 1}\n"
ADDED = "  - name: added\n    completeness: {min_row_count: 1}\n"
INVALID = ("  - name: broken\n    anomaly: {metrics: [], window: 1}\n"
           "    completeness: {min_row_count: -1}\n")


def write(path: Path, kafka: Kafka, more: str) -> None:
    path.write_text(CONFIG.format(prefix=kafka.prefix, session=SESSION_TIMEOUT,
                                  heartbeat=HEARTBEAT, more=more))


def update(source: str, rows: int) -> dict[str, Any]:
    return {"type": "table_update", "source": source, "updated_at": now_rfc3339(),
            "row_count": rows}


def revenue(value: float) -> dict[str, Any]:
    return {"type": "metric", "source": "orders", "metric": "revenue", "value": value,
            "ts": now_rfc3339()}


def having(*want: tuple[str, str, str]) -> Any:
    def check(alerts: list[dict[str, Any]]) -> bool:
        seen = {(a["source"], a["check"], a["status"]) for a in alerts}
        return set(want) <= seen
    return check


@pytest.mark.req("FR-025", "FR-005")
async def test_sighup_applies_a_new_file_in_the_same_process(kafka: Kafka,
                                                             tmp_path: Path) -> None:
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"))
    path = tmp_path / "config.yaml"
    write(path, kafka, PAYMENTS)
    proc = start(path, kafka)
    log = ""
    try:
        log += await wait_for_line(proc, "assigned partitions")
        found = re.search(r"operator API on http://127\.0\.0\.1:(\d+)/", log)
        assert found is not None
        port = int(found.group(1))
        pid = proc.pid
        for i in range(40):
            await kafka.send(kafka.topic("metrics"), revenue(100.0 + i % 5), key="orders")
        await kafka.send(kafka.topic("updates"), update("payments", 0), key="payments")
        await kafka.read(kafka.topic("alerts"), having(("payments", "completeness", "firing")))

        write(path, kafka, ADDED)  # payments removed, added added
        os.kill(pid, signal.SIGHUP)
        log += await wait_for_line(proc, "configuration reloaded (SIGHUP)")
        await kafka.send(kafka.topic("updates"), update("added", 0), key="added")
        await kafka.send(kafka.topic("metrics"), revenue(10_000.0), key="orders")
        alerts = await kafka.read(kafka.topic("alerts"), having(
            ("payments", "completeness", "resolved"), ("added", "completeness", "firing"),
            ("orders", "anomaly", "firing")))
        [gone] = [a for a in alerts if a["source"] == "payments" and a["status"] == "resolved"]
        assert "no longer monitored" in gone["detail"]
        spike = next(a for a in alerts if a["source"] == "orders")
        assert (spike["severity"], spike["observed"]) == ("FAIL", 10_000.0)  # no new warm-up

        write(path, kafka, ADDED + INVALID)
        os.kill(pid, signal.SIGHUP)
        refused = await wait_for_line(proc, "configuration reload (SIGHUP) refused")
        for _ in range(3):  # every error, one line each
            refused += await wait_for_line(proc, "  sources[2].")
        log += refused
        for where in ("sources[2].anomaly.metrics", "sources[2].anomaly.window",
                      "sources[2].completeness.min_row_count"):
            assert where in refused
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            answer = await client.post("/-/reload", json={})
        assert answer.status_code == 400
        assert {e.split(":")[0] for e in answer.json()["errors"]} == {
            "sources[2].anomaly.metrics", "sources[2].anomaly.window",
            "sources[2].completeness.min_row_count"}
        # the running configuration still judges: added recovers
        await kafka.send(kafka.topic("updates"), update("added", 5), key="added")
        await kafka.read(kafka.topic("alerts"), having(("added", "completeness", "resolved")))
        assert proc.poll() is None and proc.pid == pid
        proc.send_signal(signal.SIGTERM)
        assert await anyio.to_thread.run_sync(lambda: proc.wait(timeout=15)) == 0
        rest = proc.stdout.read() if proc.stdout else ""
        assert "Traceback" not in log + rest
    finally:
        proc.kill()
