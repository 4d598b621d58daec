"""FR-017 alert-quality benchmark: every detector on every corpus, in one command.

    python -m benchmarks.quality.run [--quick] [--out benchmarks/results] [--workers 2]

Each detector is an anomaly config replayed through the service's own monitor core
(``dq_monitor.backtest.replay``), so the alerts counted are the alert events the service would
emit. Corpora: the synthetic set (``synthetic.py``: series with injected incidents, plus clean
copies for the false-alert headline) and each labelled public corpus whose data is present
(``corpus.load_corpus``: one per folder of ``data/``, scored on its own: SKAB's testbed
sensors, the KPI set's real operations metrics). The tuned rolling detector is chosen by a
small grid search on the synthetic series only. Writes ``quality.json``, ``quality.png`` and
``quality_examples.png`` and prints Markdown tables for the README. ``--quick`` runs a small
subset (a smoke test).
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import product
from multiprocessing import Pool
from pathlib import Path
from typing import Any, Protocol

import orjson
import yaml

from dq_monitor.backtest import ReplayRow, replay
from dq_monitor.config import Config, parse_config

if __package__ in (None, ""):
    # Run as a script: import the package from the repository root (PEP 366).
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "benchmarks.quality"

from . import scoring, synthetic

SOURCE = "bench"
METRIC = "value"
SYNTHETIC = "synthetic"
PUBLIC = "public"
DEFAULT = "robust (default)"
PREVIOUS = "rolling (previous default)"
TUNED = "rolling (tuned)"

#: name → anomaly options beyond ``metrics`` (the tuned one is filled in by the grid search).
DETECTORS: dict[str, dict[str, Any]] = {
    DEFAULT: {},
    "robust low": {"sensitivity": "low"},
    "robust high": {"sensitivity": "high"},
    PREVIOUS: {"baseline": "rolling", "window": 100, "min_samples": 20, "z_warn": 3,
               "z_fail": 4, "cooldown": 0},
}
GRID: dict[str, tuple[float, ...]] = {"window": (50, 100, 300), "z_warn": (3, 4, 5, 6),
                                      "cooldown": (0, 10)}
QUICK_GRID: dict[str, tuple[float, ...]] = {"window": (50, 300), "z_warn": (3, 5),
                                            "cooldown": (0, 10)}
#: z_fail = z_warn + this, in the grid.
GRID_FAIL_GAP = 1.5
#: A quick run keeps this many public series, each cut to this many points.
QUICK_CORPUS = (3, 3000)
#: (kind, incident type) of the series drawn in quality_examples.png, and points shown before
#: and after the incident's start.
EXAMPLES = (("daily_seasonal", "spike"), ("white_noise", "level_shift"),
            ("flat_steps", "drop_to_zero"), ("poisson", "variance"),
            ("noise_shift", "noise_shift"), ("sensor", "stuck"))
EXAMPLE_SPAN = (350, 250)


class SeriesLike(Protocol):
    """What a corpus hands over: a labelled series (synthetic or public)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def timestamps(self) -> Sequence[datetime]: ...

    @property
    def values(self) -> Sequence[float]: ...

    @property
    def labels(self) -> Sequence[int]: ...


def config_text(options: dict[str, Any]) -> str:
    """A minimal service config holding one anomaly check with ``options``."""
    doc = {
        "kafka": {"bootstrap_servers": "localhost:9092", "input_topics": ["m"],
                  "alert_topic": "a", "dead_letter_topic": "d"},
        "sources": [{"name": SOURCE, "anomaly": {"metrics": [METRIC], **options}}],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def effective(options: dict[str, Any]) -> dict[str, Any]:
    """The anomaly settings the service would use (defaults filled in), for the results."""
    an = parse_config(config_text(options)).sources[0].anomaly
    assert an is not None
    keys = ("baseline", "window", "min_samples", "sensitivity", "z_warn", "z_fail",
            "seasonality", "rebaseline_after", "cooldown", "min_abs_change", "min_rel_change",
            "direction")
    return {k: getattr(an, k) for k in keys}


# --------------------------------------------------------------------------- replay workers

Points = tuple[list[datetime], list[float]]
_SERIES: list[Points] = []


def _init(series: list[Points]) -> None:
    """Hands each worker every series once, so a task is only (config, series index)."""
    _SERIES[:] = series


@lru_cache(maxsize=64)
def _config(text: str) -> Config:
    return parse_config(text)


def _alerts(task: tuple[str, int]) -> tuple[str, int, list[int], float]:
    """Indices of the points where the service would emit a firing alert."""
    text, idx = task
    stamps, values = _SERIES[idx]
    keep = [i for i, v in enumerate(values) if math.isfinite(v)]  # a gap, not a value
    points = ((stamps[i] if stamps[i].tzinfo else stamps[i].replace(tzinfo=UTC), values[i])
              for i in keep)
    start = time.process_time()
    hits = [keep[j] for j, row in enumerate(replay(_config(text), SOURCE, METRIC, points))
            if row.alert]
    return text, idx, hits, time.process_time() - start


class Replayer:
    """Runs (config, series) replays on a pool and remembers them (a config is run once)."""

    def __init__(self, series: list[Points], pool: Any | None) -> None:
        self.series = series
        self.pool = pool
        self.done: dict[tuple[str, int], list[int]] = {}
        self.cpu_s: dict[str, float] = {}

    def run(self, texts: Sequence[str], indices: Sequence[int]) -> None:
        tasks = [(t, i) for t in texts for i in indices if (t, i) not in self.done]
        tasks.sort(key=lambda task: -len(self.series[task[1]][1]))  # longest first
        if self.pool is None:
            results: Iterator[tuple[str, int, list[int], float]] = map(_alerts, tasks)
        else:
            results = self.pool.imap_unordered(_alerts, tasks, chunksize=1)
        for text, idx, hits, cpu in results:
            self.done[(text, idx)] = hits
            self.cpu_s[text] = self.cpu_s.get(text, 0.0) + cpu

    def flags(self, text: str, idx: int) -> list[bool]:
        out = [False] * len(self.series[idx][1])
        for i in self.done[(text, idx)]:
            out[i] = True
        return out


@contextmanager
def replayer(series: list[Points], workers: int) -> Iterator[Replayer]:
    if workers <= 1:
        _init(series)
        yield Replayer(series, None)
        return
    with Pool(workers, initializer=_init, initargs=(series,)) as pool:
        yield Replayer(series, pool)


# --------------------------------------------------------------------------- corpora


@dataclass(frozen=True, slots=True)
class Corpus:
    """One corpus's series (indices into the replay list), windows and clean copies."""

    name: str
    series: list[SeriesLike]
    indices: list[int]
    windows: list[list[scoring.Window]]
    clean_indices: list[int] | None = None


def synthetic_windows(s: synthetic.LabelledSeries) -> list[scoring.Window]:
    return [scoring.Window(i.start, i.end, i.type, i.size) for i in s.incidents]


def load_public(quick: bool) -> tuple[list[SeriesLike], str]:
    """The public corpus (``corpus.load_corpus``), or nothing with the reason."""
    try:
        module = importlib.import_module("benchmarks.quality.corpus")
    except ModuleNotFoundError as exc:
        if exc.name != "benchmarks.quality.corpus":
            raise
        return [], "benchmarks/quality/corpus.py is not present"
    series: list[SeriesLike] = list(module.load_corpus())
    if not series:
        return [], "no public corpus data present"
    if quick:
        limit, points = QUICK_CORPUS
        # series with a labelled incident first, so a quick run still scores detections
        ranked = sorted(series, key=lambda s: (not any(s.labels), s.name))
        series = [_Cut(s, points) for s in ranked[:limit]]
    return series, f"{len(series)} series" + (" (quick subset)" if quick else "")


@dataclass(frozen=True, slots=True)
class _Cut:
    """The first ``points`` points of a series (a quick run's subset)."""

    whole: SeriesLike
    points: int

    @property
    def name(self) -> str:
        return self.whole.name

    @property
    def kind(self) -> str:
        return self.whole.kind

    @property
    def timestamps(self) -> Sequence[datetime]:
        return self.whole.timestamps[: self.points]

    @property
    def values(self) -> Sequence[float]:
        return self.whole.values[: self.points]

    @property
    def labels(self) -> Sequence[int]:
        return self.whole.labels[: self.points]


def describe_public(series: Sequence[SeriesLike]) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for s in series:
        kinds[s.kind] = kinds.get(s.kind, 0) + 1
    return {"series": len(series), "points": sum(len(s.values) for s in series),
            "labelled_points": sum(sum(s.labels) for s in series),
            "windows": sum(len(scoring.windows_from_labels(s.labels)) for s in series),
            "by_kind": kinds}


def results_for(rep: Replayer, text: str, corpus: Corpus, *,
                with_clean: bool = True) -> dict[str, Any]:
    scored = [scoring.score_series(s.name, s.kind, rep.flags(text, i), w)
              for s, i, w in zip(corpus.series, corpus.indices, corpus.windows, strict=True)]
    clean = None
    if with_clean and corpus.clean_indices is not None:
        clean = [scoring.score_series(s.name, s.kind, rep.flags(text, i), [])
                 for s, i in zip(corpus.series, corpus.clean_indices, strict=True)]
    return scoring.summarise(scored, clean)


# --------------------------------------------------------------------------- tuning


def grid_options(grid: dict[str, tuple[float, ...]]) -> list[dict[str, Any]]:
    return [{"baseline": "rolling", "window": int(w), "min_samples": 20, "z_warn": zw,
             "z_fail": zw + GRID_FAIL_GAP, "cooldown": int(c)}
            for w, zw, c in product(grid["window"], grid["z_warn"], grid["cooldown"])]


def tune(rep: Replayer, corpus: Corpus,
         grid: dict[str, tuple[float, ...]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The grid point with the best window score on ``corpus`` (fewer false alerts on a tie)."""
    options = grid_options(grid)
    texts = [config_text(o) for o in options]
    rep.run(texts, corpus.indices)
    table = []
    for o, text in zip(options, texts, strict=True):
        r = results_for(rep, text, corpus, with_clean=False)
        table.append({**o, "window_score": r["window_score"],
                      "false_alerts_per_10k": r["false_alerts_per_10k"],
                      "caught_share": r["caught_share"], "delay_median": r["delay_median"]})
    best = max(range(len(table)), key=lambda i: (table[i]["window_score"] or -math.inf,
                                                 -(table[i]["false_alerts_per_10k"] or 0.0)))
    return options[best], table


# --------------------------------------------------------------------------- reporting


def _fmt(x: float | None, spec: str = ".1f") -> str:
    return "–" if x is None else format(x, spec)


def _caught(r: dict[str, Any]) -> str:
    if not r["windows"]:
        return "–"
    return f"{100 * r['caught_share']:.0f}% ({r['caught']}/{r['windows']})"


def main_table(results: dict[str, dict[str, Any]], corpora: Sequence[str]) -> str:
    head = ["detector"]
    for c in corpora:
        fa = "false alerts/10k (clean series)" if c == SYNTHETIC else "false alerts/10k"
        head += [f"{c}: window score", f"{c}: {fa}", f"{c}: incidents caught",
                 f"{c}: median delay"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, per in results.items():
        cells = [name]
        for c in corpora:
            r = per[c]
            fa = r["clean"]["false_alerts_per_10k"] if "clean" in r else r["false_alerts_per_10k"]
            cells += [_fmt(r["window_score"]), _fmt(fa, ".2f"), _caught(r),
                      _fmt(r["delay_median"], "g")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _check(c: dict[str, Any]) -> str:
    return "–" if not c["incidents"] else f"{c['passed']}/{c['incidents']}"


def kind_table(summary: dict[str, Any], beside: dict[str, Any] | None = None,
               beside_name: str = TUNED) -> str:
    """Per series kind: the detector's figures, and ``beside``'s (another detector on the same
    corpus) in the same row."""
    head = ["kind", "points", "false alerts/10k (clean)", "false alerts/10k (incident series)",
            "incidents caught", "median delay", "spikes on own point", "shifts within 5",
            "shifts alerted, then quiet", "window score"]
    if beside is not None:
        head += [f"{beside_name}: false alerts/10k (clean)", f"{beside_name}: incidents caught",
                 f"{beside_name}: median delay"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kind, r in summary["by_kind"].items():
        clean = r.get("clean", {}).get("false_alerts_per_10k")
        cells = [kind, str(r["points"]), _fmt(clean, ".2f"),
                 _fmt(r["false_alerts_per_10k"], ".2f"), _caught(r), _fmt(r["delay_median"], "g"),
                 _check(r["checks"]["spikes"]), _check(r["checks"]["level_shifts"]),
                 _check(r["checks"]["shifts_once"]), _fmt(r["window_score"])]
        if beside is not None:
            o = beside["by_kind"][kind]
            cells += [_fmt(o.get("clean", {}).get("false_alerts_per_10k"), ".2f"), _caught(o),
                      _fmt(o["delay_median"], "g")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def type_table(results: dict[str, dict[str, Any]], corpus: str) -> str:
    types = list(dict.fromkeys(t for per in results.values() for t in per[corpus]["by_type"]))
    head = ["detector", *[f"{t} caught (median delay)" for t in types]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, per in results.items():
        cells = [name]
        for t in types:
            r = per[corpus]["by_type"].get(t)
            cells.append("–" if r is None else
                         f"{r['caught']}/{r['windows']} ({_fmt(r['delay_median'], 'g')})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _rounded(x: Any) -> Any:
    if isinstance(x, float):
        return x if not math.isfinite(x) else round(x, 4)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_rounded(v) for v in x]
    return x


# --------------------------------------------------------------------------- plots


def _pyplot() -> Any | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_summary(plt: Any, results: dict[str, dict[str, Any]], corpora: Sequence[str],
                 path: Path) -> None:
    """Bars per detector: false alerts per 10k normal points and incidents caught."""
    names = list(results)
    fig, axes = plt.subplots(len(corpora), 2, figsize=(13, 4.2 * len(corpora)), dpi=100,
                             squeeze=False)
    xs = list(range(len(names)))
    for row, corpus in enumerate(corpora):
        ax_fa, ax_c = axes[row]
        per = [results[n][corpus] for n in names]
        if corpus == SYNTHETIC:
            clean = [r["clean"]["false_alerts_per_10k"] or 0.0 for r in per]
            around = [r["false_alerts_per_10k"] or 0.0 for r in per]
            bars = ax_fa.bar([x - 0.2 for x in xs], clean, 0.4, color="#1f3b73",
                             label="clean copies")
            ax_fa.bar_label(bars, fmt="%.1f", fontsize=7)
            bars = ax_fa.bar([x + 0.2 for x in xs], around, 0.4, color="#8fa8d8",
                             label="series with incidents (outside windows)")
            ax_fa.bar_label(bars, fmt="%.1f", fontsize=7)
            ax_fa.legend(fontsize=8)
        else:
            bars = ax_fa.bar(xs, [r["false_alerts_per_10k"] or 0.0 for r in per],
                             color="#1f3b73")
            ax_fa.bar_label(bars, fmt="%.1f", fontsize=7)
        ax_fa.set_title(f"{corpus}: false alerts per 10,000 normal points (lower is better)",
                        fontsize=10)
        bars = ax_c.bar(xs, [100.0 * (r["caught_share"] or 0.0) for r in per], color="#2e7d32")
        ax_c.bar_label(bars, fmt="%.0f%%", fontsize=7)
        ax_c.set_ylim(0, 110)
        ax_c.set_title(f"{corpus}: incidents caught, % (higher is better)", fontsize=10)
        for ax in (ax_fa, ax_c):
            ax.set_xticks(xs)
            ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _example_rows(s: synthetic.LabelledSeries, text: str) -> list[ReplayRow]:
    return list(replay(_config(text), SOURCE, METRIC, zip(s.timestamps, s.values, strict=True)))


def pick_examples(series: Sequence[synthetic.LabelledSeries]
                  ) -> list[tuple[synthetic.LabelledSeries, synthetic.Incident]]:
    out = []
    for kind, typ in EXAMPLES:
        for s in series:
            inc = next((i for i in s.incidents if i.type == typ), None)
            if s.kind == kind and inc is not None:
                out.append((s, inc))
                break
    return out


def plot_examples(plt: Any, examples: Sequence[tuple[synthetic.LabelledSeries,
                                                     synthetic.Incident]],
                  detectors: Sequence[tuple[str, str]], path: Path) -> None:
    """A few synthetic series around an incident: value, expected, WARN band, alerts."""
    nan = float("nan")
    fig, axes = plt.subplots(max(len(examples), 1), len(detectors),
                             figsize=(7 * len(detectors), 3.0 * max(len(examples), 1)),
                             dpi=100, squeeze=False)
    for row, (s, inc) in enumerate(examples):
        lo = max(0, inc.start - EXAMPLE_SPAN[0])
        hi = min(len(s.values), inc.start + EXAMPLE_SPAN[1])
        for col, (name, text) in enumerate(detectors):
            ax = axes[row][col]
            rows = _example_rows(s, text)[lo:hi]
            xs = list(range(lo, hi))
            low = [nan if r.warn_band is None else r.warn_band[0] for r in rows]
            high = [nan if r.warn_band is None else r.warn_band[1] for r in rows]
            ax.fill_between(xs, low, high, color="#fde7b0", linewidth=0,
                            label="inside WARN band")
            ax.plot(xs, [r.value for r in rows], color="#1f3b73", linewidth=0.7,
                    label="value")
            ax.plot(xs, [nan if r.expected is None else r.expected for r in rows],
                    color="#2e7d32", linewidth=0.9, linestyle="--", label="expected")
            for other in s.incidents:
                if other.end > lo and other.start < hi:
                    ax.axvspan(other.start - 0.5, other.end - 0.5, color="#c62828", alpha=0.15,
                               linewidth=0)
            hits = [(x, r.value) for x, r in zip(xs, rows, strict=True) if r.alert]
            if hits:
                ax.scatter([h[0] for h in hits], [h[1] for h in hits], marker="v", s=36,
                           color="#c62828", zorder=5, label=f"alert ({len(hits)})")
            ax.set_title(f"{name}: {s.name}, {inc.type} at {inc.start} "
                         f"(size {inc.size:g}); shaded = labelled window", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6, loc="best", ncol=4)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.quality.run",
        description="FR-017 alert-quality benchmark: detectors × corpora, JSON + PNG + tables")
    p.add_argument("--quick", action="store_true", help="a small subset (a smoke test)")
    p.add_argument("--out", default="benchmarks/results", help="directory for the results")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="replay processes (default: 2, or 1 on a 1-core machine)")
    return p.parse_args(argv)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace, log: Callable[[str], None] = _log) -> dict[str, Any]:
    """The whole benchmark; returns the results document (also written to ``--out``)."""
    started = time.perf_counter()
    phases: dict[str, float] = {}
    syn = synthetic.build(quick=args.quick)
    public, public_note = load_public(args.quick)
    phases["load_s"] = time.perf_counter() - started
    series: list[SeriesLike] = [*syn.incident, *syn.clean, *public]
    points: list[Points] = [(list(s.timestamps), [float(v) for v in s.values]) for s in series]
    n = len(syn.incident)
    corpora = [Corpus(SYNTHETIC, list(syn.incident), list(range(n)),
                      [synthetic_windows(s) for s in syn.incident], list(range(n, 2 * n)))]
    # each public corpus (a folder of ``data/``) scored on its own: a testbed's sensors and
    # a data centre's KPIs are different worlds, and one score over both would hide either
    for kind in dict.fromkeys(s.kind for s in public):
        idx = [2 * n + j for j, s in enumerate(public) if s.kind == kind]
        members = [series[i] for i in idx]
        corpora.append(Corpus(kind, members, idx,
                              [scoring.windows_from_labels(s.labels) for s in members]))
    log(f"quality: {len(series)} series, {sum(len(p[1]) for p in points):,} points, "
        f"{args.workers} worker(s); public corpus: {public_note}")
    grid = QUICK_GRID if args.quick else GRID
    detectors = dict(DETECTORS)
    with replayer(points, args.workers) as rep:
        t = time.perf_counter()
        chosen, grid_table = tune(rep, corpora[0], grid)
        phases["grid_s"] = time.perf_counter() - t
        log(f"quality: grid of {len(grid_table)} rolling configs done in "
            f"{phases['grid_s']:.0f} s")
        detectors[TUNED] = chosen
        texts = {name: config_text(o) for name, o in detectors.items()}
        t = time.perf_counter()
        for c in corpora:
            rep.run(list(texts.values()), c.indices + (c.clean_indices or []))
        phases["detectors_s"] = time.perf_counter() - t
        results = {name: {c.name: results_for(rep, text, c) for c in corpora}
                   for name, text in texts.items()}
        cpu = dict(rep.cpu_s)
    names = [c.name for c in corpora]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    t = time.perf_counter()
    plots: list[str] = []
    if plt is None:
        log("quality: matplotlib is not installed (pip install -e '.[bench]'): no PNGs")
    else:
        plot_summary(plt, results, names, out / "quality.png")
        plot_examples(plt, pick_examples(syn.incident),
                      [(DEFAULT, texts[DEFAULT]), (PREVIOUS, texts[PREVIOUS])],
                      out / "quality_examples.png")
        plots = ["quality.png", "quality_examples.png"]
    phases["plots_s"] = time.perf_counter() - t
    run_time = time.perf_counter() - started
    data: dict[str, Any] = {SYNTHETIC: {**synthetic.describe(syn.incident), "seed": synthetic.SEED,
                                        "clean_copies": len(syn.clean),
                                        "clean_points": sum(len(s.values) for s in syn.clean)},
                            PUBLIC: {**describe_public(public), "note": public_note}}
    doc = {
        "benchmark": "FR-017 alert quality",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "run_time_s": run_time,
        "phases": phases,
        "machine": {"cpus": os.cpu_count(), "workers": args.workers,
                    "python": platform.python_version()},
        "system_under_test": "dq_monitor.backtest.replay (the service's monitor core); an "
                             "alert is a firing alert event (a new WARN/FAIL or an escalation)",
        "scoring": {"slack_points": scoring.SLACK, "weights": scoring.STANDARD.as_dict(),
                    "formula": (scoring.__doc__ or "").strip(),
                    "checks": {"spike_min_size": scoring.SPIKE_CHECK_SIZE,
                               "shift_min_size": scoring.SHIFT_CHECK_SIZE,
                               "shift_within_points": scoring.SHIFT_CHECK_POINTS}},
        "data": data,
        "detectors": {name: {"options": o, "effective": effective(o),
                             "replay_cpu_s": cpu.get(texts[name])}
                      for name, o in detectors.items()},
        "tuning": {"objective": "best window score on the synthetic series with incidents "
                                "(ties: fewer false alerts)",
                   "grid": {k: list(v) for k, v in grid.items()},
                   "z_fail": f"z_warn + {GRID_FAIL_GAP:g}",
                   "results": grid_table, "chosen": chosen},
        "results": results,
        "plots": plots,
    }
    (out / "quality.json").write_bytes(orjson.dumps(_rounded(doc), option=orjson.OPT_INDENT_2))
    return doc


def report(doc: dict[str, Any]) -> str:
    """The Markdown tables printed after a run."""
    results: dict[str, dict[str, Any]] = doc["results"]
    corpora = list(next(iter(results.values())))
    chosen = doc["tuning"]["chosen"]
    parts = [
        "### Alert quality per detector",
        "",
        main_table(results, corpora),
        "",
        f"Tuned rolling: window {chosen['window']}, z_warn {chosen['z_warn']:g}, "
        f"z_fail {chosen['z_fail']:g}, cooldown {chosen['cooldown']} "
        "(grid search on the synthetic set).",
        "",
        f"### {DEFAULT} per series kind ({SYNTHETIC}), {TUNED} beside it",
        "",
        kind_table(results[DEFAULT][SYNTHETIC], results[TUNED][SYNTHETIC]),
        "",
        f"### Incidents caught per type ({SYNTHETIC})",
        "",
        type_table(results, SYNTHETIC),
    ]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    doc = run(args)
    print(report(doc))
    print(f"\nrun time {doc['run_time_s']:.0f} s; results in {Path(args.out) / 'quality.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
