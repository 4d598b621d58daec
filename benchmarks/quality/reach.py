"""How far a plain threshold can reach on a labelled corpus (FR-017).

    python -m benchmarks.quality.reach [--corpus kpi] [--thresholds 2.5,3,3.5,4,4.5,5,6]

For each threshold: the incident windows caught and the false alerts per 10,000 normal points,
scored exactly as the quality benchmark scores a detector (``scoring.score_series``). Two scores
per point:

* ``z``: the robust default's own z (``dq_monitor.backtest.replay``), before calibration, the
  run statistic, cool-down or any other alert rule: what a threshold on the model's z alone
  would do;
* ``day``: the value minus the value one day earlier, in robust units (1.4826 × MAD) of the
  series' normal day-over-day differences. Those units are taken with the labels known, over
  the whole series: an oracle's scale, which favours this score.

A point alerts when its score is at or above the threshold and no point of the ``GAP`` before it
was (one alert per excursion, as the default cool-down gives). The table says whether a target
such as "≥ 85 % of windows at ≤ 5 false alerts per 10,000 points" is within reach of detectors
of these kinds on the corpus.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from dq_monitor.backtest import replay
from dq_monitor.config import Config, parse_config

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "benchmarks.quality"

from . import corpus, scoring
from .run import METRIC, SOURCE, config_text

#: Quiet points before a point may alert again (the default ``cooldown``).
GAP = 10
THRESHOLDS = (2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0)
DAY_S = 86_400.0


@dataclass(frozen=True, slots=True)
class Reach:
    """One score at one threshold over a corpus."""

    score: str
    threshold: float
    caught: int
    windows: int
    false_alerts: int
    normal_points: int

    @property
    def caught_share(self) -> float:
        return self.caught / self.windows if self.windows else math.nan

    @property
    def false_per_10k(self) -> float:
        return 1e4 * self.false_alerts / self.normal_points if self.normal_points else math.nan


def alerts_at(score: Sequence[float], threshold: float, gap: int = GAP) -> list[bool]:
    """The points that alert: at or above ``threshold`` with none of the ``gap`` before."""
    out = [False] * len(score)
    last = -gap - 1
    for i, s in enumerate(score):
        if s >= threshold:
            out[i] = i - last > gap
            last = i
    return out


def day_over_day(seconds: Sequence[float], values: Sequence[float],
                 labels: Sequence[int]) -> list[float]:
    """|value − the value one day earlier| in robust units of the normal differences (0 for
    the first day, and where no point lies exactly a day earlier)."""
    at = {t: i for i, t in enumerate(seconds)}
    back = [at.get(t - DAY_S) for t in seconds]
    normal = [values[i] - values[j] for i, j in enumerate(back)
              if j is not None and not labels[i] and not labels[j]]
    if len(normal) < 2:
        return [0.0] * len(values)
    mid = statistics.median(normal)
    unit = 1.4826 * statistics.median(abs(d - mid) for d in normal) or 1.0
    return [0.0 if j is None else abs(values[i] - values[j] - mid) / unit
            for i, j in enumerate(back)]


def model_z(series: corpus.LabelledSeries, cfg: Config) -> list[float]:
    """|z| of each point under ``cfg``, the robust default (0 while it warms up)."""
    points = [(t if t.tzinfo else t.replace(tzinfo=UTC), v)
              for t, v in zip(series.timestamps, series.values, strict=True)]
    return [0.0 if row.z is None else abs(row.z)
            for row in replay(cfg, SOURCE, METRIC, points)]


def sweep(name: str, scores: Sequence[tuple[Sequence[float], Sequence[scoring.Window]]],
          thresholds: Sequence[float] = THRESHOLDS) -> list[Reach]:
    """``Reach`` of one score (per series: its points' scores and its windows) at each
    threshold, summed over the series."""
    rows = []
    for t in thresholds:
        caught = windows = false = normal = 0
        for score, wins in scores:
            r = scoring.score_series(name, name, alerts_at(score, t), wins)
            caught += sum(w.caught for w in r.windows)
            windows += len(r.windows)
            false += r.false_alerts
            normal += r.normal_points
        rows.append(Reach(name, t, caught, windows, false, normal))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default="kpi", help="folder of benchmarks/quality/data")
    p.add_argument("--thresholds", default=",".join(map(str, THRESHOLDS)))
    args = p.parse_args(argv)
    thresholds = [float(x) for x in args.thresholds.split(",")]
    series = [s for s in corpus.load_corpus() if s.kind == args.corpus]
    if not series:
        print(f"no series in benchmarks/quality/data/{args.corpus}", file=sys.stderr)
        return 1
    cfg = parse_config(config_text({}))
    z, day = [], []
    for s in series:
        if not all(math.isfinite(v) for v in s.values):
            print(f"{s.name}: gaps are not supported here", file=sys.stderr)
            return 1
        wins = scoring.windows_from_labels(s.labels)
        z.append((model_z(s, cfg), wins))
        seconds = [t.timestamp() for t in s.timestamps]
        day.append((day_over_day(seconds, s.values, s.labels), wins))
    print(f"{args.corpus}: {len(series)} series\n")
    print("| score | threshold | windows caught | false alerts / 10k normal points |")
    print("|---|---|---|---|")
    for rows in (sweep("z", z, thresholds), sweep("day", day, thresholds)):
        for r in rows:
            print(f"| {r.score} | {r.threshold:g} | {r.caught}/{r.windows} "
                  f"({100 * r.caught_share:.0f}%) | {r.false_per_10k:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
