"""One trace per alert, carried in Kafka headers from the input event to the channel delivery."""

from __future__ import annotations

import anyio
import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dq_monitor.ingest.service import MonitorService
from dq_monitor.routing.router import AlertRouter
from dq_monitor.telemetry import Telemetry
from dq_monitor.testing import HttpReceiver
from tests.integration.conftest import Kafka, config_for, now_rfc3339

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.mark.req("NFR-002")
async def test_alert_trace_joins_the_producers_trace(kafka: Kafka) -> None:
    await kafka.create(kafka.topic("updates"))
    hook = HttpReceiver()
    url = await hook.start()
    cfg = config_for(kafka, """  - name: orders
    completeness: {columns: {customer_id: {max_null_rate: 0.1}}}
""", f"""
routing:
  routes: [{{match: {{}}, channels: [hook]}}]
channels:
  hook: {{type: webhook, url: "{url}/alerts"}}
telemetry: {{http_port: null}}
""", inputs=("updates",), group="trace")
    spans = InMemorySpanExporter()
    telemetry = Telemetry(cfg.telemetry, span_exporter=spans)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        service, router = MonitorService(cfg, telemetry=telemetry), AlertRouter(cfg,
                                                                                 telemetry=telemetry)
        tg.start_soon(service.run, stop)
        tg.start_soon(router.run, stop)
        with anyio.fail_after(30):
            await service.ready.wait()
            await router.ready.wait()
        producer = await kafka.producer()
        await producer.send_and_wait(
            kafka.topic("updates"),
            orjson.dumps({"type": "table_update", "source": "orders",
                          "updated_at": now_rfc3339(), "row_count": 10,
                          "null_counts": {"customer_id": 5}}),
            key=b"orders", headers=[("traceparent", PARENT.encode())])
        with anyio.fail_after(20):
            while not hook.requests:
                await anyio.sleep(0.05)
        records = await kafka.read_records(kafka.topic("alerts"), lambda rs: len(rs) >= 1)
        stop.set()
    assert telemetry.tracer_provider is not None
    telemetry.tracer_provider.force_flush()
    await telemetry.aclose()
    await hook.stop()
    header = dict(records[0].headers)["traceparent"].decode()
    assert header.split("-")[1] == TRACE_ID
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert {"alert completeness firing", "check", "produce alert", "deliver hook"} <= set(
        finished)
    assert {format(s.context.trace_id, "032x") for s in finished.values()} == {TRACE_ID}
    deliver = finished["deliver hook"]
    assert deliver.parent is not None
    assert deliver.parent.span_id == finished["alert completeness firing"].context.span_id


@pytest.mark.req("NFR-003", "NFR-002")
async def test_without_an_exporter_the_alert_path_makes_no_spans_and_no_headers(
    kafka: Kafka, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Spans nobody exports are not made: no span objects, no ``traceparent`` on the alert
    record, even when the input event carries one; the alert itself is as always."""
    from opentelemetry.sdk.trace import Tracer

    made: list[str] = []
    real = Tracer.start_span

    def counting(self: Tracer, name: str, *args: object, **kwargs: object) -> object:
        made.append(name)
        return real(self, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Tracer, "start_span", counting)
    await kafka.create(kafka.topic("updates"))
    cfg = config_for(kafka, """  - name: orders
    owner: team-orders
    completeness: {columns: {customer_id: {max_null_rate: 0.1}}}
""", "telemetry: {http_port: null}\n", inputs=("updates",), group="untraced")
    telemetry = Telemetry(cfg.telemetry)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        service = MonitorService(cfg, telemetry=telemetry)
        tg.start_soon(service.run, stop)
        with anyio.fail_after(30):
            await service.ready.wait()
        producer = await kafka.producer()
        await producer.send_and_wait(
            kafka.topic("updates"),
            orjson.dumps({"type": "table_update", "source": "orders",
                          "updated_at": now_rfc3339(), "row_count": 10,
                          "null_counts": {"customer_id": 5}}),
            key=b"orders", headers=[("traceparent", PARENT.encode())])
        records = await kafka.read_records(kafka.topic("alerts"), lambda rs: len(rs) >= 1)
        stop.set()
    await telemetry.aclose()
    assert made == []
    assert not telemetry.tracing
    (record,) = records
    assert "traceparent" not in dict(record.headers)
    alert = orjson.loads(record.value)
    assert (alert["check"], alert["status"], alert["owner"]) == (
        "completeness", "firing", "team-orders")
