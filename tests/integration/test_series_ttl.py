"""Idle series are evicted on a real broker (NFR-008, NFR-005): series tagged with batch ids fill
``max_series``, go idle, are evicted (their firing alert resolved, their state tombstoned in the
changelog), a new series gets in, and a restarted service does not bring the evicted ones back."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from dq_monitor.ingest.service import MonitorService
from dq_monitor.telemetry import Telemetry
from tests.integration.conftest import Kafka, config_for, now_rfc3339, running

pytestmark = pytest.mark.integration

#: Long enough for a restart (stop, group join, restore) to finish well within it.
TTL_S = 15
SOURCES = f"""
  - name: jobs
    anomaly: {{metrics: [rows], baseline: rolling, window: 10, min_samples: 5,
              series_ttl: {TTL_S}s}}
    max_series: 2
"""
EXTRA = "scheduler: {sweep_interval: 1s}\n"


def rows(batch: str, value: float) -> dict[str, Any]:
    return {"type": "metric", "source": "jobs", "metric": "rows", "value": value,
            "ts": now_rfc3339(), "tags": {"batch": batch}}


async def until(check: Any, timeout: float) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.1)


def live(service: MonitorService) -> set[str]:
    src = service.monitor.sources.get("jobs")
    return set() if src is None else set(src.series)


@pytest.mark.req("NFR-008", "NFR-005")
async def test_idle_batch_series_are_evicted_free_the_cap_and_stay_gone_after_a_restart(
    kafka: Kafka,
) -> None:
    metrics = kafka.topic("metrics")
    await kafka.create(metrics)
    cfg = config_for(kafka, SOURCES, EXTRA, inputs=("metrics",))
    telemetry = Telemetry(cfg.telemetry)
    try:
        async with running(cfg, telemetry=telemetry) as service:
            for i in range(6):  # b-1 learns a baseline, then jumps: its alert fires
                await kafka.send(metrics, rows("b-1", 100.0 + i % 3), key="jobs")
            await kafka.send(metrics, rows("b-1", 10_000.0), key="jobs")
            await kafka.send(metrics, rows("b-2", 5.0), key="jobs")
            await kafka.send(metrics, rows("b-3", 5.0), key="jobs")  # past max_series
            dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= 1)
            assert [(d["kind"], d["series"]) for d in dead] == [
                ("series_cap_exceeded", "rows{batch=b-3}")]
            # idle for the TTL: both evicted, the alert resolved
            alerts = await kafka.read(kafka.topic("alerts"), lambda xs: len(xs) >= 2,
                                      timeout=TTL_S + 20)
            assert live(service) == set()
            assert [(a["subject"], a["status"], a["severity"]) for a in alerts] == [
                ("rows{batch=b-1}", "firing", "FAIL"), ("rows{batch=b-1}", "resolved", "FAIL")]
            assert "evicted" in alerts[1]["detail"] and f"{TTL_S}s" in alerts[1]["detail"]
            text = telemetry.metrics_text().decode()
            assert 'dq_series_evicted_total{source="jobs"} 2.0' in text
            assert 'dq_series_tracked{source="jobs"} 0.0' in text
            # a new batch gets in: no dead letter this time
            for i in range(3):
                await kafka.send(metrics, rows("b-4", 7.0 + i), key="jobs")
            await until(lambda: service.monitor.stats["events.metric"] >= 12, 20)
            assert live(service) == {"rows{batch=b-4}"}
        # the changelog holds tombstones for the evicted series and the resolved alert state
        changelog = await kafka.read_records(
            service.changelog_topic,
            lambda rs: sum(r.value is None for r in rs) >= 3)
        tombstones = {r.key.decode() for r in changelog if r.value is None}
        assert tombstones >= {"ser\x1fjobs\x1frows{batch=b-1}", "ser\x1fjobs\x1frows{batch=b-2}",
                              "w\x1fjobs\x1fanomaly\x1frows{batch=b-1}"}
        # a restarted service restores the live series only
        async with running(cfg) as again:
            assert live(again) == {"rows{batch=b-4}"}
            assert again.monitor.sources["jobs"].series["rows{batch=b-4}"].count == 3
            assert again.monitor.sources["jobs"].watches == {}
        dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) > 1, timeout=2)
        assert [d["series"] for d in dead] == ["rows{batch=b-3}"]
    finally:
        await telemetry.aclose()
