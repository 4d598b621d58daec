"""Telemetry over real HTTP: /metrics in Prometheus format, /healthz, /readyz."""

from __future__ import annotations

import asyncio
import re
import threading

import httpx
import prometheus_client
import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client.parser import text_string_to_metric_families

from dq_monitor import exposition
from dq_monitor import telemetry as telemetry_module
from dq_monitor.api import OperatorApi
from dq_monitor.config import TelemetryConfig, parse_config
from dq_monitor.telemetry import SCRAPE_TIME, Telemetry, per_source_limit
from dq_monitor.testing import HttpReceiver

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
async def test_a_scrape_reads_the_gauges_on_the_loop_and_renders_the_instruments_off_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gauges' sources are the monitor's live state, which only the loop may read (and
    their text is written there, a chunk at a time); the counters and histograms render
    through OpenTelemetry in a worker thread."""
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


#: Values and label sets that exercise the text format: escapes, integers, Go's exponent
#: form, infinities, a label one sample lacks, label names out of order, non-string values.
AWKWARD: list[tuple[float, dict[str, object]]] = [
    (3, {"source": 'quo"te\\back\nline'}), (2.5, {"source": "plain"}),
    (1234567.0, {"source": "big"}), (1e20, {"source": "huge"}), (0.000123, {"source": "tiny"}),
    (float("inf"), {"source": "inf"}), (-7, {"source": "neg"}),
    (4, {"topic": "t", "partition": 0}), (5, {"source": "both", "partition": 3}),
]


def otel_reader_text(name: str, kind: str, unit: str, description: str,
                     samples: list[tuple[float, dict[str, object]]]) -> str:
    """What OpenTelemetry's own Prometheus reader writes for one instrument with these
    values: the reference the direct rendering must match byte for byte."""
    registry = prometheus_client.CollectorRegistry()
    provider = MeterProvider(metric_readers=[
        PrometheusMetricReader(registry=registry, scope_info_enabled=False)])
    meter = provider.get_meter("reference")

    def callback(options: CallbackOptions) -> list[Observation]:
        return [Observation(v, a) for v, a in samples]  # type: ignore[arg-type]

    create = (meter.create_observable_counter if kind == "counter"
              else meter.create_observable_gauge)
    create(name, callbacks=[callback], description=description, unit=unit)
    text = prometheus_client.generate_latest(registry).decode()
    provider.shutdown()
    return text[text.index("# HELP dq_"):]


@pytest.mark.req("NFR-002", "NFR-003")
@pytest.mark.parametrize(("name", "kind", "unit", "description"), SCRAPE_TIME)
async def test_scrape_time_gauges_are_written_as_opentelemetrys_reader_writes_them(
    name: str, kind: str, unit: str, description: str,
) -> None:
    """The scrape writes these families itself; dashboards and rules see the same text."""
    tel = Telemetry(TelemetryConfig(http_port=0))
    tel.gauge(name, lambda: AWKWARD)
    expected = otel_reader_text(name, kind, unit, description, AWKWARD)
    for body in (tel.metrics_text().decode(), (await tel.render_metrics()).decode()):
        assert expected in body
        assert body.count(f"# TYPE {name}") == 1  # not a second time through OpenTelemetry
        parsed = {f.name: f for f in text_string_to_metric_families(body)}
        (fam,) = [f for f in parsed.values() if f.name.startswith(name)]
        assert fam.type == kind and len(fam.samples) == len(AWKWARD) - 1  # not inf
    await tel.aclose()


@pytest.mark.req("NFR-003", "FR-024", "NFR-002")
async def test_every_source_is_scraped_even_past_the_sources_the_telemetry_was_sized_for(
) -> None:
    """A reload can add sources past what the telemetry was sized for at start-up; the
    scrape still reports every source's own count, never an overflow series."""
    counts = {f"s-{i:05d}": 1 + i % 7 for i in range(12_000)}
    tel = Telemetry(TelemetryConfig(http_port=0), sources=100)
    tel.gauge("dq_series_tracked", lambda: [(n, {"source": s}) for s, n in counts.items()])
    body = (await tel.render_metrics()).decode()
    await tel.aclose()
    assert "otel_metric_overflow" not in body
    (fam,) = [f for f in text_string_to_metric_families(body) if f.name == "dq_series_tracked"]
    assert {s.labels["source"]: s.value for s in fam.samples} == {
        s: float(n) for s, n in counts.items()}


@pytest.mark.req("NFR-003")
async def test_a_large_scrape_hands_the_loop_back_between_chunks() -> None:
    """At 10,000 sources the gauge text is written a chunk at a time; a task waiting on the
    loop runs between the chunks, not only once the scrape is done."""
    tel = Telemetry(TelemetryConfig(http_port=0), sources=10_000)
    labels = [{"source": f"s-{i:05d}"} for i in range(10_000)]
    tel.gauge("dq_series_tracked", lambda: [(10, label) for label in labels])
    ticks = 0
    done = False

    async def tick() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    scrape = asyncio.create_task(tel.render_metrics())
    at_start = ticks
    while not scrape.done():
        await asyncio.sleep(0)
    body = await scrape
    done = True
    await ticker
    await tel.aclose()
    assert body.count(b"\ndq_series_tracked{") == 10_000
    assert ticks - at_start >= 10_000 // exposition.CHUNK


@pytest.mark.req("NFR-002", "NFR-003")
async def test_otlp_export_still_carries_the_gauges_a_scrape_writes_itself() -> None:
    """The scrape-time instruments give OpenTelemetry nothing while a Prometheus scrape
    collects, and everything when OTLP exports: a real OTLP/HTTP push is read back. The
    export runs in the exporter's thread; the gauges (live state) are still read on the loop."""
    loop_thread = threading.get_ident()
    read_on: set[int] = set()

    def tracked() -> list[tuple[float, dict[str, str]]]:
        read_on.add(threading.get_ident())
        return [(4, {"source": "orders"}), (2, {"source": "refunds"})]

    async with HttpReceiver() as collector:
        tel = Telemetry(TelemetryConfig(http_port=0, otlp_endpoint=collector.url), sources=3)
        tel.gauge("dq_series_tracked", tracked)
        assert b'dq_series_tracked{source="orders"} 4.0' in await tel.render_metrics()
        assert tel.provider is not None
        await asyncio.to_thread(tel.provider.force_flush)
        await tel.aclose()  # its final export is answered by this loop: aclose must not hold it
    pushes = [r for r in collector.requests if r.path == "/v1/metrics"]
    assert [r.status for r in pushes] == [200, 200]
    pushed = ExportMetricsServiceRequest()
    pushed.ParseFromString(pushes[-1].body)
    points = {
        (m.name, p.attributes[0].value.string_value): p.as_double or p.as_int
        for rm in pushed.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        if m.name == "dq_series_tracked" for p in m.gauge.data_points}
    assert points == {("dq_series_tracked", "orders"): 4, ("dq_series_tracked", "refunds"): 2}
    assert read_on == {loop_thread}
