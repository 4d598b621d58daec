"""Fleet-size costs outside the per-event loop (NFR-003, FR-024): loading a large configuration,
starting ``dq-monitor run`` on it, scraping ``/metrics``, and publishing one alert.

    python benchmarks/bench_fleet.py [--sources 1000 10000] [--scrapes 8] [--alerts 20000]
                                     [--bootstrap HOST:PORT] [--out DIR] [--only-live-scrape]
                                     [--only-start-up ROUNDS]

For each ``--sources`` N, a file of N named sources (owner, a label, freshness, completeness
and an anomaly check on 10 metrics each, so 10 series per source once fed) is

- loaded by ``read_config`` in this process: wall and CPU seconds;
- run as ``dq-monitor run --no-router`` on a real broker (embedded unless ``--bootstrap``) with
  a fresh group: seconds from the process start to ``/healthz`` answering (config loaded,
  services built), to ``/readyz`` (partitions assigned: this includes the consumer group's
  join, about 3 s on the embedded broker with a 6 s session), the process's CPU seconds and
  peak RSS by then;
- scraped: a ``Telemetry`` sized for N sources whose ``dq_series_tracked`` gauge reports N
  sources, rendered by ``render_metrics`` (as ``GET /metrics`` does) while a probe task
  sleeps 1 ms at a time on the same loop. Reported: the loop thread's CPU per scrape (what a
  scrape takes from event processing), the probe's worst lateness during the scrapes and
  during as long a time without (the machine's own noise), and whether every source's value
  came out (no overflow series);
- scraped live: ``dq-monitor run --no-router`` (the scale benchmark's realistic configuration,
  10 metrics a source) fed one record per series until ``dq_series_tracked`` counts all
  N × 10, then ``/metrics`` scraped ``--scrapes`` times from outside while ``/healthz`` is
  probed back to back (``scale_probe.scrape_stall``): how long a scrape holds the monitor's
  event loop, as the 100,000-series row of ``bench_scale.py`` measures it, in a minute
  instead of twelve. ``--only-live-scrape`` measures just this.

Once: CPU microseconds to build, encode and (not) trace one alert as the service publishes it
with no span exporter configured. Results go to DIR/fleet.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from dq_monitor.alerts.build import build_alert
from dq_monitor.alerts.machine import Transition
from dq_monitor.checks.verdict import Severity, Verdict
from dq_monitor.collector import tuned_collector
from dq_monitor.config import TelemetryConfig, read_config
from dq_monitor.embedded import broker_address
from dq_monitor.telemetry import Telemetry

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_probe as probe
from bench_scale import Monitor, running
from scale_workload import Workload, create_topic, produce

RESULTS = Path(__file__).resolve().parent / "results"
METRICS = 10


def config_text(bootstrap: str, sources: int, group: str, port: int) -> str:
    entries = "".join(
        f"  - name: src-{i:06d}\n    owner: team-{i % 17}\n    labels: {{tier: t{i % 3}}}\n"
        f"    freshness: {{max_staleness: 10m}}\n    completeness: {{min_row_count: 1}}\n"
        f"    anomaly: {{metrics: [{', '.join(f'm{j}' for j in range(METRICS))}], "
        "window: 100, min_samples: 20, z_warn: 4.5, z_fail: 6.0}\n" for i in range(sources))
    return f"""kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {group}
  input_topics: [{group}.in]
  alert_topic: {group}.alerts
  dead_letter_topic: {group}.dead
  session_timeout: 6s
  heartbeat_interval: 1s
telemetry: {{http_port: {port}}}
sources:
{entries}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def answers(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            status: int = r.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def load(path: Path) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    read_config(path)
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


#: Start-up phases, by the first log line of each (``dq-monitor run --log-level INFO``).
PHASES = {
    "config_read_s": "dq-monitor starting:",  # imports and the configuration loaded
    "api_up_s": "operator API on",  # telemetry, services and the operator API built
    "join_sent_s": "; waiting for partitions of",  # producer, topics, consumer started
    "assigned_s": "assigned partitions",  # the group join answered, state restored
}


def start_up(bootstrap: str, sources: int, workdir: Path) -> dict[str, Any]:
    """Seconds from spawning ``dq-monitor run`` to each phase (``PHASES``, read from its log
    as it is written), to ``/healthz`` answering and to ``/readyz``; its CPU and peak RSS."""
    group, port = f"fleet-{uuid.uuid4().hex[:8]}", free_port()
    path = workdir / f"run-{sources}.yaml"
    path.write_text(config_text(bootstrap, sources, group, port))
    asyncio.run(create_topic(bootstrap, f"{group}.in", 4))
    cli = Path(sys.executable).with_name("dq-monitor")
    began = time.perf_counter()
    proc = subprocess.Popen([str(cli), "run", "--no-router", "--config", str(path),
                             "--log-level", "INFO"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    phases: dict[str, float] = {}

    def follow() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            at = time.perf_counter() - began
            for name, mark in PHASES.items():
                if mark in line and name not in phases:
                    phases[name] = at

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    up: float | None = None
    try:
        while time.perf_counter() - began < 300:
            status = answers(f"http://127.0.0.1:{port}/readyz")
            if status is not None and up is None:
                up = time.perf_counter() - began
            if status == 200:
                break
            time.sleep(0.02)
        ready = time.perf_counter() - began
        stat = Path(f"/proc/{proc.pid}/stat").read_text().split()
        cpu = (int(stat[13]) + int(stat[14])) / os.sysconf("SC_CLK_TCK")
        hwm = re.search(r"VmHWM:\s+(\d+)", Path(f"/proc/{proc.pid}/status").read_text())
        out: dict[str, Any] = {"http_up_s": up, "ready_s": ready, "cpu_s": cpu,
                               "peak_rss_mb": int(hwm.group(1)) / 1024 if hwm else None}
    finally:
        proc.terminate()
        proc.wait(60)
        reader.join(10)
    out.update({name: phases.get(name) for name in PHASES})
    if out["join_sent_s"] is not None and out["assigned_s"] is not None:
        out["join_s"] = out["assigned_s"] - out["join_sent_s"]
    return out


async def scrape(sources: int, scrapes: int) -> dict[str, Any]:
    tel = Telemetry(TelemetryConfig(http_port=0), sources=sources)
    counts = {f"src-{i:06d}": 1 + i % METRICS for i in range(sources)}
    labels = {name: {"source": name} for name in counts}
    tel.gauge("dq_series_tracked", lambda: [(n, labels[s]) for s, n in counts.items()])
    worst = [0.0]
    running = True

    async def probe() -> None:
        while running:
            t = time.perf_counter()
            await asyncio.sleep(0.001)
            worst[0] = max(worst[0], time.perf_counter() - t - 0.001)

    task = asyncio.create_task(probe())
    await tel.render_metrics()  # the first scrape makes each source's aggregation
    began = time.perf_counter()
    await asyncio.sleep(0.5)
    idle_s, idle_worst, worst[0] = time.perf_counter() - began, worst[0], 0.0
    cpu, wall = time.thread_time(), time.perf_counter()
    for _ in range(scrapes):
        body = await tel.render_metrics()
    cpu, wall = (time.thread_time() - cpu) / scrapes, (time.perf_counter() - wall) / scrapes
    running = False
    await task
    await tel.aclose()
    found = re.findall(rb'^dq_series_tracked\{source="[^"]+"\} (\S+)$', body, re.MULTILINE)
    return {"scrape_s": wall, "loop_cpu_per_scrape_ms": cpu * 1000,
            "worst_loop_stall_ms": worst[0] * 1000,
            "worst_stall_without_scraping_ms": idle_worst * 1000, "idle_probe_s": idle_s,
            "sources_reported": len(found), "series_sum": sum(float(v) for v in found),
            "series_sum_expected": sum(counts.values()),
            "overflow": b"otel_metric_overflow" in body}


def live_scrape(bootstrap: str, sources: int, scrapes: int, workdir: Path) -> dict[str, Any]:
    """A running monitor tracking ``sources`` × 10 series, scraped from outside."""
    work = Workload(series=sources * METRICS)
    topic = f"fleet-live-{uuid.uuid4().hex[:8]}"
    asyncio.run(produce(bootstrap, topic, work, work.series))
    m = Monitor(workdir, bootstrap, topic, f"live-{uuid.uuid4().hex[:8]}", sources)
    with running([m]), httpx.Client() as client:
        m.ready()
        deadline, tracked = time.monotonic() + 300, 0.0
        while tracked < work.series:
            m.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{tracked:.0f} of {work.series} series tracked after 300 s")
            time.sleep(0.5)
            tracked = probe.series_tracked(probe.metrics_text(client, m.port, timeout=60) or "")
        out: dict[str, Any] = {"series_tracked": tracked}
        out.update(probe.scrape_stall(m.port, scrapes))
    return out


def alert_publish_us(n: int) -> float:
    """Build, encode and (with no exporter, not) trace one alert, as ``_publish`` does."""
    t0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)
    verdict = Verdict("anomaly", "warehouse.orders", "revenue{region=eu}", Severity.FAIL,
                      123.456, 100.0, "revenue z-score 6.1 above 6.0")
    transition = Transition("firing", Severity.FAIL, verdict, t0)
    tel = Telemetry()
    best = float("inf")
    for _ in range(3):
        cpu = time.process_time()
        for _ in range(n):
            alert = build_alert(transition, event_time=t0, detected_at=t0 + timedelta(seconds=1),
                                labels={"tier": "gold"}, owner="team-a")
            if tel.tracing:
                raise AssertionError("no exporter is configured: tracing must be off")
            alert.to_json()
        best = min(best, (time.process_time() - cpu) / n)
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=int, nargs="+", default=[1000, 10_000])
    ap.add_argument("--scrapes", type=int, default=8)
    ap.add_argument("--alerts", type=int, default=20_000)
    ap.add_argument("--bootstrap")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--only-live-scrape", action="store_true",
                    help="measure only the live scrape (results to DIR/fleet-scrape.json)")
    ap.add_argument("--only-start-up", type=int, metavar="ROUNDS",
                    help="measure only ROUNDS start-ups (results to DIR/fleet-start-up.json)")
    args = ap.parse_args()
    if args.only_live_scrape:
        live_only(args)
        return
    if args.only_start_up:
        start_up_only(args, args.only_start_up)
        return
    results: dict[str, Any] = {"by_sources": {}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in args.sources:
            path = work / f"load-{n}.yaml"
            path.write_text(config_text("127.0.0.1:9", n, "load", 0))
            row: dict[str, Any] = {"config_load": load(path)}
            with (contextlib.nullcontext(args.bootstrap) if args.bootstrap
                  else broker_address()) as bootstrap:
                row["start_up"] = start_up(bootstrap, n, work)
                row["live_scrape"] = live_scrape(bootstrap, n, args.scrapes, work)
            with tuned_collector():
                row["scrape"] = asyncio.run(scrape(n, args.scrapes))
            results["by_sources"][str(n)] = row
            s, up, ld = row["scrape"], row["start_up"], row["config_load"]
            print(f"{n} sources: config load {ld['wall_s']:.2f} s ({ld['cpu_s']:.2f} s CPU); "
                  f"run: /healthz after {up['http_up_s']:.2f} s, ready after "
                  f"{up['ready_s']:.2f} s, {up['cpu_s']:.2f} s CPU, peak RSS "
                  f"{up['peak_rss_mb']:.0f} MB (config read {up['config_read_s']:.2f} s, "
                  f"API up {up['api_up_s']:.2f} s, join sent {up['join_sent_s']:.2f} s, "
                  f"assigned {up['assigned_s']:.2f} s); scrape {s['scrape_s'] * 1000:.0f} ms, "
                  f"loop CPU {s['loop_cpu_per_scrape_ms']:.1f} ms a scrape, worst loop stall "
                  f"{s['worst_loop_stall_ms']:.1f} ms (without scraping "
                  f"{s['worst_stall_without_scraping_ms']:.1f} ms), "
                  f"{s['sources_reported']} sources reported, overflow {s['overflow']}",
                  flush=True)
            print(live_line(n, row["live_scrape"]), flush=True)
    results["alert_publish_cpu_us"] = alert_publish_us(args.alerts)
    results["peak_rss_mb_this_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"alert publish: {results['alert_publish_cpu_us']:.1f} µs CPU per alert")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fleet.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


def live_only(args: argparse.Namespace) -> None:
    results: dict[str, Any] = {"by_sources": {}}
    with tempfile.TemporaryDirectory() as tmp, (
            contextlib.nullcontext(args.bootstrap) if args.bootstrap
            else broker_address()) as bootstrap:
        for n in args.sources:
            live = live_scrape(bootstrap, n, args.scrapes, Path(tmp))
            results["by_sources"][str(n)] = {"live_scrape": live}
            print(live_line(n, live), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fleet-scrape.json").write_bytes(
        orjson.dumps(results, option=orjson.OPT_INDENT_2))


def start_up_only(args: argparse.Namespace, rounds: int) -> None:
    results: dict[str, Any] = {"by_sources": {}}
    with tempfile.TemporaryDirectory() as tmp, (
            contextlib.nullcontext(args.bootstrap) if args.bootstrap
            else broker_address()) as bootstrap:
        for n in args.sources:
            runs = [start_up(bootstrap, n, Path(tmp)) for _ in range(rounds)]
            median = {k: statistics.median(r[k] for r in runs) for k in runs[0]
                      if all(isinstance(r[k], float) for r in runs)}
            results["by_sources"][str(n)] = {"median": median, "rounds": runs}
            print(f"{n} sources, start-up (median of {rounds}): " + ", ".join(
                f"{k} {v:.2f}" for k, v in median.items()), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fleet-start-up.json").write_bytes(
        orjson.dumps(results, option=orjson.OPT_INDENT_2))


def live_line(n: int, live: dict[str, Any]) -> str:
    return (f"{n} sources, {live['series_tracked']:.0f} series tracked: live scrape "
            f"{live['metrics_scrape_ms']:.0f} ms, {live['metrics_bytes'] / 1000:.0f} KB, "
            f"loop blocked {live['loop_block_during_scrape_ms']:.1f} ms (target <= 10 ms; "
            f"{live['loop_block_without_scrape_ms']:.1f} ms as long without a scrape)")


if __name__ == "__main__":
    main()
