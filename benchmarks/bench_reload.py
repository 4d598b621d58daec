"""Hot-reload benchmark (FR-025): how long a reload of a large configuration pauses event
processing, and that no event is lost across it.

    python benchmarks/bench_reload.py [--sources 1000] [--rate 5000] [--seconds 12]
                                      [--reloads 4] [--bootstrap HOST:PORT] [--out FILE]

A ``MonitorService`` runs in this process on a real broker (embedded unless ``--bootstrap``),
built from a file of ``--sources`` named sources, each with completeness and an anomaly check
on one metric. Another process sends metric events round-robin over every source at ``--rate``
for ``--seconds``. Meanwhile the file is rewritten and reloaded ``--reloads`` times through the
same ``ConfigReloader`` SIGHUP uses, alternating two versions: the second changes the anomaly
thresholds of every source, drops 10 sources and adds 10 others (so the reload resolves,
creates and keeps state, as an operator's edit does).

The pause: the monitor's loop, the reload's parsing and validation and the swap all run on one
event loop, so a task that wakes every millisecond sees each of them as a gap. The report gives
the longest gap while a reload ran against the longest gap of the same run outside reloads
(the loop's own batches), the reload's total time (read, validate, hand over, swap) and the
swap alone. Events lost: events the load sent minus events the monitor judged, once the load
ended and the monitor caught up (it must be 0). Results go to benchmarks/results/reload.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from dq_monitor.collector import tuned_collector
from dq_monitor.config import Config, read_config
from dq_monitor.embedded import broker_address
from dq_monitor.ingest.service import MonitorService
from dq_monitor.monitor import Outcome
from dq_monitor.reload import ConfigReloader
from dq_monitor.telemetry import Telemetry

RESULTS = Path(__file__).resolve().parent / "results"
#: Sources a second version drops, and adds.
CHURN = 10


def config_text(bootstrap: str, topic: str, group: str, sources: int, version: int) -> str:
    z_warn, z_fail = (4.5, 6.0) if version == 1 else (4.0, 5.5)
    names = [f"src-{i:05d}" for i in range(sources)]
    if version == 2:
        names = names[CHURN:] + [f"new-{i:05d}" for i in range(CHURN)]
    entries = "".join(
        f"  - name: {n}\n    completeness: {{min_row_count: 1}}\n"
        f"    anomaly: {{metrics: [rows], window: 100, min_samples: 20, z_warn: {z_warn}, "
        f"z_fail: {z_fail}}}\n" for n in names)
    return f"""
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {group}
  input_topics: [{topic}]
  alert_topic: {topic}.alerts
  dead_letter_topic: {topic}.dead
  session_timeout: 6s
  heartbeat_interval: 1s
telemetry: {{http_port: null}}
sources:
{entries}"""


def _load(bootstrap: str, topic: str, sources: int, rate: int, seconds: float,
          done: Connection) -> None:
    done.send(asyncio.run(_send(bootstrap, topic, sources, rate, seconds)))


async def _send(bootstrap: str, topic: str, sources: int, rate: int, seconds: float) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False,
                                linger_ms=5)
    await producer.start()
    sent = 0
    try:
        start = time.monotonic()
        total = int(rate * seconds)
        pending = []
        while sent < total:
            due = int((time.monotonic() - start) * rate) + 1
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            while sent < min(due, total):
                i = sent % sources
                body = orjson.dumps({"type": "metric", "source": f"src-{i:05d}",
                                     "metric": "rows", "value": 100.0 + sent * 7919 % 13,
                                     "ts": now})
                pending.append(await producer.send(topic, body, key=b"k"))
                sent += 1
            if len(pending) > 2000:
                await asyncio.gather(*pending)
                pending.clear()
            await asyncio.sleep(0.002)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


async def run(bootstrap: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    topic = f"rl-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    group = f"{topic}-monitor"
    path = folder / "config.yaml"
    versions = [config_text(bootstrap, topic, group, args.sources, v) for v in (1, 2)]
    path.write_text(versions[0])
    config, digest = read_config(path)
    telemetry = Telemetry.disabled()
    service = MonitorService(config, telemetry=telemetry)
    swaps: list[float] = []
    swap = service.monitor.reconfigure

    def timed_swap(new: Config, now: datetime) -> Outcome:
        started = time.perf_counter()
        try:
            return swap(new, now)
        finally:
            swaps.append(time.perf_counter() - started)

    service.monitor.reconfigure = timed_swap  # type: ignore[method-assign,assignment]
    reloader = ConfigReloader(path, config, digest, telemetry, parts=[service.reconfigure])
    stop = anyio.Event()
    beats: list[float] = []
    windows: list[tuple[float, float]] = []
    totals: list[float] = []

    async def heartbeat() -> None:
        while not stop.is_set():
            beats.append(time.perf_counter())
            await asyncio.sleep(0.001)

    async with anyio.create_task_group() as tg:
        tg.start_soon(service.run, stop)
        await service.ready.wait()
        tg.start_soon(heartbeat)
        ctx = multiprocessing.get_context("spawn")
        here, there = ctx.Pipe(duplex=False)
        load = ctx.Process(target=_load, args=(bootstrap, topic, args.sources, args.rate,
                                               args.seconds, there))
        load.start()
        gap = args.seconds / (args.reloads + 1)
        for k in range(args.reloads):
            await asyncio.sleep(gap)
            path.write_text(versions[(k + 1) % 2])
            started = time.perf_counter()
            result = await reloader.reload("benchmark")
            ended = time.perf_counter()
            if not result.ok:
                raise RuntimeError(f"reload refused: {result.errors}")
            windows.append((started, ended))
            totals.append(ended - started)
        while not here.poll():
            if not load.is_alive() and not here.poll():
                raise RuntimeError(f"the load process exited with {load.exitcode}")
            await asyncio.sleep(0.05)
        sent = here.recv()
        load.join()
        with anyio.move_on_after(60):
            while service.monitor.stats["events.metric"] < sent:
                await asyncio.sleep(0.05)
        judged = service.monitor.stats["events.metric"]
        stop.set()
    in_reload: list[float] = []
    outside: list[float] = []
    for a, b in itertools.pairwise(beats):
        during = any(s - 0.001 <= b and a <= e + 0.001 for s, e in windows)
        (in_reload if during else outside).append(b - a)
    return {
        "sources": args.sources, "rate": args.rate, "seconds": args.seconds,
        "reloads": len(totals), "events_sent": sent, "events_judged": judged,
        "events_lost": sent - judged,
        "pause_ms_max_during_reload": 1000 * max(in_reload, default=0.0),
        "gap_ms_max_outside_reload": 1000 * max(outside, default=0.0),
        "reload_ms": [1000 * t for t in totals],
        "reload_ms_median": 1000 * statistics.median(totals),
        "swap_ms": [1000 * t for t in swaps],
        "swap_ms_median": 1000 * statistics.median(swaps) if swaps else None,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--reloads", type=int, default=4)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "reload.json")
    args = parser.parse_args()
    with broker_address() if args.bootstrap is None else contextlib.nullcontext(
            args.bootstrap) as bootstrap, tempfile.TemporaryDirectory() as folder:
        result = await run(bootstrap, args, Path(folder))
    result["machine"] = {"python": sys.version.split()[0]}
    print(f"reload of {result['sources']:,} sources at {result['rate']:,} events/s, "
          f"{result['reloads']} reloads: pause {result['pause_ms_max_during_reload']:.0f} ms "
          f"at most (gaps outside reloads up to {result['gap_ms_max_outside_reload']:.0f} ms); "
          f"reload {result['reload_ms_median']:.0f} ms (median), of which the swap "
          f"{result['swap_ms_median']:.1f} ms; events sent {result['events_sent']:,}, judged "
          f"{result['events_judged']:,}, lost {result['events_lost']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(f"wrote {args.out}")
    return 0 if result["events_lost"] == 0 else 1


if __name__ == "__main__":
    with tuned_collector():
        sys.exit(asyncio.run(main()))
