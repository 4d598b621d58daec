"""Anomaly-core benchmark (FR-005, NFR-005): updates per second and bytes per series.

    python benchmarks/bench_anomaly.py [--values 1000000] [--window 100] [--json OUT]

Runs ``evaluate`` — the exact function the service calls per value — over N values on one
series and spread over 1,000 series, and measures memory per series at the given window both
by accounting (``SeriesState.nbytes``) and by tracemalloc over 10,000 series (each holding its
own last-seen instant, as in the monitor). Targets on a
2-core machine: >= 300,000 updates/s, <= 2 KB per series.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from dq_monitor.checks.anomaly import SeriesState, evaluate
from dq_monitor.config import AnomalyConfig

TARGET_UPDATES_PER_S = 300_000
TARGET_BYTES_PER_SERIES = 2048


T0 = datetime(2026, 1, 5, tzinfo=UTC)


def stamps(n: int, series: int = 1, every: float = 1.0) -> list[datetime]:
    """Event times when each of ``series`` series sends a value ``every`` seconds (built before
    timing: the service has them decoded anyway)."""
    return [T0 + timedelta(seconds=every * (i // series)) for i in range(n)]


def throughput(values: list[float], series: int, cfg: AnomalyConfig, every: float = 1.0) -> float:
    states = [SeriesState.new(cfg) for _ in range(series)]
    ts = stamps(len(values), series, every)
    start = time.perf_counter()
    for i, v in enumerate(values):
        evaluate(states[i % series], v, cfg, source="bench", subject="m", ts=ts[i])
    return len(values) / (time.perf_counter() - start)


def traced_bytes_per_series(count: int, cfg: AnomalyConfig) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    states = []
    for s in range(count):
        st = SeriesState.new(cfg)
        # Past warm-up a series' state is allocated whole (the rolling buffer at its capacity,
        # the robust baseline with its seasonal arrays), so a few more values reach its size.
        for k in range(cfg.min_samples + 5):
            evaluate(st, 100.25 + (k * 31 + s) % 17, cfg, source="bench", subject="m",
                     ts=T0 + timedelta(minutes=5 * k))
        # The monitor stamps each series with the instant of its last value (series_ttl):
        # counted at its worst, an instant of its own per series (none shared by a batch).
        st.seen = T0 + timedelta(seconds=s)
        states.append(st)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / count


def main() -> int:
    parser = argparse.ArgumentParser(description="anomaly-core updates/s and bytes per series")
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--traced-series", type=int, default=10_000,
                        help="series measured by tracemalloc (fewer for a quick run)")
    parser.add_argument("--baseline", default="robust", choices=["robust", "rolling"])
    parser.add_argument("--seasonality", default="auto",
                        choices=["auto", "none", "hour_of_day", "day_of_week", "hour_of_week"])
    args = parser.parse_args()
    cfg = AnomalyConfig(metrics=["m"], window=args.window, min_samples=min(20, args.window),
                        baseline=args.baseline, seasonality=args.seasonality)
    rng = random.Random(7)
    values = [rng.gauss(1000.0, 25.0) for _ in range(args.values)]
    one = throughput(values, 1, cfg)
    spread = throughput(values, 1000, cfg)
    # A value every 5 minutes per series: with seasonality auto, the first 15 days of each
    # series also feed the seasonality race on every value (its costliest phase).
    racing = throughput(values, 1000, cfg, every=300.0)
    full = SeriesState.new(cfg)
    for v, t in zip(values[: args.window * 3], stamps(args.window * 3), strict=True):
        evaluate(full, v, cfg, source="bench", subject="m", ts=t)
    accounted = full.nbytes()
    traced = traced_bytes_per_series(args.traced_series, cfg)
    results = {
        "values": args.values, "window": args.window, "baseline": args.baseline,
        "seasonality": args.seasonality,
        "updates_per_s_one_series": round(one), "updates_per_s_1000_series": round(spread),
        "updates_per_s_1000_series_5min_racing": round(racing),
        "bytes_per_series_accounted": accounted, "bytes_per_series_tracemalloc": round(traced),
    }
    ok_speed = min(one, spread) >= TARGET_UPDATES_PER_S
    ok_mem = max(accounted, traced) <= TARGET_BYTES_PER_SERIES
    print(f"updates/s: {one:,.0f} (1 series), {spread:,.0f} (1,000 series) — target "
          f">= {TARGET_UPDATES_PER_S:,}: {'PASS' if ok_speed else 'MISS'}; "
          f"{racing:,.0f} (1,000 series, a value per 5 min each, in the seasonality race)")
    print(f"bytes per series at window {args.window}: {accounted} accounted, {traced:,.0f} "
          f"traced over {args.traced_series:,} series — target <= {TARGET_BYTES_PER_SERIES}: "
          f"{'PASS' if ok_mem else 'MISS'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
