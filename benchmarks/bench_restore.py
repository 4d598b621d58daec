"""Restart benchmark (NFR-001, NFR-003): time to ready and changelog records replayed after a
run that checkpointed every series many times.

    python benchmarks/bench_restore.py [--sources 2000] [--rounds 24] [--partitions 4]
                                       [--out DIR] [--bootstrap HOST:PORT]
                                       [--instance-id ID]

One monitor (in this process, the real ``MonitorService``) watches ``--sources`` sources of 10
metrics each (window 100) on a topic of ``--partitions`` partitions. Each round sends one noisy
value, with an advancing timestamp, to every series, and the monitor checkpoints after each
round (``kafka.commit_records`` is one round), so every series is written to the changelog once
per round. Then the monitor stops, a second one starts on the same group and changelog, and the
benchmark reports its time from start to ready, the time of the restore itself (after the
assignment) and of the changelog read ahead during the group join, and the records
it replayed (parsed from the log line ``restored N state records``). The broker is the embedded
one unless ``--bootstrap`` names another. With ``--instance-id`` both monitors join as that
static member (``kafka.group_instance_id``), as one instance of a StatefulSet restarting.
Results go to ``restore.json`` in ``--out`` (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
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

from dq_monitor.config import Config, parse_config
from dq_monitor.embedded import broker_address
from dq_monitor.ingest.service import MonitorService
from dq_monitor.kafka import changelog

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_workload import create_topic

RESULTS = Path(__file__).resolve().parent / "results"
METRICS = 10
REPLAYED = re.compile(r"restored (\d+) state records from")


def config(bootstrap: str, topic: str, group: str, sources: int,
           instance_id: str | None = None) -> Config:
    metrics = ", ".join(f"m{j}" for j in range(METRICS))
    entries = "\n".join(
        f"  - name: src{i:05d}\n    anomaly: {{metrics: [{metrics}], window: 100, "
        f"min_samples: 20}}" for i in range(sources))
    return parse_config(f"""
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {group}
  input_topics: [{topic}]
  alert_topic: {topic}.alerts
  dead_letter_topic: {topic}.dead
  session_timeout: 6s
  heartbeat_interval: 1s
  commit_records: {sources * METRICS}
{f"  group_instance_id: {instance_id}" if instance_id else ""}
sources:
{entries}
""", env={})


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def captured() -> Iterator[_Lines]:
    handler = _Lines()
    logger = logging.getLogger("dq_monitor.kafka.changelog")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def produce_round(producer: AIOKafkaProducer, topic: str, sources: int, r: int,
                        start: datetime) -> None:
    ts = (start + timedelta(seconds=60 * r)).isoformat().replace("+00:00", "Z")
    futures = []
    for i in range(sources):
        name = f"src{i:05d}"
        for j in range(METRICS):
            value = 100.0 + ((i * 31 + j * 7 + r * 13) % 17) / 3.0
            futures.append(await producer.send(topic, orjson.dumps(
                {"type": "metric", "source": name, "metric": f"m{j}", "value": value,
                 "ts": ts}), key=name.encode()))
    await asyncio.gather(*futures)


async def judged(service: MonitorService, n: int, timeout: float = 600) -> None:
    with anyio.fail_after(timeout):
        while service.monitor.stats["events.metric"] < n:
            await anyio.sleep(0.05)


async def run(bootstrap: str, sources: int, rounds: int, partitions: int,
              instance_id: str | None = None) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    topic, group = f"restore-{run_id}", f"restore-{run_id}"
    await create_topic(bootstrap, topic, partitions)
    cfg = config(bootstrap, topic, group, sources, instance_id)
    series = sources * METRICS
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False,
                                linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    start = datetime.now(UTC) - timedelta(minutes=60 * rounds)
    try:
        first = MonitorService(cfg)
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.run, stop)
            with anyio.fail_after(120):
                await first.ready.wait()
            for r in range(rounds):
                await produce_round(producer, topic, sources, r, start)
                await judged(first, series * (r + 1))
            stop.set()
        print(f"wrote {rounds} checkpoints of {series} series", flush=True)
        # Time the restore itself, whichever function this version restores with, and the
        # changelog read done ahead of the assignment (during the group join) if it has one.
        name = "restore_state" if hasattr(changelog, "restore_state") else "restore"
        timers: dict[str, list[float]] = {name: [], "read_ahead": []}
        originals = {n: getattr(changelog, n) for n in timers if hasattr(changelog, n)}

        def timed(original: Any, into: list[float]) -> Any:
            async def call(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    into.append(time.perf_counter() - began)
            return call

        for n, original in originals.items():
            setattr(changelog, n, timed(original, timers[n]))
        try:
            with captured() as lines:
                second = MonitorService(cfg)
                stop = anyio.Event()
                began = time.perf_counter()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(second.run, stop)
                    with anyio.fail_after(600):
                        await second.ready.wait()
                    ready_s = time.perf_counter() - began
                    stop.set()
        finally:
            for n, original in originals.items():
                setattr(changelog, n, original)
        restore_s, ahead_s = timers[name], timers["read_ahead"]
        replayed = sum(int(m.group(1)) for line in lines.lines
                       if (m := REPLAYED.search(line)))
        restored = sum(len(s.series) for s in second.monitor.sources.values())
    finally:
        await producer.stop()
    return {"series": series, "rounds": rounds, "partitions": partitions,
            "instance_id": instance_id, "ready_s": round(ready_s, 2),
            "restore_s": round(sum(restore_s), 2), "read_ahead_s": round(sum(ahead_s), 2),
            "records_replayed": replayed, "series_restored": restored}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--bootstrap")
    parser.add_argument("--instance-id", help="join as this static group member")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with (contextlib.nullcontext(args.bootstrap) if args.bootstrap
          else broker_address()) as bootstrap:
        result = asyncio.run(run(bootstrap, args.sources, args.rounds, args.partitions,
                                 args.instance_id))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "restore.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"{result['series']} series x {result['rounds']} checkpoints: ready in "
          f"{result['ready_s']} s (restore {result['restore_s']} s after the join, "
          f"{result['read_ahead_s']} s read ahead during it), "
          f"{result['records_replayed']} records replayed, "
          f"{result['series_restored']} series restored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
