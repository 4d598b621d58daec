"""After alerts flow: the real /metrics output, and a real Prometheus computing the p95."""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import anyio
import httpx
import pytest

from dq_monitor.api import OperatorApi
from dq_monitor.embedded import free_port, wait_for_port
from dq_monitor.ingest.service import MonitorService
from dq_monitor.routing.router import AlertRouter
from dq_monitor.telemetry import Telemetry
from dq_monitor.testing import HttpReceiver
from tests.integration.conftest import Kafka, config_for, now_rfc3339
from tests.test_compose import dashboard_metrics
from tests.tools import require_tool

pytestmark = pytest.mark.integration


async def scrape_with_prometheus(port: int) -> float:
    """Run a real Prometheus against the monitor; return its histogram_quantile(0.95, ...)."""
    prom_port = free_port()
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "prometheus.yml"
        cfg.write_text(f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: dq-monitor
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
""")
        proc = subprocess.Popen(
            ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={d}/data",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port("127.0.0.1", prom_port, timeout=30)
            query = ("histogram_quantile(0.95, sum by (le) "
                     "(dq_alert_latency_seconds_bucket{channel=\"hook\"}))")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{prom_port}") as client:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    r = await client.get("/api/v1/query", params={"query": query})
                    result = r.json()["data"]["result"]
                    if result:
                        return float(result[0]["value"][1])
                    await anyio.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    raise AssertionError("Prometheus never returned the quantile")


@pytest.mark.req("NFR-002")
async def test_metrics_after_alerts_flow_and_prometheus_p95(kafka: Kafka) -> None:
    prometheus = require_tool("prometheus")
    await kafka.create(kafka.topic("updates"))
    hook = HttpReceiver()
    url = await hook.start()
    cfg = config_for(kafka, """  - name: orders
    completeness: {columns: {customer_id: {max_null_rate: 0.1}}}
    anomaly: {metrics: [row_count], window: 10, min_samples: 3}
""", f"""
routing:
  routes: [{{match: {{}}, channels: [hook]}}]
channels:
  hook: {{type: webhook, url: "{url}/alerts"}}
telemetry: {{http_port: 0}}
""", inputs=("updates",), group="tel")
    telemetry = Telemetry(cfg.telemetry)
    api = OperatorApi(cfg, telemetry)
    port = await api.start()
    stop = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            service = MonitorService(cfg, telemetry=telemetry)
            router = AlertRouter(cfg, telemetry=telemetry)
            tg.start_soon(service.run, stop)
            tg.start_soon(router.run, stop)
            with anyio.fail_after(30):
                await service.ready.wait()
                await router.ready.wait()
            for nulls in (50, 0, 60, 0, 70):  # three firing episodes, two recoveries
                await kafka.send(kafka.topic("updates"), {
                    "type": "table_update", "source": "orders", "updated_at": now_rfc3339(),
                    "row_count": 100, "null_counts": {"customer_id": nulls}}, key="orders")
            await kafka.send(kafka.topic("updates"), b"{broken", key="orders")
            with anyio.fail_after(20):
                while len(hook.requests) < 5:
                    await anyio.sleep(0.05)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                text = (await client.get("/metrics")).text
                ready = await client.get("/readyz")
            p95 = await scrape_with_prometheus(port) if prometheus else None
            stop.set()
    finally:
        await api.aclose()
        await telemetry.aclose()
        await hook.stop()
    assert ready.status_code == 200
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
             if line and not line.startswith("#")}
    assert dashboard_metrics() <= names, dashboard_metrics() - names
    assert 'dq_alert_latency_seconds_bucket{channel="hook",check="completeness"' in text
    assert 'dq_dead_letters_total{kind="malformed_event"} 1.0' in text
    # Every input record is counted once, by its topic and type (malformed ones too).
    topic = kafka.topic("updates")
    assert f'dq_events_consumed_total{{topic="{topic}",type="table_update"}} 5.0' in text
    assert f'dq_events_consumed_total{{topic="{topic}",type="malformed"}} 1.0' in text
    assert f'topic="{topic}",type="metric"' not in text  # none sent, so no zero series either
    if p95 is not None:
        assert 0 < p95 < 0.2
