"""Scale-out benchmark (NFR-003, FR-016): one and two ``dq-monitor run`` processes against the
raw consume loop, on the same records of one broker, in one run.

    python benchmarks/bench_scale.py [--events 1500000] [--rounds 3] [--peers]
                                     [--bootstrap HOST:PORT]

The workload is the one of the comparison with other stream processors: metric events of 100
sources × 10 metrics (window 100), keyed by source, on a topic of two partitions. The monitor
runs as real processes (freshness, completeness and anomaly checks on every source, alert records,
checkpoints, commits) and is measured from outside, through its ``/metrics`` and its CPU time
in ``/proc`` (so this benchmark needs Linux): the rate is taken over the stretch of samples in
which every instance was consuming, so start-up and the group join are not counted, and with
two instances only the time both were busy counts (the aggregate of the group). The raw loop
(one consumer, one core) reads the same records from a fresh group in this process. Each round
runs the raw loop, one instance and two instances; the medians over the rounds are reported,
and every round is kept in the results. With ``--peers`` each round also runs two peer stream
processors on the same records, each scoring every value two ways (the raw loop's rolling z,
and dq-monitor's own robust detector; ``peers/``): Bytewax (``bytewax_flow.py``, from this
environment) and Quix Streams (``quix_app.py``). Quix Streams pins older pydantic and
confluent-kafka releases than this project's, so it runs from an environment of its own, made
on first use in ``.peers/`` (``--quix-python`` names another interpreter).

Results go to benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_service import raw_loop

from dq_monitor.embedded import broker_address, free_port, terminate

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
PEER_DIR = ROOT / "benchmarks" / "peers"
PEERS = ("rolling", "robust")
QUIX_REQUIREMENT = "quixstreams>=3.28,<3.29"
SOURCES, METRICS = 100, 10
SAMPLE_S = 0.25


def config_text(bootstrap: str, topic: str, group: str, port: int) -> str:
    metrics = ", ".join(f"m{j}" for j in range(METRICS))
    sources = "\n".join(
        f"  - name: src{i:03d}\n    freshness: {{max_staleness: 1h}}\n"
        f"    completeness: {{columns: {{c: {{max_null_rate: 0.5}}}}}}\n"
        f"    anomaly: {{metrics: [{metrics}], window: 100, min_samples: 20}}"
        for i in range(SOURCES))
    return f"""
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {group}
  input_topics: [{topic}]
  alert_topic: {topic}.alerts
  dead_letter_topic: {topic}.dead
  session_timeout: 6s
  heartbeat_interval: 1s
telemetry: {{http_port: {port}}}
sources:
{sources}
"""


async def produce(bootstrap: str, topic: str, n: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False,
                                linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    try:
        pending = []
        for i in range(n):
            source = f"src{i % SOURCES:03d}"
            value = 100.0 + (i * 7919 % 13)
            body = orjson.dumps({"type": "metric", "source": source,
                                 "metric": f"m{i // SOURCES % METRICS}", "value": value,
                                 "ts": now})
            pending.append(await producer.send(topic, body, key=source.encode()))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


_CONSUMED = re.compile(r"^dq_events_consumed_total\{[^}]*\} (\S+)$", re.M)


def consumed(client: httpx.Client, port: int) -> float | None:
    try:
        text = client.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    return sum(float(v) for v in _CONSUMED.findall(text))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from ``/proc`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def instances(bootstrap: str, topic: str, count: int,
              workdir: Path) -> Iterator[list[tuple[int, int]]]:
    """``count`` monitor processes in one group: (telemetry port, pid) of each."""
    group = f"scale-{uuid.uuid4().hex[:8]}"
    ports = [free_port() for _ in range(count)]
    procs = []
    for k, port in enumerate(ports):
        config = workdir / f"{group}-{k}.yaml"
        config.write_text(config_text(bootstrap, topic, group, port))
        log = (workdir / f"{group}-{k}.log").open("wb")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "dq_monitor.cli", "run", "--no-router", "--config",
             str(config), "--log-level", "WARNING"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}))
    try:
        yield [(port, proc.pid) for port, proc in zip(ports, procs, strict=True)]
    finally:
        for proc in procs:
            terminate(proc, timeout=15)


def measure(instances: list[tuple[int, int]], n: int, timeout: float = 600) -> dict[str, Any]:
    """Sample every instance's consumed counter (and CPU time) until the group has consumed
    ``n`` records; the rate over the longest stretch in which every instance was consuming
    throughout, and the CPU the instances spent per event over that stretch."""
    samples: list[tuple[float, list[float], float]] = []
    deadline = time.monotonic() + timeout
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            values = [consumed(client, port) for port, _ in instances]
            if all(v is not None for v in values):
                cpu = sum(cpu_seconds(pid) for _, pid in instances)
                samples.append((time.perf_counter(), [v or 0.0 for v in values], cpu))
                if sum(samples[-1][1]) >= n:
                    break
            time.sleep(SAMPLE_S)
    # Intervals in which every instance was busy from start to end: each counter had already
    # moved before the interval began and moved again in the next one, so neither the
    # interval in which an instance started nor the one in which it ran dry is counted.
    busy = [i for i in range(1, len(samples) - 1)
            if all(a > 0 and b > a and c > b for a, b, c in zip(
                samples[i - 1][1], samples[i][1], samples[i + 1][1], strict=True))]
    best: tuple[int, int] = (0, 0)
    for i in busy:
        start = i
        while start - 1 in busy:
            start -= 1
        if i + 1 - start > best[1] - best[0]:
            best = (start - 1, i)
    first, last = samples[best[0]], samples[best[1]]
    elapsed = last[0] - first[0]
    counted = sum(last[1]) - sum(first[1])
    return {"events_per_s": counted / elapsed if elapsed > 0 else 0.0,
            "cpu_us_per_event": (last[2] - first[2]) / counted * 1e6 if counted else 0.0,
            "measured_events": counted, "measured_s": elapsed,
            "total_consumed": sum(samples[-1][1]) if samples else 0.0}


def quix_python(venv: Path) -> str:
    """An interpreter with Quix Streams and this project, in ``venv`` (made once)."""
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text() == QUIX_REQUIREMENT:
        return str(python)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    QUIX_REQUIREMENT, "-e", str(ROOT)], check=True)
    stamp.write_text(QUIX_REQUIREMENT)
    return str(python)


def peer(command: list[str], name: str) -> dict[str, Any]:
    """One run of a peer script; its last line of output is its JSON result."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed: {done.stdout[-1000:]}{done.stderr[-2000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


def peers_of_round(bootstrap: str, topic: str, n: int, quix: str,
                   workdir: Path) -> dict[str, dict[str, Any]]:
    """Bytewax and Quix Streams, each scoring both ways, over the topic."""
    out = {}
    for variant in PEERS:
        out[f"bytewax_{variant}"] = peer(
            [sys.executable, str(PEER_DIR / "bytewax_flow.py"), bootstrap, topic, str(n),
             variant], f"bytewax ({variant})")
        out[f"quix_{variant}"] = peer(
            [quix, str(PEER_DIR / "quix_app.py"), bootstrap, topic, str(n), variant,
             str(workdir / "quix-state")], f"quix streams ({variant})")
    return out


async def run(bootstrap: str, n: int, rounds: int, quix: str | None = None) -> dict[str, Any]:
    """Rounds of the raw loop, one instance and two (and the peers, given Quix Streams'
    interpreter), on the same records; medians of each."""
    topic = f"scale-{uuid.uuid4().hex[:8]}"
    await produce(bootstrap, topic, n)
    out: dict[str, Any] = {"events": n, "sources": SOURCES, "metrics": METRICS, "rounds": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(rounds):
            raw_rate, raw_cpu = await raw_loop(bootstrap, topic, n)
            this: dict[str, Any] = {"raw_loop": {"events_per_s": raw_rate,
                                                 "cpu_us_per_event": raw_cpu}}
            for count in (1, 2):
                with instances(bootstrap, topic, count, Path(tmp)) as running:
                    result = await asyncio.to_thread(measure, running, n)
                result["ratio_to_raw_loop"] = result["events_per_s"] / raw_rate
                this[f"monitor_x{count}"] = result
            if quix is not None:
                others = await asyncio.to_thread(peers_of_round, bootstrap, topic, n, quix,
                                                 Path(tmp))
                for name, result in others.items():
                    result["ratio_to_raw_loop"] = result["events_per_s"] / raw_rate
                    this[name] = result
            out["rounds"].append(this)
            print(f"round {k + 1}/{rounds}: raw {raw_rate:,.0f} ev/s, ratios: "
                  + ", ".join(f"{name} {r['ratio_to_raw_loop']:.2f}"
                              for name, r in this.items() if name != "raw_loop"), flush=True)
    runs = out["rounds"]
    out["raw_loop"] = {key: statistics.median(r["raw_loop"][key] for r in runs)
                       for key in ("events_per_s", "cpu_us_per_event")}
    for count in (1, 2):
        name = f"monitor_x{count}"
        out[name] = {key: statistics.median(r[name][key] for r in runs)
                     for key in ("events_per_s", "ratio_to_raw_loop", "cpu_us_per_event",
                                 "measured_events", "measured_s")}
    for name in [k for k in runs[0] if k.startswith(("bytewax_", "quix_"))]:
        out[name] = {key: statistics.median(r[name][key] for r in runs)
                     for key in ("events_per_s", "ratio_to_raw_loop", "cpu_us_per_event")}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_500_000,
                        help="enough for both instances to be busy together for seconds")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians reported)")
    parser.add_argument("--peers", action="store_true",
                        help="also run Bytewax and Quix Streams on the same records")
    parser.add_argument("--quix-python", default=None,
                        help="interpreter with quixstreams and dq-monitor (default: made in "
                             ".peers/)")
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--output", default=str(RESULTS / "scale.json"))
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap or stack.enter_context(broker_address())
        quix = None
        if args.peers:
            quix = args.quix_python or quix_python(ROOT / ".peers")
        result = asyncio.run(run(bootstrap, args.events, args.rounds, quix))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    raw = result["raw_loop"]["events_per_s"]
    print(f"medians of {args.rounds} round(s): raw loop {raw:,.0f} events/s "
          f"({result['raw_loop']['cpu_us_per_event']:.1f} µs CPU)")
    for count in (1, 2):
        r = result[f"monitor_x{count}"]
        print(f"monitor ×{count}: {r['events_per_s']:,.0f} events/s "
              f"(ratio {r['ratio_to_raw_loop']:.2f}; {r['cpu_us_per_event']:.1f} µs CPU/event; "
              f"{r['measured_events']:,.0f} events over {r['measured_s']:.1f} s)")
        if not r["measured_events"]:
            print(f"  no stretch in which all {count} instance(s) were busy: the group was "
                  "still joining when the records ran out; raise --events")
    for name in [k for k in result if k.startswith(("bytewax_", "quix_"))]:
        r = result[name]
        print(f"{name}: {r['events_per_s']:,.0f} events/s "
              f"(ratio {r['ratio_to_raw_loop']:.2f}; {r['cpu_us_per_event']:.1f} µs CPU/event)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
