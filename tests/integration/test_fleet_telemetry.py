"""``/metrics`` of a running ``dq-monitor run`` watching thousands of sources (NFR-003, FR-024):
every source's series count is there and right past OpenTelemetry's default cardinality limit
of 2,000, and the event loop keeps answering while a large scrape renders."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import orjson
import pytest

from tests.integration.conftest import HEARTBEAT, SESSION_TIMEOUT, Kafka, now_rfc3339

pytestmark = pytest.mark.integration

SOURCES = 2500
TRACKED = re.compile(r'^dq_series_tracked\{source="([^"]+)"\} (\S+)$', re.MULTILINE)


def series_of(i: int) -> int:
    """Source ``i`` gets 1, 2 or 3 series (one metric, a tag with that many values)."""
    return 1 + i % 3


def fleet_config(kafka: Kafka) -> str:
    entries = "".join(f"  - name: s-{i:04d}\n    anomaly: {{metrics: [m]}}\n"
                      for i in range(SOURCES))
    return f"""
kafka:
  bootstrap_servers: "{kafka.bootstrap}"
  group_id: {kafka.prefix}-fleet
  input_topics: [{kafka.topic("metrics")}]
  alert_topic: {kafka.topic("alerts")}
  dead_letter_topic: {kafka.topic("dead")}
  session_timeout: {SESSION_TIMEOUT}
  heartbeat_interval: {HEARTBEAT}
telemetry: {{http_port: 0}}
sources:
{entries}"""


async def api_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    seen: list[str] = []
    with anyio.fail_after(60):
        while True:
            line = await anyio.to_thread.run_sync(proc.stdout.readline)
            if not line:
                raise AssertionError("process exited:\n" + "".join(seen))
            seen.append(line)
            found = re.search(r"operator API on http://127\.0\.0\.1:(\d+)/", line)
            if found:
                return int(found.group(1))


@pytest.mark.req("NFR-003", "FR-024", "NFR-002")
async def test_every_sources_series_count_is_scraped_right_past_two_thousand_sources(
    kafka: Kafka, tmp_path: Path,
) -> None:
    await kafka.create(kafka.topic("metrics"))
    config = tmp_path / "fleet.yaml"
    config.write_text(fleet_config(kafka))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dq_monitor.cli", "run", "--no-router", "--config", str(config)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    drain = None
    try:
        port = await api_port(proc)
        assert proc.stdout is not None
        drain = asyncio.get_running_loop().run_in_executor(None, proc.stdout.read)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            with anyio.fail_after(60):
                while (await http.get("/readyz")).status_code != 200:
                    await anyio.sleep(0.2)
            producer = await kafka.producer()
            sends = [await producer.send(kafka.topic("metrics"), orjson.dumps(
                {"type": "metric", "source": f"s-{i:04d}", "metric": "m", "value": 1.0 + j,
                 "ts": now_rfc3339(), "tags": {"k": str(j)}}), key=f"s-{i:04d}".encode())
                for i in range(SOURCES) for j in range(series_of(i))]
            await asyncio.gather(*sends)
            expected = {f"s-{i:04d}": float(series_of(i)) for i in range(SOURCES)}
            tracked: dict[str, float] = {}
            with anyio.fail_after(90):
                while tracked != expected:
                    text = (await http.get("/metrics")).text
                    tracked = {name: float(v) for name, v in TRACKED.findall(text)}
                    await anyio.sleep(0.5)
            assert "otel_metric_overflow" not in text
            assert sum(tracked.values()) == sum(expected.values()) == 4999
            assert (tracked["s-0000"], tracked["s-2300"], tracked["s-2499"]) == (1.0, 3.0, 1.0)

            # the loop keeps serving while a scrape of this size renders
            scrape = asyncio.create_task(http.get("/metrics"))
            answered = 0
            while not scrape.done():
                if (await http.get("/healthz")).status_code == 200 and not scrape.done():
                    answered += 1
            assert (await scrape).status_code == 200
            assert answered >= 3  # rendered on the loop, one or two slip in before it starts
    finally:
        proc.send_signal(signal.SIGTERM)
        await anyio.to_thread.run_sync(proc.wait, 30)
        if drain is not None:
            await drain
