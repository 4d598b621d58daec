"""Looking at a running ``dq-monitor run`` process from outside (Linux): its CPU time and
memory in ``/proc``, its ``/metrics`` and ``/readyz``, how long a ``/metrics`` scrape holds its
event loop, and what its changelog and log say about checkpoints and restores."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

_CONSUMED = re.compile(r'^dq_events_consumed_total\{[^}]*topic="([^"]*)"[^}]*\} (\S+)$', re.M)
_TRACKED = re.compile(r"^dq_series_tracked(?:\{[^}]*\})? (\S+)$", re.M)
#: The restore counter and timer, if the monitor exposes them (preferred over the log line).
_RESTORED_METRIC = re.compile(
    r'^dq_state_records_replayed_total\{[^}]*topic="([^"]*)"[^}]*\} (\S+)$', re.M)
_RESTORE_SECONDS = re.compile(
    r'^dq_state_restore_seconds\{[^}]*topic="([^"]*)"[^}]*\} (\S+)$', re.M)
_RESTORED_LOG = re.compile(r"restored (\d+) state records from (\S+) ")
#: Changelog keys of anomaly series state (``ser`` + unit separator + source + ...).
SERIES_KEY = b"ser\x1f"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(pid: int) -> dict[str, int]:
    """Resident set size now and at its peak, in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out["rss" if name == "VmRSS" else "peak_rss"] = int(value.split()[0]) * 1024
    return out


def metrics_text(client: httpx.Client, port: int, timeout: float = 10) -> str | None:
    try:
        return client.get(f"http://127.0.0.1:{port}/metrics", timeout=timeout).text
    except httpx.HTTPError:
        return None


def consumed(text: str, topic: str) -> float:
    """Records of ``topic`` consumed (re-routed records read again are not counted)."""
    return sum(float(v) for t, v in _CONSUMED.findall(text) if t == topic)


async def committed(reader: AIOKafkaConsumer, tps: list[TopicPartition]) -> int:
    """The offsets committed on ``tps`` by the group of ``reader`` (a consumer that never
    joins it), summed: the records the group has judged and checkpointed, read from the broker
    (no load on the monitor)."""
    total = 0
    for tp in tps:
        total += max(0, await reader.committed(tp) or 0)
    return total


def series_tracked(text: str) -> float:
    return sum(float(v) for v in _TRACKED.findall(text))


def restored_metric(text: str, topic: str) -> float | None:
    """Records of ``topic`` replayed by restores (``dq_state_records_replayed_total``)."""
    values = [float(v) for t, v in _RESTORED_METRIC.findall(text) if t == topic]
    return sum(values) if values else None


def restore_seconds(text: str, topic: str) -> float | None:
    """How long the last restore of ``topic`` took (``dq_state_restore_seconds``)."""
    values = [float(v) for t, v in _RESTORE_SECONDS.findall(text) if t == topic]
    return max(values) if values else None


def restored_in_log(log: str, topic: str) -> int | None:
    """Records of ``topic`` replayed, summed over the restore lines of a monitor's log."""
    found = [int(n) for n, t in _RESTORED_LOG.findall(log) if t == topic]
    return sum(found) if found else None


def time_to_ready(proc: subprocess.Popen[bytes], port: int, started: float,
                  timeout: float = 900) -> float:
    """Seconds from ``started`` (taken before the process was spawned) to ``/readyz`` 200."""
    deadline = started + timeout
    with httpx.Client() as client:
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the monitor exited with {proc.returncode} before ready")
            try:
                if client.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    raise RuntimeError(f"not ready after {timeout:.0f} s")


def _probe_latencies(client: httpx.Client, port: int, until: threading.Event,
                     limit: int, seconds: float = float("inf")) -> list[float]:
    out: list[float] = []
    end = time.perf_counter() + seconds
    while not until.is_set() and len(out) < limit and time.perf_counter() < end:
        t = time.perf_counter()
        client.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        out.append(time.perf_counter() - t)
    return out


def scrape_stall(port: int, scrapes: int = 5) -> dict[str, float]:
    """What a ``/metrics`` scrape costs the monitor's event loop, seen from outside: ``/healthz``
    is probed back to back while a scrape runs; the slowest probe during scrapes minus the
    median probe with no scrape is how long the loop could not answer. Also the scrape's own
    time and its size, and the same slowest-probe figure over as long a time with no scrape
    (``loop_block_without_scrape_ms``): what a busy machine alone makes of it."""
    stalls: list[float] = []
    quiet: list[float] = []
    idle: list[float] = []
    took: list[float] = []
    sizes: list[int] = []
    with httpx.Client() as probe, httpx.Client() as scraper:

        def scrape(done: threading.Event) -> None:
            try:
                t = time.perf_counter()
                sizes.append(len(scraper.get(f"http://127.0.0.1:{port}/metrics",
                                             timeout=60).content))
                took.append(time.perf_counter() - t)
            finally:
                done.set()

        for _ in range(scrapes):
            idle += _probe_latencies(probe, port, threading.Event(), 50)
            done = threading.Event()
            worker = threading.Thread(target=scrape, args=(done,))
            worker.start()
            during = _probe_latencies(probe, port, done, 1_000_000)
            worker.join()
            stalls.append(max(during, default=0.0))
            quiet.append(max(_probe_latencies(probe, port, threading.Event(), 1_000_000,
                                              took[-1]), default=0.0))
    base = statistics.median(idle)
    return {"metrics_scrape_ms": statistics.median(took) * 1000,
            "loop_block_during_scrape_ms": max(0.0, statistics.median(stalls) - base) * 1000,
            "loop_block_without_scrape_ms": max(0.0, statistics.median(quiet) - base) * 1000,
            "metrics_bytes": float(max(sizes))}


async def changelog_versions(bootstrap: str, topic: str) -> dict[str, float]:
    """Records in a changelog topic, and how many versions of each series' state it holds
    (min and median over series keys): how many checkpoints wrote each series."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                client_id=f"bench-{uuid.uuid4().hex[:6]}",
                                enable_auto_commit=False, max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    per_key: Counter[bytes] = Counter()
    total = 0
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()  # a fresh client
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return {"changelog_records": 0.0, "series_keys": 0.0,
                    "checkpoints_per_series_min": 0.0, "checkpoints_per_series_median": 0.0}
        consumer.assign(tps)
        # The embedded broker's end offsets can fall short by a batch: read on past them
        # until a poll of a second brings nothing.
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        while True:
            batch = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            for recs in batch.values():
                for rec in recs:
                    total += 1
                    if rec.key is not None and rec.key.startswith(SERIES_KEY):
                        per_key[rec.key] += 1
            if not batch and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                break
    finally:
        await consumer.stop()
    versions = list(per_key.values())
    return {"changelog_records": float(total), "series_keys": float(len(versions)),
            "checkpoints_per_series_min": float(min(versions, default=0)),
            "checkpoints_per_series_median": float(statistics.median(versions)
                                                   if versions else 0)}
