"""Telemetry over real HTTP: /metrics in Prometheus format, /healthz, /readyz."""

from __future__ import annotations

import re
import threading

import httpx
import prometheus_client
import pytest

from dq_monitor import telemetry as telemetry_module
from dq_monitor.api import OperatorApi
from dq_monitor.config import TelemetryConfig, parse_config
from dq_monitor.telemetry import Telemetry, per_source_limit

MINIMAL = """
kafka: {bootstrap_servers: "127.0.0.1:9", input_topics: [in], alert_topic: a,
        dead_letter_topic: d}
sources: [{name: orders}]
"""


@pytest.mark.req("NFR-002")
async def test_latency_histogram_and_health_endpoints() -> None:
    tel = Telemetry(TelemetryConfig(http_port=0))
    api = OperatorApi(parse_config(MINIMAL), tel)
    port = await api.start(port=0)
    ready = {"monitor": False}
    tel.ready_checks["monitor"] = lambda: ready["monitor"]
    tel.gauge("dq_series_tracked", lambda: [(3.0, {"source": "orders"})])
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).status_code == 200
            not_ready = await client.get("/readyz")
            assert not_ready.status_code == 503 and "monitor: not ready" in not_ready.text
            ready["monitor"] = True
            assert (await client.get("/readyz")).status_code == 200
            for seconds in (0.004, 0.012, 0.090):
                tel.alert_latency.record(seconds, {"channel": "slack-dq", "check": "anomaly",
                                                   "severity": "FAIL"})
            body = (await client.get("/metrics")).text
    finally:
        await api.aclose()
        await tel.aclose()
    assert 'dq_alert_latency_seconds_bucket{channel="slack-dq",check="anomaly"' in body
    assert 'le="0.005"' in body and 'le="0.2"' in body
    assert 'dq_alert_latency_seconds_count{channel="slack-dq",check="anomaly",' \
           'severity="FAIL"} 3.0' in body
    assert 'dq_series_tracked{source="orders"} 3.0' in body


@pytest.mark.req("NFR-002", "NFR-003")
async def test_disabled_telemetry_records_nothing_and_needs_no_checks_by_callers() -> None:
    tel = Telemetry.disabled()
    tel.alert_latency.record(0.01, {"channel": "c"})
    tel.deliveries.add(1, {"channel": "c", "outcome": "ok"})
    with tel.tracer.start_as_current_span("deliver c") as span:
        span.set_attribute("dq.attempts", 1)
        assert not span.is_recording()
    assert b"dq_deliveries" not in tel.metrics_text()
    await tel.aclose()


@pytest.mark.req("NFR-008", "NFR-002")
def test_evicted_series_are_a_counter_by_source() -> None:
    tel = Telemetry(TelemetryConfig(http_port=0))
    totals = {"orders": 2}
    tel.gauge("dq_series_evicted", lambda: [(n, {"source": s}) for s, n in totals.items()])
    body = tel.metrics_text().decode()
    assert "# TYPE dq_series_evicted_total counter" in body
    assert 'dq_series_evicted_total{source="orders"} 2.0' in body
    totals["orders"] = 5
    assert 'dq_series_evicted_total{source="orders"} 5.0' in tel.metrics_text().decode()


@pytest.mark.req("NFR-003", "FR-024")
def test_per_source_metrics_keep_every_source_the_config_can_watch() -> None:
    """Past OpenTelemetry's default 2,000 attribute sets a gauge folds the rest into one
    overflow series; the per-source views are sized from the configuration instead."""
    counts = {f"s-{i:04d}": 1 + i % 4 for i in range(3000)}
    tel = Telemetry(TelemetryConfig(http_port=0), sources=len(counts))
    tel.gauge("dq_series_tracked", lambda: [(n, {"source": s}) for s, n in counts.items()])
    tel.gauge("dq_series_evicted", lambda: [(1, {"source": s}) for s in counts])
    body = tel.metrics_text().decode()
    assert "otel_metric_overflow" not in body
    tracked = re.findall(r'^dq_series_tracked\{source="([^"]+)"\} (\S+)$', body, re.MULTILINE)
    assert {s: float(v) for s, v in tracked} == {s: float(n) for s, n in counts.items()}
    assert body.count("dq_series_evicted_total{source=") == 3000
    assert per_source_limit(3000) == 6000 and per_source_limit(10) == 2000


@pytest.mark.req("NFR-003", "NFR-002")
async def test_a_scrape_reads_the_gauges_on_the_loop_and_renders_off_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gauges' sources are the monitor's live state, which only the loop may read; the
    rendering itself, the costly part, runs in a worker thread."""
    loop_thread = threading.get_ident()
    read_on: list[int] = []
    rendered_on: list[int] = []
    tel = Telemetry(TelemetryConfig(http_port=0))

    def tracked() -> list[tuple[float, dict[str, str]]]:
        read_on.append(threading.get_ident())
        return [(3, {"source": "orders"})]

    tel.gauge("dq_series_tracked", tracked)
    tel.events.add(2, {"topic": "t", "type": "metric"})
    real = prometheus_client.generate_latest

    def spy(registry: prometheus_client.CollectorRegistry) -> bytes:
        rendered_on.append(threading.get_ident())
        return real(registry)

    monkeypatch.setattr(telemetry_module, "generate_latest", spy)
    body = (await tel.render_metrics()).decode()
    assert 'dq_series_tracked{source="orders"} 3.0' in body
    assert 'dq_events_consumed_total{topic="t",type="metric"} 2.0' in body
    assert read_on == [loop_thread]
    assert rendered_on and loop_thread not in rendered_on
    await tel.aclose()
