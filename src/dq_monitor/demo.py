"""``dq-monitor demo``: an embedded broker, synthetic traffic with injected incidents, live alerts.

Everything runs in this process except the broker: the monitor reads the input topics, the alert
topic is tailed and shown as alerts arrive, and a summary closes the run (alerts by check and
severity, dead-lettered events, detection-to-alert-topic latency percentiles).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from dq_monitor.api import OperatorApi
from dq_monitor.config import Config, parse_config, source_capacity
from dq_monitor.embedded import embedded_broker
from dq_monitor.escape import terminal
from dq_monitor.events import format_rfc3339
from dq_monitor.ingest.service import MonitorService
from dq_monitor.kafka.topics import ensure_topics
from dq_monitor.logs import setup_logging
from dq_monitor.monitor import Emitted
from dq_monitor.silence import SilenceBook
from dq_monitor.telemetry import Telemetry

UPDATES, METRICS, LINEAGE = "demo.table-updates", "demo.metrics", "demo.openlineage"
#: FR-028: a streaming pipeline's own output, observed directly (no events about it).
ORDERS = "demo.orders"

DEMO_CONFIG = """
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: demo-{run}
  input_topics: [{updates}, {metrics}]
  openlineage_topics: [{lineage}]
  alert_topic: demo.alerts.{run}
  dead_letter_topic: demo.dead-letter.{run}
  session_timeout: 6s
  heartbeat_interval: 1s
scheduler: {{sweep_interval: 10s}}
observe:
  - topic: {orders}
    source: stream.orders
    window: 2s
    grace: 500ms
    fields: [order_id, customer_id, amount]
sources:
  - name: shop.orders
    freshness: {{max_staleness: 10s}}
    completeness:
      min_row_count: 1
      columns:
        customer_id: {{max_null_rate: 0.05}}
    anomaly: {{metrics: [revenue_usd], window: 60, min_samples: 20, rebaseline_after: 10}}
  - name: shop.payments
    freshness: {{max_staleness: 6s, warn_ratio: 0.5}}
  - name: shop.main.customers   # a dbt model: its runs arrive as OpenLineage events
    freshness: {{max_staleness: 10s}}
  - name: stream.orders         # observed: windows of the orders topic itself
    freshness: {{max_staleness: 10s}}
    completeness: {{columns: {{customer_id: {{max_null_rate: 0.1}}}}}}
    thresholds: {{records: {{fail_below: 5}}}}
"""

SEVERITY_STYLE = {"WARN": "bold yellow", "FAIL": "bold red"}


class Scenario:
    """The incident schedule, as fractions of the run so any ``--duration`` shows them all."""

    def __init__(self, duration: float) -> None:
        self.d = duration

    def at(self, fraction: float) -> float:
        return self.d * fraction

    def malformed(self, t: float, sent: bool) -> bool:
        return not sent and t >= self.at(0.18)

    def spike(self, t: float, sent: bool) -> bool:
        return not sent and t >= self.at(0.25)

    def nulls_bad(self, t: float) -> bool:
        return self.at(0.32) <= t < self.at(0.40)

    def payments_silent(self, t: float) -> bool:
        return self.at(0.30) <= t < self.at(0.30) + 9.0

    def shifted(self, t: float) -> bool:
        return t >= self.at(0.50)

    def run_fails(self, t: float, sent: bool) -> bool:
        return not sent and t >= self.at(0.44)

    def assertion_fails(self, t: float, sent: bool) -> bool:
        return not sent and t >= self.at(0.60)

    def column_dropped(self, t: float) -> bool:
        return t >= self.at(0.75)

    def stream_nulls(self, t: float) -> bool:
        return self.at(0.55) <= t < self.at(0.65)

    def stream_retyped(self, t: float) -> bool:
        return t >= self.at(0.80)


#: The dbt model's columns; from ``Scenario.column_dropped`` on, ``email`` is gone.
CUSTOMER_COLUMNS = [("id", "INTEGER"), ("name", "VARCHAR"), ("email", "VARCHAR")]


def lineage_run(kind: str, run_id: str, now: str,
                columns: list[tuple[str, str]] = CUSTOMER_COLUMNS) -> bytes:
    """One OpenLineage RunEvent of the demo's dbt model, as ``dbt-ol`` would write it."""
    return orjson.dumps({
        "eventType": kind, "eventTime": now, "producer": "dq-monitor-demo",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id}, "job": {"namespace": "dbt", "name": "shop.customers"},
        "inputs": [{"namespace": "duckdb://shop", "name": "shop.raw.customers"}],
        "outputs": [{"namespace": "duckdb://shop", "name": "shop.main.customers",
                     "facets": {"schema": {"fields": [
                         {"name": n, "type": t} for n, t in columns]}}}],
    })


def lineage_test(run_id: str, now: str, passed: bool) -> bytes:
    """The model's ``dbt test`` run: its assertions on the model, as ``dbt-ol`` reports them."""
    test = {"assertion": "not_null", "column": "id", "success": passed,
            "name": "not_null_customers_id", "severity": "error"}
    return orjson.dumps({
        "eventType": "COMPLETE", "eventTime": now, "producer": "dq-monitor-demo",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id}, "job": {"namespace": "dbt", "name": "shop.customers.test"},
        "inputs": [{"namespace": "duckdb://shop", "name": "shop.main.customers",
                    "inputFacets": {"dataQualityAssertions": {"assertions": [test]}}}],
        "outputs": [],
    })


async def play_traffic(bootstrap: str, duration: float, stop: anyio.Event) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False,
                                linger_ms=5)
    await producer.start()
    rng = random.Random(7)
    plan = Scenario(duration)
    start = time.monotonic()
    sent_malformed = sent_spike = sent_failed_run = sent_failed_test = False
    tick = 0
    try:
        while not stop.is_set() and (t := time.monotonic() - start) < duration:
            now = format_rfc3339(datetime.now(UTC))
            for region, base in (("eu", 1000.0), ("us", 1500.0)):
                value = rng.gauss(base, base * 0.02)
                if region == "us" and plan.shifted(t):
                    value *= 1.25  # a lasting level shift: new normal after rebaseline_after
                if region == "eu" and plan.spike(t, sent_spike):
                    value, sent_spike = base * 1.6, True
                await producer.send(METRICS, orjson.dumps(
                    {"type": "metric", "source": "shop.orders", "metric": "revenue_usd",
                     "value": round(value, 2), "ts": now, "tags": {"region": region}}),
                    key=b"shop.orders")
            if tick % 5 == 0:
                rows = rng.randint(9_000, 11_000)
                nulls = int(rows * (0.12 if plan.nulls_bad(t) else rng.uniform(0, 0.01)))
                await producer.send(UPDATES, orjson.dumps(
                    {"type": "table_update", "source": "shop.orders", "updated_at": now,
                     "row_count": rows, "null_counts": {"customer_id": nulls}}),
                    key=b"shop.orders")
                if not plan.payments_silent(t):
                    await producer.send(UPDATES, orjson.dumps(
                        {"type": "table_update", "source": "shop.payments", "updated_at": now}),
                        key=b"shop.payments")
            if tick % 20 == 0:  # the dbt model runs every two seconds
                run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                columns = CUSTOMER_COLUMNS[:2] if plan.column_dropped(t) else CUSTOMER_COLUMNS
                failed_run = plan.run_fails(t, sent_failed_run)
                failed_test = not failed_run and plan.assertion_fails(t, sent_failed_test)
                sent_failed_run |= failed_run
                sent_failed_test |= failed_test
                await producer.send(LINEAGE, lineage_run("START", run_id, now, columns=columns),
                                    key=b"run:dbt/shop.customers")
                await producer.send(LINEAGE, lineage_run(
                    "FAIL" if failed_run else "COMPLETE", run_id, now, columns=columns),
                    key=b"run:dbt/shop.customers")
                await producer.send(LINEAGE, lineage_test(run_id, now, not failed_test),
                                    key=b"run:dbt/shop.customers.test")
            for n in range(3):  # the streaming pipeline's output: 30 orders a second
                i = tick * 3 + n
                null = plan.stream_nulls(t) and i % 10 < 4
                amount: Any = round(rng.uniform(5, 200), 2)
                await producer.send(ORDERS, orjson.dumps(
                    {"order_id": i, "customer_id": None if null else f"c{i % 97}",
                     "amount": str(amount) if plan.stream_retyped(t) else amount}),
                    key=f"o{i}".encode())
            if plan.malformed(t, sent_malformed):
                sent_malformed = True
                await producer.send(METRICS, b'{"type": "metric", "source": "shop.orders", '
                                    b'"metric": "revenue_usd", "value": "NaN?"}',
                                    key=b"shop.orders")
            tick += 1
            await anyio.sleep(0.1)
        await producer.flush()
    finally:
        await producer.stop()


async def show_alerts(config: Config, console: Console, seen: Counter[tuple[str, str]],
                      dead: list[dict[str, Any]], stop: anyio.Event) -> None:
    k = config.kafka
    consumer = AIOKafkaConsumer(k.alert_topic, k.dead_letter_topic,
                                bootstrap_servers=k.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            for tp, records in batch.items():
                for rec in records:
                    body = orjson.loads(rec.value)
                    stamp = datetime.now().strftime("%H:%M:%S")
                    if tp.topic == k.dead_letter_topic:
                        dead.append(body)
                        console.print(f"{stamp} [magenta]DEAD-LETTER[/]",
                                      terminal(str(body["reason"])))
                        continue
                    if body["status"] == "firing":
                        seen[(body["check"], body["severity"])] += 1
                    style = "green" if body["status"] == "resolved" else SEVERITY_STYLE[
                        body["severity"]]
                    label = "RESOLVED" if body["status"] == "resolved" else body["severity"]
                    subject = f" [{body['subject']}]" if body["subject"] else ""
                    console.print(f"{stamp} [{style}]{label:<8}[/]", terminal(
                        f"{body['check']:<12} {body['source']}{subject}: {body['detail']}"))
    finally:
        await consumer.stop()


def summary(seen: Counter[tuple[str, str]], dead: list[dict[str, Any]],
            latencies_ms: list[float]) -> Table:
    table = Table(title="dq-monitor demo summary")
    table.add_column("check")
    table.add_column("WARN", justify="right")
    table.add_column("FAIL", justify="right")
    for check in ("freshness", "completeness", "anomaly", "run", "assertion", "schema"):
        table.add_row(check, str(seen[(check, "WARN")]), str(seen[(check, "FAIL")]))
    table.add_section()
    table.add_row("dead-lettered events", str(len(dead)), "")
    if latencies_ms:
        qs = statistics.quantiles(latencies_ms, n=100, method="inclusive") if len(
            latencies_ms) > 1 else [latencies_ms[0]] * 99
        table.add_row("detection → alert topic p50", f"{qs[49]:.1f} ms", "")
        table.add_row("detection → alert topic p95", f"{qs[94]:.1f} ms", "")
    return table


@contextlib.contextmanager
def _broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
    else:
        with embedded_broker() as address:
            yield address


async def run_demo(duration: float, bootstrap: str | None, console: Console,
                   status_port: int | None = 9464) -> int:
    with _broker(bootstrap) as address:
        console.print(f"[bold]dq-monitor demo[/]: broker {address}, {duration:.0f}s of traffic")
        config = parse_config(DEMO_CONFIG.format(
            bootstrap=address, run=uuid.uuid4().hex[:8], updates=UPDATES, metrics=METRICS,
            lineage=LINEAGE, orders=ORDERS), env={})
        await ensure_topics(config.kafka, {UPDATES: (1, {}), METRICS: (1, {}),
                                           LINEAGE: (1, {}), ORDERS: (3, {})})
        latencies: list[float] = []

        def published(e: Emitted, acked: datetime) -> None:
            latencies.append((acked - e.triggered_at).total_seconds() * 1000)

        telemetry = Telemetry(config.telemetry, sources=source_capacity(config.sources))
        service = MonitorService(config, on_published=published, telemetry=telemetry)
        silences = SilenceBook(config.kafka)
        api = OperatorApi(config, telemetry, silences=silences, monitor=service.monitor)
        stop, traffic_done = anyio.Event(), anyio.Event()
        seen: Counter[tuple[str, str]] = Counter()
        dead: list[dict[str, Any]] = []
        try:
            port = await api.start(port=0 if status_port is None else status_port)
        except OSError:
            port = await api.start(port=0)  # the default port is taken: any free one
        async with anyio.create_task_group() as tg:
            tg.start_soon(service.run, stop)
            tg.start_soon(silences.run, stop)
            tg.start_soon(api.run, stop)
            tg.start_soon(show_alerts, config, console, seen, dead, stop)
            with anyio.fail_after(60):
                await service.ready.wait()
            console.print(f"status page: [link]http://127.0.0.1:{port}/[/link] "
                          f"(and [bold]dq-monitor alerts --url http://127.0.0.1:{port}[/])")
            console.print("monitor ready: playing traffic with injected incidents "
                          "(a spike, a null-rate jump, a silent source, a level shift, "
                          "a malformed event; a dbt model's failed run, failed test and "
                          "dropped column, as OpenLineage events; an observed orders stream "
                          "whose customer_id goes null and whose amount turns to text)")
            await play_traffic(address, duration, traffic_done)
            await anyio.sleep(1.0)  # let the last alerts reach the view
            stop.set()
        await api.aclose()
        await telemetry.aclose()
        console.print(summary(seen, dead, latencies))
    return 0


def main(args: argparse.Namespace) -> int:
    setup_logging("WARNING")
    return anyio.run(run_demo, max(args.duration, 20.0), args.bootstrap, Console())
