"""Per-event CPU and memory per series against the series count (NFR-003, NFR-005).

    python benchmarks/bench_hotpath.py --series 1000 [--per-series 30] [--bootstrap HOST:PORT]

The workload users run: sources × 10 metrics keyed by source on a topic of 4 partitions,
event timestamps advancing at 35,000 events a second, Gaussian floats, 1 to 3 tags per
source, about 0.5 % of values far off their series, window 100. The records are produced by
a child process first; the monitor (``MonitorService``, in this process, under the service's
own collector settings) then reads them all. Reported: CPU µs per event while consuming,
events/s, checkpoints and state records written, and the resident memory per series once
everything is read, above the same process with its configuration loaded and no state
(``/proc/self/statm``, so Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import random
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import orjson
from aiokafka import AIOKafkaProducer

from dq_monitor.collector import tuned_collector
from dq_monitor.config import Config, parse_config
from dq_monitor.embedded import broker_address
from dq_monitor.ingest.service import MonitorService

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_workload import create_topic, tags_of

METRICS = 10
PARTITIONS = 4
ANOMALY_RATE = 0.005
#: Events per second of event time: stamped as a fleet sending 35,000 a second would stamp
#: them, so a series' values are as far apart as in production (its seasonality race samples
#: at most one a minute: sparser stamps would make every value of a large fleet a sample).
EVENT_RATE = 35_000


def rss() -> int:
    """Resident bytes of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def config(bootstrap: str, topic: str, sources: int, extra: str = "") -> Config:
    metrics = ", ".join(f"m{j}" for j in range(METRICS))
    entries = "\n".join(
        f"  - name: s{i:05d}\n    anomaly: {{metrics: [{metrics}], window: 100, min_samples: 20}}"
        for i in range(sources))
    return parse_config(f"""
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: g-{uuid.uuid4().hex[:8]}
  input_topics: [{topic}]
  alert_topic: {topic}.alerts
  dead_letter_topic: {topic}.dead
  session_timeout: 6s
  heartbeat_interval: 1s
{extra}
sources:
{entries}
""", env={})


def events(sources: int, n: int, seed: int = 1) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of the workload's ``n`` records, in order."""
    rnd = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    tags = [tags_of(i) for i in range(sources)]
    for k in range(n):
        s, m = rnd.randrange(sources), rnd.randrange(METRICS)
        value = rnd.gauss(100.0, 5.0)
        if rnd.random() < ANOMALY_RATE:
            value += 60.0
        ts = (base + timedelta(seconds=k / EVENT_RATE)).isoformat().replace("+00:00", "Z")
        source = f"s{s:05d}"
        yield source.encode(), orjson.dumps({
            "type": "metric", "source": source, "metric": f"m{m}", "value": value, "ts": ts,
            "tags": tags[s]})


async def _produce(bootstrap: str, topic: str, sources: int, n: int) -> None:
    await create_topic(bootstrap, topic, PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False,
                                linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        pending = []
        for key, value in events(sources, n):
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, sources: int, n: int) -> None:
    asyncio.run(_produce(bootstrap, topic, sources, n))


async def consume(cfg: Config, topic: str, n: int) -> dict[str, Any]:
    empty = rss()
    service = MonitorService(cfg)
    stop = anyio.Event()
    result: dict[str, Any] = {}

    async def watch() -> None:
        start: tuple[float, float] | None = None
        # if the first read takes every record at once, the stretch starts at the first poll
        # (group join included: a lower bound of the rate)
        origin, first = (time.perf_counter(), time.process_time()), 0
        while True:
            done = service.stats[f"consumed.{topic}"]
            if start is None and done:
                start = (time.perf_counter(), time.process_time())
                first = done
            if done >= n:
                assert start is not None
                wall, cpu = time.perf_counter() - start[0], time.process_time() - start[1]
                counted = done - first
                if counted <= 0:
                    start, counted = origin, done
                    wall, cpu = time.perf_counter() - start[0], time.process_time() - start[1]
                result.update(events=counted, rate=counted / wall, cpu_us=cpu / counted * 1e6)
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(3.0)  # a few more checkpoints: the steady state
        gc.collect()
        result["rss_per_series"] = (rss() - empty) / (len(cfg.sources) * METRICS)
        result["checkpoints"] = service.stats["checkpoints"]
        result["state_records"] = service.stats["checkpoint.records"]
        stop.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(service.run, stop)
        tg.start_soon(watch)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000, help="sources × 10 metrics")
    parser.add_argument("--per-series", type=int, default=30, help="events per series")
    parser.add_argument("--bootstrap", help="a running broker (default: an embedded one)")
    parser.add_argument("--kafka", default="", help="extra kafka options, YAML lines")
    args = parser.parse_args()
    sources = max(1, args.series // METRICS)
    n = sources * METRICS * args.per_series
    topic = f"hot-{uuid.uuid4().hex[:8]}"

    def run(bootstrap: str) -> dict[str, Any]:
        child = multiprocessing.get_context("spawn").Process(
            target=produce, args=(bootstrap, topic, sources, n))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit("producing the workload failed")
        extra = "".join(f"  {line}\n" for line in args.kafka.splitlines() if line.strip())
        cfg = config(bootstrap, topic, sources, extra.rstrip("\n"))
        with tuned_collector():
            return asyncio.run(consume(cfg, topic, n))

    if args.bootstrap:
        result = run(args.bootstrap)
    else:
        with broker_address() as address:
            result = run(address)
    print(orjson.dumps({"series": sources * METRICS, **result}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
