"""Alert-quality scoring (FR-017): false alerts, incidents caught, delay and a window score.

Inputs are a series' alert flags (one per point: the service would emit a firing alert event
there) and its labelled incident windows ``[start, end)``.

* An alert belongs to a window when it falls in ``[start, end + SLACK)``: a window's own points
  first, then the ``SLACK`` points after it (an alert just after a short incident still counts
  for it). Any other alert is a **false alert**. **Normal points** are those in no window and
  no slack, so false alerts per 10,000 normal points = 10,000 × false alerts / normal points.
* A window is **caught** when at least one alert belongs to it; its **delay** is the points
  from ``start`` to its first alert (0 = alerted on the incident's first point).
* **Window score**, computed per corpus (all its series together). Each window spans
  ``span = (end - start) + SLACK`` points, and its first alert at relative position
  ``p = (first - start) / span`` (0 ≤ p < 1) earns ``tp · 2 / (1 + exp(steepness · p))``:
  ``tp`` at the window's start, falling along a sigmoid to about 0 (1.3 % of ``tp`` with the
  default steepness 5) at the span's end. Later alerts in the same window neither earn nor
  cost. A missed window adds ``fn`` (−1) and each false alert ``fp`` (−0.11)::

      raw     = Σ_caught tp·2/(1 + e^(steepness·p)) + fn · missed + fp · false alerts
      null    = fn · windows          (a detector that never alerts)
      perfect = tp · windows          (one alert on the first point of every window)
      score   = 100 · (raw − null) / (perfect − null)

  So a perfect detector scores 100, a silent one 0, and false alerts push a score down without
  bound (below 0 when they cost more than the detections earn). Without windows the score is
  undefined (``None``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: Points after a window's end whose alerts still count for it.
SLACK = 5
#: Spikes at least this many noise units must alert on their own point.
SPIKE_CHECK_SIZE = 6.0
#: Level shifts at least this many noise units must alert within ``SHIFT_CHECK_POINTS``.
SHIFT_CHECK_SIZE = 3.0
SHIFT_CHECK_POINTS = 5


@dataclass(frozen=True, slots=True)
class Weights:
    """A "standard profile"-like weighting: a miss costs as much as a prompt catch earns."""

    tp: float = 1.0
    fn: float = -1.0
    fp: float = -0.11
    steepness: float = 5.0

    def as_dict(self) -> dict[str, float]:
        return {"tp": self.tp, "fn": self.fn, "fp": self.fp, "steepness": self.steepness}


STANDARD = Weights()


@dataclass(frozen=True, slots=True)
class Window:
    """A labelled incident window ``[start, end)``; ``size`` is in noise units when known."""

    start: int
    end: int
    type: str = "labelled"
    size: float | None = None


@dataclass(frozen=True, slots=True)
class WindowResult:
    window: Window
    #: Index of the first alert belonging to the window, None if missed.
    first_alert: int | None

    @property
    def caught(self) -> bool:
        return self.first_alert is not None

    @property
    def delay(self) -> int | None:
        return None if self.first_alert is None else self.first_alert - self.window.start


@dataclass(frozen=True, slots=True)
class SeriesResult:
    """What one detector did on one series."""

    name: str
    kind: str
    points: int
    normal_points: int
    alerts: int
    false_alerts: int
    windows: tuple[WindowResult, ...]
    #: Indices of the points that alerted.
    alert_points: tuple[int, ...] = ()


def windows_from_labels(labels: Sequence[int], kind: str = "labelled") -> list[Window]:
    """Each run of consecutive 1s is one window (for corpora labelled point by point)."""
    out: list[Window] = []
    start: int | None = None
    for i, flag in enumerate(labels):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            out.append(Window(start, i, kind))
            start = None
    if start is not None:
        out.append(Window(start, len(labels), kind))
    return out


def score_series(name: str, kind: str, alerts: Sequence[bool], windows: Sequence[Window],
                 *, slack: int = SLACK) -> SeriesResult:
    """Attribute every alert to a window or count it as false (see the module docstring)."""
    n = len(alerts)
    ordered = sorted(windows, key=lambda w: w.start)
    owner = [-1] * n
    # Slack first, then the windows themselves, so a window's own points win over the slack
    # of an earlier window that ends right before it.
    for wi, w in enumerate(ordered):
        for i in range(max(w.end, 0), min(w.end + slack, n)):
            owner[i] = wi
    for wi, w in enumerate(ordered):
        for i in range(max(w.start, 0), min(w.end, n)):
            owner[i] = wi
    first: list[int | None] = [None] * len(ordered)
    false_alerts = total = 0
    for i, fired in enumerate(alerts):
        if not fired:
            continue
        total += 1
        wi = owner[i]
        if wi < 0:
            false_alerts += 1
        elif first[wi] is None:
            first[wi] = i
    normal = sum(1 for o in owner if o < 0)
    results = tuple(WindowResult(w, f) for w, f in zip(ordered, first, strict=True))
    points = tuple(i for i, fired in enumerate(alerts) if fired)
    return SeriesResult(name, kind, n, normal, total, false_alerts, results, points)


def reward(result: WindowResult, weights: Weights = STANDARD, *, slack: int = SLACK) -> float:
    """A window's contribution to the raw score: the sigmoid reward, or ``fn`` if missed."""
    if result.first_alert is None:
        return weights.fn
    w = result.window
    span = (w.end - w.start) + slack
    p = (result.first_alert - w.start) / span
    return weights.tp * 2.0 / (1.0 + math.exp(weights.steepness * p))


@dataclass(frozen=True, slots=True)
class Score:
    raw: float
    null: float
    perfect: float
    windows: int

    @property
    def normalised(self) -> float | None:
        if self.perfect == self.null:
            return None
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def window_score(results: Iterable[SeriesResult], weights: Weights = STANDARD,
                 *, slack: int = SLACK) -> Score:
    """The corpus's window score (module docstring); ``.normalised`` is the 0–100 figure."""
    raw = 0.0
    windows = 0
    for r in results:
        raw += weights.fp * r.false_alerts
        for wr in r.windows:
            raw += reward(wr, weights, slack=slack)
            windows += 1
    return Score(raw, weights.fn * windows, weights.tp * windows, windows)


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated quantile (as numpy's default), None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def per_10k(count: int, points: int) -> float | None:
    return None if points == 0 else 10_000.0 * count / points


def _window_figures(items: Sequence[WindowResult]) -> dict[str, Any]:
    delays = [float(w.delay) for w in items if w.delay is not None]
    caught = len(delays)
    return {
        "windows": len(items),
        "caught": caught,
        "caught_share": caught / len(items) if items else None,
        "delay_median": quantile(delays, 0.5),
        "delay_p90": quantile(delays, 0.9),
    }


def spike_check(results: Iterable[SeriesResult],
                min_size: float = SPIKE_CHECK_SIZE) -> dict[str, Any]:
    """Done-when: every spike of at least ``min_size`` units alerted on its own point."""
    items = [(r.name, w) for r in results for w in r.windows
             if w.window.type == "spike" and (w.window.size or 0.0) >= min_size]
    failed = [{"series": name, "start": w.window.start, "size": w.window.size,
               "delay": w.delay} for name, w in items if w.delay != 0]
    return {"rule": f"spike >= {min_size:g} units alerted on its own point",
            "incidents": len(items), "passed": len(items) - len(failed), "ok": not failed,
            "failed": failed}


def shift_check(results: Iterable[SeriesResult], min_size: float = SHIFT_CHECK_SIZE,
                within: int = SHIFT_CHECK_POINTS) -> dict[str, Any]:
    """Done-when: every level shift of at least ``min_size`` units alerted within ``within``
    points of its start (delay 0..within)."""
    items = [(r.name, w) for r in results for w in r.windows
             if w.window.type == "level_shift" and (w.window.size or 0.0) >= min_size]
    failed = [{"series": name, "start": w.window.start, "size": w.window.size,
               "delay": w.delay} for name, w in items if w.delay is None or w.delay > within]
    return {"rule": f"level shift >= {min_size:g} units alerted within {within} points",
            "incidents": len(items), "passed": len(items) - len(failed), "ok": not failed,
            "failed": failed}


def once_check(results: Iterable[SeriesResult],
               types: tuple[str, ...] = ("level_shift", "noise_shift")) -> dict[str, Any]:
    """Done-when: a lasting change (a level or noise shift) is alerted, then quiet: at least one
    alert in its window (and slack), none after it until the next incident (or the series'
    end). (An episode's escalation WARN → FAIL is an alert event of its own.)"""
    items: list[dict[str, Any]] = []
    for r in results:
        starts = sorted(w.window.start for w in r.windows)
        for w in r.windows:
            if w.window.type not in types:
                continue
            nxt = next((s for s in starts if s > w.window.start), r.points)
            quiet_from = w.window.end + SLACK
            alerted = sum(1 for i in r.alert_points if w.window.start <= i < quiet_from)
            after = sum(1 for i in r.alert_points if quiet_from <= i < nxt)
            items.append({"series": r.name, "type": w.window.type, "start": w.window.start,
                          "alerts": alerted, "alerts_after": after})
    failed = [i for i in items if i["alerts"] == 0 or i["alerts_after"]]
    return {"rule": "level and noise shifts alerted, then quiet until the next incident",
            "incidents": len(items), "passed": len(items) - len(failed), "ok": not failed,
            "failed": failed}


def _group(results: Sequence[SeriesResult], clean: Sequence[SeriesResult] | None,
           weights: Weights) -> dict[str, Any]:
    windows = [w for r in results for w in r.windows]
    normal = sum(r.normal_points for r in results)
    false_alerts = sum(r.false_alerts for r in results)
    score = window_score(results, weights)
    out: dict[str, Any] = {
        "series": len(results),
        "points": sum(r.points for r in results),
        "normal_points": normal,
        "alerts": sum(r.alerts for r in results),
        "false_alerts": false_alerts,
        "false_alerts_per_10k": per_10k(false_alerts, normal),
        **_window_figures(windows),
        "window_score": score.normalised,
        "raw_score": score.raw,
        "null_score": score.null,
        "perfect_score": score.perfect,
    }
    if clean is not None:
        clean_points = sum(r.points for r in clean)
        clean_alerts = sum(r.false_alerts for r in clean)
        out["clean"] = {"series": len(clean), "points": clean_points,
                        "false_alerts": clean_alerts,
                        "false_alerts_per_10k": per_10k(clean_alerts, clean_points)}
    return out


def summarise(results: Sequence[SeriesResult], clean: Sequence[SeriesResult] | None = None,
              weights: Weights = STANDARD) -> dict[str, Any]:
    """Every figure for one detector on one corpus: overall, per incident type, per series
    kind, the done-when checks; ``clean`` (the clean copies) adds the false alerts on them."""
    out = _group(results, clean, weights)
    by_type: dict[str, list[WindowResult]] = {}
    for r in results:
        for w in r.windows:
            by_type.setdefault(w.window.type, []).append(w)
    out["by_type"] = {t: _window_figures(items) for t, items in sorted(by_type.items())}
    kinds = list(dict.fromkeys(r.kind for r in results))
    out["by_kind"] = {}
    for kind in kinds:
        mine = [r for r in results if r.kind == kind]
        theirs = None if clean is None else [r for r in clean if r.kind == kind]
        group = _group(mine, theirs, weights)
        group["checks"] = {"spikes": spike_check(mine), "level_shifts": shift_check(mine),
                           "shifts_once": once_check(mine)}
        out["by_kind"][kind] = group
    out["checks"] = {"spikes": spike_check(results), "level_shifts": shift_check(results),
                     "shifts_once": once_check(results)}
    return out
