"""Restore apply benchmark (NFR-001, NFR-003): CPU microseconds to apply one series' changelog
record, the step a restart repeats once per live series.

    python benchmarks/bench_decode.py [--series 2000] [--values 200] [--profile]

Builds ``--series`` robust series (window 100, seasonality ``auto``) from ``--values`` noisy
values a minute apart each, checkpoints them as the service writes them (the JSON value's bytes),
then applies every record to a fresh ``Monitor`` exactly as ``changelog.restore_state`` does
(``orjson.loads`` then ``Monitor.restore``), and also times the decode alone
(``checkpoint.decode``). Prints the best of several passes in CPU time per series (CPU time, so a
busy machine disturbs it less); ``--profile`` adds the functions that cost most in one pass.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import time
from datetime import UTC, datetime, timedelta

from dq_monitor.checks.anomaly import SeriesState, evaluate
from dq_monitor.config import Config, parse_config
from dq_monitor.kafka import changelog
from dq_monitor.monitor import Monitor
from dq_monitor.state import checkpoint

T0 = datetime(2026, 1, 5, tzinfo=UTC)
METRICS = 10
SHAPES = 20
PASSES = 7


def config(sources: int) -> Config:
    metrics = ", ".join(f"m{j}" for j in range(METRICS))
    entries = "".join(f"  - name: src{i:05d}\n    anomaly: {{metrics: [{metrics}], window: 100, "
                      f"min_samples: 20}}\n" for i in range(sources))
    return parse_config("kafka: {bootstrap_servers: 'x:1', input_topics: [in], alert_topic: a, "
                        f"dead_letter_topic: d}}\nsources:\n{entries}", env={})


def records(cfg: Config, values: int) -> list[tuple[int, str, bytes]]:
    """(partition, key, value bytes) of every series: ``SHAPES`` distinct states, reused."""
    anomaly = cfg.sources[0].anomaly
    assert anomaly is not None
    rnd = random.Random(1)
    shapes = []
    for _ in range(SHAPES):
        series = SeriesState.new(anomaly)
        for i in range(values):
            evaluate(series, 100 + rnd.gauss(0, 2), anomaly, source="s", subject="m",
                     ts=T0 + timedelta(minutes=i))
        series.seen = T0
        shapes.append(checkpoint.encode(series))  # the changelog value itself
    monitor = Monitor(cfg)
    out = []
    for i, src in enumerate(cfg.sources):
        assert src.name is not None
        for j in range(METRICS):
            out.append((monitor.owner(src.name), f"ser\x1f{src.name}\x1fm{j}",
                        shapes[(i + j) % SHAPES]))
    return out


def apply_all(cfg: Config, recs: list[tuple[int, str, bytes]]) -> float:
    monitor = Monitor(cfg)
    began = time.process_time()
    for p, key, raw in recs:
        monitor.restore(p, key, changelog.decode(raw), T0)
    return time.process_time() - began


def decode_all(cfg: Config, recs: list[tuple[int, str, bytes]]) -> float:
    anomaly = cfg.sources[0].anomaly
    assert anomaly is not None
    began = time.process_time()
    for _, _, raw in recs:
        checkpoint.decode(raw, anomaly)
    return time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--values", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    cfg = config(max(1, args.series // METRICS))
    recs = records(cfg, args.values)
    applied = min(apply_all(cfg, recs) for _ in range(PASSES)) / len(recs)
    decoded = min(decode_all(cfg, recs) for _ in range(PASSES)) / len(recs)
    print(f"{len(recs)} series of {args.values} values, record {len(recs[0][2])} bytes: "
          f"apply {applied * 1e6:.1f} µs/series (changelog.decode + Monitor.restore), "
          f"decode {decoded * 1e6:.1f} µs/series (checkpoint.decode)")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(apply_all, cfg, recs)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
