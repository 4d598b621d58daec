"""``dq-monitor seed`` on the real broker (FR-013, FR-017): a weekly series seeded from its
history is judged by the live monitor from its first value, and newer live state is kept."""

from __future__ import annotations

import math
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from dq_monitor.config import parse_config
from dq_monitor.monitor import partition_for
from tests.integration.conftest import HEARTBEAT, SESSION_TIMEOUT, Kafka, running

pytestmark = pytest.mark.integration

SOURCE = "shop.orders"
STEP = timedelta(minutes=5)


def config_text(kafka: Kafka) -> str:
    return f"""
kafka:
  bootstrap_servers: "{kafka.bootstrap}"
  group_id: {kafka.prefix}-monitor
  input_topics: [{kafka.topic("metrics")}]
  alert_topic: {kafka.topic("alerts")}
  dead_letter_topic: {kafka.topic("dead")}
  session_timeout: {SESSION_TIMEOUT}
  heartbeat_interval: {HEARTBEAT}
sources:
  - name: {SOURCE}
    anomaly: {{metrics: [rows]}}
"""


def weekly(t: datetime, rng: random.Random) -> float:
    """Row counts: a daily wave around 1,000 on weekdays, 300 lower at the weekend."""
    hour = t.hour + t.minute / 60.0
    wave = 80.0 * math.sin(2 * math.pi * (hour - 9.0) / 24.0)
    base = 700.0 + 0.5 * wave if t.weekday() >= 5 else 1000.0 + wave
    return round(base + rng.gauss(0.0, 10.0), 1)


def seed(config: Path, history: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dq_monitor.cli", "seed", "--config", str(config), "--source",
         SOURCE, "--metric", "rows", str(history), *extra],
        capture_output=True, text=True, timeout=120, check=False)


def metric(value: float, ts: datetime) -> dict[str, Any]:
    return {"type": "metric", "source": SOURCE, "metric": "rows", "value": value,
            "ts": ts.isoformat().replace("+00:00", "Z")}


@pytest.mark.req("FR-013", "FR-017")
async def test_a_seeded_weekly_series_is_judged_from_its_first_live_value(
    kafka: Kafka, tmp_path: Path,
) -> None:
    await kafka.create(kafka.topic("metrics"), partitions=3)
    config = tmp_path / "dq.yaml"
    config.write_text(config_text(kafka))
    rng = random.Random(4)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    end = now - timedelta(hours=1, minutes=now.minute % 5)
    # three weeks of history, in two files of a directory (read in name order)
    stamps = [end - i * STEP for i in range(int(21 * 86_400 / STEP.total_seconds()))][::-1]
    history = tmp_path / "history"
    history.mkdir()
    half = len(stamps) // 2
    for name, part in (("1.csv", stamps[:half]), ("2.csv", stamps[half:])):
        rows = "".join(f"{t.isoformat()},{weekly(t, rng)}\n" for t in part)
        (history / name).write_text("timestamp,value\n" + rows)

    done = seed(config, history)
    assert done.returncode == 0, done.stderr
    home = partition_for(SOURCE, 3)
    assert f"changelog partition {home}" in done.stdout
    assert f"from {len(stamps)} value(s)" in done.stdout

    cfg = parse_config(config_text(kafka), env={})
    live = [end + k * STEP for k in range(1, 13)]
    spike_at = end + 13 * STEP
    async with running(cfg) as service:
        for t in live:
            await kafka.send(kafka.topic("metrics"), metric(weekly(t, rng), t), key=SOURCE)
        spike = weekly(spike_at, rng) + 500.0
        await kafka.send(kafka.topic("metrics"), metric(spike, spike_at), key=SOURCE)
        alerts = await kafka.read(kafka.topic("alerts"), lambda xs: len(xs) >= 1, timeout=20)
        with anyio.fail_after(20):
            while service.monitor.stats["events.metric"] < len(live) + 1:
                await anyio.sleep(0.05)
    # Quiet on the twelve ordinary values and an alert on the thirteenth: an unseeded series
    # would still be collecting its 20-value warm-up.
    assert [(a["check"], a["subject"], a["status"]) for a in alerts] == [
        ("anomaly", "rows", "firing")]
    assert alerts[0]["observed"] == spike

    # The live monitor has checkpointed later state since: seeding again is refused ...
    again = seed(config, history)
    assert again.returncode != 0
    assert "newer" in again.stderr and "--force" in again.stderr
    # ... unless forced.
    forced = seed(config, history, "--force")
    assert forced.returncode == 0, forced.stderr
