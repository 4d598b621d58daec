"""``dq-monitor run`` as a separate process: start-up, SIGTERM and SIGKILL, seen from outside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.integration.conftest import HEARTBEAT, SESSION_TIMEOUT, Kafka, now_rfc3339

pytestmark = pytest.mark.integration

CONFIG = """
kafka:
  bootstrap_servers: "${{DQ_KAFKA_BOOTSTRAP}}"
  group_id: {prefix}-proc
  input_topics: [{prefix}.updates, {prefix}.metrics]
  alert_topic: {prefix}.alerts
  dead_letter_topic: {prefix}.dead
  session_timeout: {session}
  heartbeat_interval: {heartbeat}
telemetry: {{http_port: 0}}
sources:
  - name: orders
    anomaly: {{metrics: [revenue], window: 30, min_samples: 5, z_warn: 3, z_fail: 4,
               rebaseline_after: 1000}}
"""


def write_config(tmp_path: Path, kafka: Kafka) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(prefix=kafka.prefix, session=SESSION_TIMEOUT,
                                  heartbeat=HEARTBEAT))
    return path


def start(config: Path, kafka: Kafka) -> subprocess.Popen[str]:
    env = {**os.environ, "DQ_KAFKA_BOOTSTRAP": kafka.bootstrap, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "dq_monitor.cli", "run", "--config", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


async def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 30) -> str:
    """Read the process's log until a line contains ``needle``."""
    assert proc.stdout is not None
    seen: list[str] = []
    with anyio.fail_after(timeout):
        while True:
            line = await anyio.to_thread.run_sync(proc.stdout.readline)
            if not line:
                raise AssertionError("process exited:\n" + "".join(seen))
            seen.append(line)
            if needle in line:
                return "".join(seen)


def metric(i: int, value: float) -> dict[str, Any]:
    return {"type": "metric", "source": "orders", "metric": "revenue", "value": value,
            "ts": now_rfc3339(), "tags": {"n": str(i % 4)}}


def series_values(count: int) -> list[tuple[int, float]]:
    """Four series; every 25th value of a series is a spike with a value unique to it."""
    out = []
    for i in range(count):
        n = i // 4
        out.append((i, 1000.0 + n if n % 25 == 24 else 100.0 + (n % 5)))
    return out


def spike_ids(values: list[tuple[int, float]]) -> set[tuple[str, float]]:
    return {(f"revenue{{n={i % 4}}}", v) for i, v in values if v >= 1000}


@pytest.mark.req("NFR-004", "FR-011")
async def test_sigterm_logs_a_summary_and_exits_cleanly(kafka: Kafka, tmp_path: Path) -> None:
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"))
    proc = start(write_config(tmp_path, kafka), kafka)
    try:
        log = await wait_for_line(proc, "assigned partitions")
        assert "dq-monitor starting: 1 source(s), 1 check(s)" in log
        assert kafka.bootstrap in log
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = await anyio.to_thread.run_sync(lambda: proc.wait(timeout=15))
        assert code == 0
        assert time.monotonic() - started < 10
        rest = proc.stdout.read() if proc.stdout else ""
        assert "Traceback" not in log + rest
        assert "stopped" in rest
    finally:
        proc.kill()


@pytest.mark.req("NFR-004")
async def test_sigkill_mid_stream_loses_no_alert(kafka: Kafka, tmp_path: Path) -> None:
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"))
    config = write_config(tmp_path, kafka)
    values = series_values(800)
    expected = spike_ids(values)
    assert len(expected) == 32

    def fired(alerts: list[dict[str, Any]]) -> set[tuple[str, float]]:
        return {(a["subject"], a["observed"]) for a in alerts
                if a["status"] == "firing" and a["severity"] == "FAIL"}

    proc = start(config, kafka)
    try:
        await wait_for_line(proc, "assigned partitions")
        for i, v in values[:500]:
            await kafka.send(kafka.topic("metrics"), metric(i, v), key="orders")
        proc.send_signal(signal.SIGKILL)  # no chance to flush or commit
        proc.wait(timeout=10)
        for i, v in values[500:]:
            await kafka.send(kafka.topic("metrics"), metric(i, v), key="orders")
        proc = start(config, kafka)
        restart_log = await wait_for_line(proc, "assigned partitions")
        alerts = await kafka.read(kafka.topic("alerts"), lambda xs: fired(xs) >= expected,
                                  timeout=40)
    finally:
        proc.kill()
    assert fired(alerts) == expected, f"restart log:\n{restart_log}"
    # every spike is followed by a recovery: each series resolved as often as it fired
    resolved = [a for a in alerts if a["status"] == "resolved"]
    assert len({a["fingerprint"] for a in resolved}) == 4


@pytest.mark.req("NFR-004", "FR-001")
async def test_broker_unreachable_at_start_is_waited_out(tmp_path: Path) -> None:
    """No broker yet: one clear line, retries with backoff, no traceback; then it works."""
    from dq_monitor.embedded import embedded_broker, free_port

    port = free_port()
    prefix = f"u{os.getpid()}{int(time.time())}"
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(prefix=prefix, session=SESSION_TIMEOUT, heartbeat=HEARTBEAT))
    env = {**os.environ, "DQ_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "dq_monitor.cli", "run", "--config",
                             str(path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        log = await wait_for_line(proc, "unreachable")
        assert f"broker 127.0.0.1:{port} unreachable" in log
        with embedded_broker(port) as address:
            kafka = Kafka(address, prefix)
            await kafka.create(kafka.topic("updates"), kafka.topic("metrics"))
            log += await wait_for_line(proc, "assigned partitions", timeout=60)
            await kafka.close()
            proc.send_signal(signal.SIGTERM)
            assert await anyio.to_thread.run_sync(lambda: proc.wait(timeout=15)) == 0
        assert "Traceback" not in log
    finally:
        proc.kill()
