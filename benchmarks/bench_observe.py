"""Observing a data topic (FR-028, NFR-003): the cost per record of profiling a stream.

    python benchmarks/bench_observe.py [--records 200000] [--rounds 3] [--bootstrap HOST:PORT]

N pre-produced ~1 KB JSON order records are read, in alternating rounds on one broker in one
run, by (a) a raw aiokafka consume + ``orjson.loads`` loop and (b) the whole monitor observing
the topic with ``fields`` naming 5 fields (windows, reports, merge, checks, checkpoints,
commits). Each reports records/s and CPU µs of this process per record; the ratio of CPU per
record (observe ÷ raw) is the figure NFR-003 compares. Every round is kept; the README quotes
ranges, since the machine may be shared.

Results go to benchmarks/results/observe.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from dq_monitor.collector import tuned_collector
from dq_monitor.config import Config, parse_config
from dq_monitor.embedded import broker_address
from dq_monitor.ingest.service import MonitorService

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = ["order_id", "customer_id", "amount", "currency", "shipping.country"]


def order(i: int) -> bytes:
    """An order of about 1 KB, as a shop's pipeline might write it."""
    return orjson.dumps({
        "order_id": i, "customer_id": f"c{i % 5000:05d}" if i % 37 else None,
        "amount": round(5 + (i * 7919 % 40000) / 100, 2), "currency": "EUR",
        "status": "paid", "created_at": "2026-06-26T11:58:00.123Z",
        "shipping": {"country": "FR", "city": "Lyon", "zip": "69002",
                     "street": f"{i % 200} rue de la République", "method": "standard"},
        "lines": [{"sku": f"SKU-{(i + k) % 9000:05d}", "qty": 1 + k, "price": 9.99 + k,
                   "title": "a product with a reasonably long descriptive title"}
                  for k in range(4)],
        "notes": "x" * 330,
    })


def config(bootstrap: str, topic: str, group: str) -> Config:
    return parse_config(f"""
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {group}
  input_topics: [{topic}.events]
  alert_topic: {topic}.alerts
  dead_letter_topic: {topic}.dead
  session_timeout: 6s
  heartbeat_interval: 1s
observe:
  - topic: {topic}
    source: stream.orders
    window: 1s
    grace: 200ms
    fields: [{", ".join(FIELDS)}]
sources:
  - name: stream.orders
    freshness: {{max_staleness: 1h}}
    completeness: {{columns: {{customer_id: {{max_null_rate: 0.5}}}}}}
    thresholds: {{records: {{fail_below: 1}}}}
""", env={})


async def create(bootstrap: str, *topics: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 1, 1) for t in topics])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, n: int) -> int:
    """Write ``n`` orders; returns their mean size in bytes."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False,
                                linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    size = 0
    try:
        pending = []
        for i in range(n):
            value = order(i)
            size += len(value)
            pending.append(await producer.send(topic, value, key=f"o{i}".encode()))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return size // n


async def raw_loop(bootstrap: str, topic: str, n: int) -> dict[str, float]:
    """Baseline: consume and ``orjson.loads`` every record, nothing else."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"raw-{uuid.uuid4()}",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                session_timeout_ms=6000, heartbeat_interval_ms=1000)
    await consumer.start()
    seen, start, cpu = 0, 0.0, 0.0
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=500, max_records=1000)
            if not seen and batch:
                start, cpu = time.perf_counter(), time.process_time()
            for records in batch.values():
                for rec in records:
                    orjson.loads(rec.value)
                    seen += 1
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        await consumer.stop()
    return {"records_per_s": n / elapsed, "cpu_us_per_record": cpu / n * 1e6}


async def observe_loop(bootstrap: str, topic: str, n: int) -> dict[str, float]:
    """The whole monitor observing the topic: clock from its first observed batch to the
    moment it has read every record."""
    service = MonitorService(config(bootstrap, topic, f"obs-{uuid.uuid4()}"))
    started: list[tuple[float, float]] = []
    on_records = service.observer.on_records

    def first(*args: Any) -> None:
        started.append((time.perf_counter(), time.process_time()))
        delattr(service.observer, "on_records")
        on_records(*args)

    setattr(service.observer, "on_records", first)  # noqa: B010 (instance over method)
    stop = asyncio.Event()
    with tuned_collector():  # as ``dq-monitor run`` runs it
        task = asyncio.create_task(service.run(stop))  # type: ignore[arg-type]
        await service.ready.wait()
        while service.stats[f"consumed.{topic}"] < n:
            await asyncio.sleep(0.005)
        end, end_cpu = time.perf_counter(), time.process_time()
        # not timed: the last windows close once the topic is idle for a window
        deadline = time.monotonic() + 10
        while not service.stats["observe.windows.judged"] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await task
    start, cpu = started[0]
    return {"records_per_s": n / (end - start), "cpu_us_per_record": (end_cpu - cpu) / n * 1e6,
            "windows_judged": float(service.stats["observe.windows.judged"])}


async def run(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    topic = f"bench-orders-{uuid.uuid4().hex[:8]}"
    await create(bootstrap, topic, f"{topic}.events")
    size = await produce(bootstrap, topic, args.records)
    rounds: list[dict[str, Any]] = []
    ratios: list[float] = []
    for _ in range(args.rounds):
        raw = await raw_loop(bootstrap, topic, args.records)
        observed = await observe_loop(bootstrap, topic, args.records)
        ratios.append(observed["cpu_us_per_record"] / raw["cpu_us_per_record"])
        rounds.append({"raw": raw, "observe": observed, "cpu_ratio": ratios[-1]})
        print(f"raw {raw['records_per_s']:,.0f}/s {raw['cpu_us_per_record']:.1f} µs/record | "
              f"observe {observed['records_per_s']:,.0f}/s "
              f"{observed['cpu_us_per_record']:.1f} µs/record | "
              f"CPU ratio {rounds[-1]['cpu_ratio']:.2f}", flush=True)
    return {"records": args.records, "record_bytes": size, "fields": FIELDS,
            "rounds": rounds, "cpu_ratio_median": statistics.median(ratios),
            "cpu_ratio_range": [min(ratios), max(ratios)]}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bootstrap", help="an existing broker (default: the embedded one)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.bootstrap:
        results = await run(args.bootstrap, args)
    else:
        with broker_address() as address:
            results = await run(address, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "observe.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    lo, hi = results["cpu_ratio_range"]
    print(f"{results['records']:,} records of ~{results['record_bytes']} bytes, fields "
          f"{', '.join(FIELDS)}: observe ÷ raw CPU per record {results['cpu_ratio_median']:.2f} "
          f"(range {lo:.2f}–{hi:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
