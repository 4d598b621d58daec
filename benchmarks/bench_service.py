"""Whole-monitor benchmarks on a real broker (NFR-002, NFR-003, NFR-005).

    python benchmarks/bench_service.py [--events 200000] [--bootstrap HOST:PORT]

1. Throughput: the same N pre-produced events read by (a) a raw aiokafka consume + orjson
   parse + per-series rolling z-score loop and (b) the whole monitor (decode, all checks, alert
   state, checkpoints, commits) — both figures and their ratio, in one run on one broker, in
   alternating rounds (medians reported, every round kept).
2. Alert latency under load: a steady background load with injected spikes; p50/p95/p99 from
   the OTel histogram (Prometheus exposition), and independently from the alert records
   (alert-topic append time − triggering event's Kafka timestamp) and from receipts at a local
   webhook channel.
3. Memory: bytes per series at window 100 for 10k and 100k series (tracemalloc;
   ``--memory-series``).

The throughput records are the ones users send: event times that advance with every record,
Gaussian noise around each series' level, 100 series of 1–3 tags, ~0.5 % of values far off
(alerts fire and resolve), every tenth record a table update. The latency load has the same
noise, live event times, and its injected spikes as its only anomalies. ``bench_scale.py``
measures the same workload at fleet sizes, from outside the process.

Results go to benchmarks/results/service.json and a PNG plot beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing
import random
import statistics
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from dq_monitor.collector import tuned_collector
from dq_monitor.config import AnomalyConfig, Config, parse_config
from dq_monitor.embedded import broker_address
from dq_monitor.ingest.service import MonitorService
from dq_monitor.monitor import Emitted
from dq_monitor.telemetry import Telemetry

RESULTS = Path(__file__).resolve().parent / "results"
SERIES = 100
#: Share of the throughput records' values that are anomalous (alerts fire and resolve).
ANOMALY_RATE = 0.005
_RNG = random.Random(31)
#: ``kafka.session_timeout`` of the monitors and the raw loop's consumer (a group join on the
#: embedded broker takes half of it); set from ``--session-timeout``.
SESSION_TIMEOUT_MS = [6000]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def config(bootstrap: str, topic: str, group: str, *, extra: str = "") -> Config:
    return parse_config(f"""
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {group}
  input_topics: [{topic}]
  alert_topic: {topic}.alerts
  dead_letter_topic: {topic}.dead
  session_timeout: {SESSION_TIMEOUT_MS[0]}ms
  heartbeat_interval: {min(1000, SESSION_TIMEOUT_MS[0] // 3)}ms
sources:
  - name: bench
    freshness: {{max_staleness: 1h}}
    completeness: {{columns: {{c: {{max_null_rate: 0.5}}}}}}
    anomaly: {{metrics: [m, row_count], window: 100, min_samples: 20}}
{extra}
""", env={})


async def create(bootstrap: str, *topics: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 1, 1) for t in topics])
    finally:
        await admin.close()


def series_tags(s: int) -> dict[str, str]:
    """One to three tags of series ``s`` (the ``s`` tag names the series)."""
    tags = {"s": str(s)}
    if s % 3 >= 1:
        tags["region"] = f"r{s % 4}"
    if s % 3 == 2:
        tags["env"] = "prod"
    return tags


def event(i: int, value: float | None = None, *, ts: datetime | None = None,
          rng: random.Random | None = None, anomaly_rate: float = ANOMALY_RATE) -> bytes:
    """Record ``i`` as users send them: every tenth a table update, the others a metric value
    of one of ``SERIES`` tagged series with Gaussian noise around the series' level and, at
    ``anomaly_rate``, far off it; ``value`` replaces the value (a spike of the latency runs);
    ``ts`` is the event time (now by default)."""
    now = (ts or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    if i % 10 == 0:
        return orjson.dumps({"type": "table_update", "source": "bench", "updated_at": now,
                             "row_count": 1000 + i % 7, "null_counts": {"c": i % 5}})
    s = (i - i // 10 - 1) % SERIES  # the metric records' own count: every series gets values
    if value is None:
        rng = rng or _RNG
        level = 100.0 + 10 * (s % 7)
        value = rng.gauss(level, level * 0.02)
        if rng.random() < anomaly_rate:
            value = level + rng.choice((-1.0, 1.0)) * level * 0.02 * rng.uniform(12.0, 30.0)
    return orjson.dumps({"type": "metric", "source": "bench", "metric": "m", "value": value,
                         "ts": now, "tags": series_tags(s)})


async def produce(bootstrap: str, topic: str, n: int) -> None:
    """``n`` records whose event times advance by up to a millisecond each, ending now."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False,
                                linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    step = min(timedelta(milliseconds=1), timedelta(minutes=30) / max(n, 1))
    first = datetime.now(UTC) - step * n
    try:
        batch = []
        for i in range(n):
            batch.append(await producer.send(topic, event(i, ts=first + step * i),
                                             key=b"bench"))
            if len(batch) >= 5000:
                await asyncio.gather(*batch)
                batch.clear()
        await asyncio.gather(*batch)
    finally:
        await producer.stop()


async def raw_loop(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    """Baseline: consume + orjson + a per-series rolling z-score, nothing else; returns
    (events/s, CPU µs of this process per event)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4()}",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                session_timeout_ms=SESSION_TIMEOUT_MS[0],
                                heartbeat_interval_ms=min(1000, SESSION_TIMEOUT_MS[0] // 3))
    await consumer.start()
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    seen = 0
    start: float | None = None
    cpu = 0.0
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            if start is None and batch:
                start, cpu = time.perf_counter(), time.process_time()
            for records in batch.values():
                for rec in records:
                    ev = orjson.loads(rec.value)
                    key = ev["source"] + ev.get("metric", "row_count")
                    x = float(ev.get("value", ev.get("row_count", 0)))
                    s = sums[key]
                    s[0] += 1
                    s[1] += x
                    s[2] += x * x
                    mean = s[1] / s[0]
                    var = max(0.0, s[2] / s[0] - mean * mean)
                    _ = (x - mean) / math.sqrt(var) if var > 0 else 0.0
                    seen += 1
        assert start is not None
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        await consumer.stop()
    return n / elapsed, cpu / n * 1e6


async def monitor_loop(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    """The whole monitor on the same records: (events/s, CPU µs of this process per event)."""
    cfg = config(bootstrap, topic, f"mon-{uuid.uuid4()}")
    service = MonitorService(cfg)
    # The clock starts at the first record the service handles, noted by the service's own
    # task: a look from this task could come late, since a loop that always has records
    # waiting rarely yields to it. The hook removes itself, so later records run as usual.
    started: list[tuple[float, float]] = []
    process = service._process

    def first(*args: Any) -> None:
        started.append((time.perf_counter(), time.process_time()))
        delattr(service, "_process")
        process(*args)

    setattr(service, "_process", first)  # noqa: B010 (an instance attribute over the method)
    stop = asyncio.Event()
    with tuned_collector():  # as ``dq-monitor run`` runs it
        task = asyncio.create_task(service.run(stop))  # type: ignore[arg-type]
        await service.ready.wait()
        while service.stats[f"consumed.{topic}"] < n:
            await asyncio.sleep(0.005)
        end, end_cpu = time.perf_counter(), time.process_time()
        stop.set()
        await task
    start, cpu = started[0]
    return n / (end - start), (end_cpu - cpu) / n * 1e6


class WebhookSink:
    """A local HTTP server standing in for a webhook receiver; notes when each alert arrives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], float]] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length")), b"0"))
                body = await reader.readexactly(length)
                self.received.append((orjson.loads(body), time.time()))
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


def _load(bootstrap: str, topic: str, rate: int, seconds: float, stride: int,
          conn: Connection) -> None:
    """The load process: ``rate`` events/s for ``seconds``, a spike every ``stride`` events
    after 3 s; sends back (events sent, send time of each spike by its value)."""
    conn.send(asyncio.run(_produce_load(bootstrap, topic, rate, seconds, stride)))


async def _produce_load(bootstrap: str, topic: str, rate: int, seconds: float,
                        stride: int) -> tuple[int, dict[float, float]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False,
                                linger_ms=0)
    await producer.start()
    sent_at: dict[float, float] = {}
    i = next_spike = 0
    t0 = time.perf_counter()
    try:
        while (elapsed := time.perf_counter() - t0) < seconds:
            while i < int(elapsed * rate):
                value = None
                if i >= next_spike and i % 10 and elapsed > 3:  # metric events only
                    value = 10_000.0 + i  # a spike, identifiable by its value
                    sent_at[value] = time.time()
                    next_spike = i + stride
                # noise, but no anomalies of its own: the spikes are the anomalies here
                await producer.send(topic, event(i, value, anomaly_rate=0.0), key=b"bench")
                i += 1
            await asyncio.sleep(0.001)
        await producer.flush()
    finally:
        await producer.stop()
    return i, sent_at


async def latency_under_load(bootstrap: str, rate: int, seconds: float,
                             spikes_per_s: int) -> dict[str, Any]:
    """Steady load at ``rate`` events/s with ``spikes_per_s`` spikes per second spread over the
    series (after a 3 s warm-up); latency measured three ways: the OTel histograms, alert-topic
    acks seen by the service (event → alert topic), and receipts at a webhook."""
    from dq_monitor.routing.router import AlertRouter

    topic = f"lat-{uuid.uuid4().hex[:8]}"
    await create(bootstrap, topic)
    sink = WebhookSink()
    port = await sink.start()
    cfg = config(bootstrap, topic, f"lat-{uuid.uuid4()}", extra=f"""
routing:
  routes: [{{match: {{}}, channels: [hook]}}]
channels:
  hook: {{type: webhook, url: "http://127.0.0.1:{port}/alerts"}}
""")
    telemetry = Telemetry(cfg.telemetry)
    detection: list[float] = []

    def published(e: Emitted, acked: datetime) -> None:
        if e.alert.status == "firing":
            detection.append((acked - e.triggered_at).total_seconds())

    service = MonitorService(cfg, telemetry=telemetry, on_published=published)
    router = AlertRouter(cfg, telemetry=telemetry)
    stop = anyio.Event()
    # A stride that is no multiple of the series count, so consecutive spikes hit other series.
    stride = max(1, rate // spikes_per_s)
    if stride % SERIES == 0:
        stride += 1
    async with anyio.create_task_group() as tg:
        tg.start_soon(service.run, stop)
        tg.start_soon(router.run, stop)
        await service.ready.wait()
        await router.ready.wait()
        # The load comes from another process, as from a pipeline: a producer sharing this
        # event loop would delay the monitor's own turns and be measured as its latency.
        ctx = multiprocessing.get_context("spawn")
        here, there = ctx.Pipe(duplex=False)
        load = ctx.Process(target=_load, args=(bootstrap, topic, rate, seconds, stride, there))
        load.start()
        try:
            while not here.poll():
                if not load.is_alive() and not here.poll():
                    raise RuntimeError(f"the load process exited with {load.exitcode}")
                await asyncio.sleep(0.05)
            sent, sent_at = here.recv()
            load.join()
            await asyncio.sleep(3)
        finally:
            stop.set()
    await sink.stop()
    receipts = [t - sent_at[body["observed"]] for body, t in sink.received
                if body["status"] == "firing" and body["observed"] in sent_at]
    text = telemetry.metrics_text().decode()
    await telemetry.aclose()
    return {
        "rate": rate, "events": sent, "spikes": len(sent_at), "firing_alerts": len(detection),
        "delivered": len(receipts),
        "histogram_p95_alert_latency_s": histogram_quantile(text, "dq_alert_latency", 0.95),
        "histogram_p95_detection_latency_s": histogram_quantile(text, "dq_detection_latency",
                                                                0.95),
        "detection_s": {f"p{q}": percentile(detection, q) for q in (50, 95, 99)},
        "webhook_receipt_s": {f"p{q}": percentile(receipts, q) for q in (50, 95, 99)},
    }


async def latency_runs(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    """``args.runs`` independent latency runs (fresh topic, group and services each)."""
    runs = []
    for k in range(args.runs):
        with tuned_collector():  # as ``dq-monitor run`` runs the monitor and router
            lat = await latency_under_load(bootstrap, args.rate, args.seconds, args.spikes)
        runs.append(lat)
        print(f"latency run {k + 1}/{args.runs} at {lat['rate']} ev/s, "
              f"{lat['firing_alerts']} firing alerts: event → alert topic p50/p95/p99 "
              + "/".join(f"{v * 1000:.1f}" for v in lat["detection_s"].values())
              + " ms; → webhook p50/p95/p99 "
              + "/".join(f"{v * 1000:.1f}" for v in lat["webhook_receipt_s"].values())
              + " ms", flush=True)
    p95s = [r["detection_s"]["p95"] for r in runs]
    hook95 = [r["webhook_receipt_s"]["p95"] for r in runs]
    return {
        "runs": runs,
        "alert_topic_p95_s": p95s, "webhook_p95_s": hook95,
        "runs_alert_topic_p95_under_50ms": sum(p < 0.05 for p in p95s),
        "runs_webhook_p95_under_100ms": sum(p < 0.1 for p in hook95),
        "min_firing_alerts_per_run": min(r["firing_alerts"] for r in runs),
    }


def histogram_quantile(text: str, name: str, q: float) -> float:
    """The quantile Prometheus' histogram_quantile would compute, summed over all labels."""
    buckets: dict[float, float] = defaultdict(float)
    for line in text.splitlines():
        if line.startswith(f"{name}_seconds_bucket{{"):
            labels, value = line.rsplit(" ", 1)
            bound = labels.split('le="')[1].split('"')[0]
            buckets[math.inf if bound == "+Inf" else float(bound)] += float(value)
    if not buckets or buckets[math.inf] == 0:
        return math.nan
    total = buckets[math.inf]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for upper in sorted(buckets):
        count = buckets[upper]
        if count >= rank:
            if upper == math.inf:
                return prev_le
            return prev_le + (upper - prev_le) * (rank - prev_count) / max(count - prev_count,
                                                                            1e-9)
        prev_le, prev_count = upper, count
    return math.nan


def bytes_per_series(count: int) -> float:
    """tracemalloc bytes per series at window 100 (the same measure as bench_anomaly)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_anomaly import traced_bytes_per_series

    return traced_bytes_per_series(count, AnomalyConfig(metrics=["m"], window=100,
                                                        min_samples=20))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (medians)")
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--spikes", type=int, default=25, help="spikes per second")
    parser.add_argument("--runs", type=int, default=10, help="latency runs")
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--skip-memory-100k", action="store_true")
    parser.add_argument("--memory-series", default="10000,100000",
                        help="series counts of the memory measure (comma-separated)")
    parser.add_argument("--session-timeout", type=float, default=6.0,
                        help="seconds; kafka.session_timeout of the monitors and the raw "
                             "loop (a group join on the embedded broker takes half of it)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--throughput-only", action="store_true",
                        help="measure the two loops, print them and stop (writes nothing)")
    args = parser.parse_args()
    SESSION_TIMEOUT_MS[0] = round(args.session_timeout * 1000)
    results: dict[str, Any] = {"machine": {"python": sys.version.split()[0]}}
    with broker_address() if args.bootstrap is None else contextlib.nullcontext(
            args.bootstrap) as bootstrap:
        topic = f"tp-{uuid.uuid4().hex[:8]}"
        await create(bootstrap, topic)
        await produce(bootstrap, topic, args.events)
        # Alternate rounds of the two loops on the same records and take medians: the raw
        # loop's own rate swings with the machine's load, and a ratio of one pair is noisy.
        rounds = []
        for k in range(args.rounds):
            raw, raw_cpu = await raw_loop(bootstrap, topic, args.events)
            mon, mon_cpu = await monitor_loop(bootstrap, topic, args.events)
            rounds.append({"raw_events_per_s": raw, "raw_cpu_us_per_event": raw_cpu,
                           "monitor_events_per_s": mon, "monitor_cpu_us_per_event": mon_cpu,
                           "ratio": mon / raw})
            print(f"round {k + 1}/{args.rounds}: raw {raw:,.0f} ev/s ({raw_cpu:.1f} µs CPU/event)"
                  f", monitor {mon:,.0f} ev/s ({mon_cpu:.1f} µs CPU/event), ratio {mon / raw:.2f}",
                  flush=True)
        med = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        results["throughput"] = {"events": args.events, **med, "rounds": rounds,
                                 "target_ratio": 0.5}
        print(f"throughput (medians of {args.rounds} rounds): raw {med['raw_events_per_s']:,.0f}"
              f" ev/s ({med['raw_cpu_us_per_event']:.1f} µs CPU/event), monitor "
              f"{med['monitor_events_per_s']:,.0f} ev/s ({med['monitor_cpu_us_per_event']:.1f} µs"
              f" CPU/event), ratio {med['ratio']:.2f} (target >= 0.50)")
        if args.throughput_only:
            return 0
        lat = await latency_runs(bootstrap, args)
        results["latency"] = lat
        print(f"latency: p95 event → alert topic < 50 ms in "
              f"{lat['runs_alert_topic_p95_under_50ms']}/{args.runs} runs, p95 → webhook "
              f"< 100 ms in {lat['runs_webhook_p95_under_100ms']}/{args.runs} runs, at least "
              f"{lat['min_firing_alerts_per_run']} firing alerts per run")
    counts = [int(c) for c in args.memory_series.split(",") if c]
    if args.skip_memory_100k:
        counts = [c for c in counts if c != 100_000]
    mem = {f"{c // 1000}k" if c % 1000 == 0 else str(c): bytes_per_series(c) for c in counts}
    results["bytes_per_series_window_100"] = mem
    print("bytes per series at window 100: "
          + ", ".join(f"{k}: {v:,.0f}" for k, v in mem.items()) + " (target <= 2048)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "service.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"wrote {args.out / 'service.json'}")
    try:
        plot(results, args.out / "service.png")
        print(f"wrote {args.out / 'service.png'}")
    except ImportError:
        print("no plot: install matplotlib (pip install -e '.[bench]')")
    return 0


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    t = results["throughput"]
    a.bar(["raw aiokafka loop", "dq-monitor"], [t["raw_events_per_s"],
                                                 t["monitor_events_per_s"]],
          color=["#888", "#3a7"])
    a.set_ylabel("events / s")
    a.set_title(f"Throughput (ratio {t['ratio']:.2f})")
    lat = results["latency"]
    runs = range(1, len(lat["alert_topic_p95_s"]) + 1)
    b.plot(runs, [v * 1000 for v in lat["alert_topic_p95_s"]], "o-",
           label="p95 event → alert topic")
    b.plot(runs, [v * 1000 for v in lat["webhook_p95_s"]], "s-", label="p95 event → webhook")
    b.axhline(50, color="C0", linestyle="--", label="alert topic bound (50 ms)")
    b.axhline(100, color="C1", linestyle="--", label="webhook bound (100 ms)")
    b.set_xticks(list(runs))
    b.set_xlabel("run")
    b.set_ylabel("ms")
    b.set_ylim(bottom=0)
    rate = lat["runs"][0]["rate"]
    b.set_title(f"Alert latency at {rate} events/s, "
                f"≥ {lat['min_firing_alerts_per_run']} alerts per run")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
