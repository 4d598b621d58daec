"""Synthetic data-quality-like metric series with known, labelled incidents (FR-017 benchmark).

Real incident labels are scarce and fuzzy; here every incident is injected, so its window, type
and size (in units of the series' own noise) are known exactly. Every series also has a clean
copy (the same noise draws, no incidents) on which any alert is a false one.

Kinds of normal behaviour: white noise, daily seasonality (5-minute points), weekly seasonality
(hourly or 5-minute points), a slow linear trend, Poisson counts at small rates, small-sd
integers, a flat integer level that rarely moves by ±1, white noise whose noise level changes
for good (``noise_shift``), a bursty heavy-tailed series (``bursty``: one-sided bursts of 6–10
noise units, 1–4 points long, about one every 300 points, are part of its normal, as in event
volumes or queue depths) and a quantised sensor reading (``sensor``: 0.1 steps at a noise of
about 1, so exact repeats of a value are ordinary). Incident types: ``spike`` and ``dip`` (one
point, 6–10 noise units; 20–30 on a bursty series, where 10 is normal), ``drop_to_zero`` (3–6
points), ``level_shift`` (a lasting move of 3–6 units; only its first ``SHIFT_WINDOW`` points
are labelled, the new level is normal after that), ``noise_shift`` (a lasting rise of the noise
×2–4, labelled like a level shift: its first ``SHIFT_WINDOW`` points), ``variance`` (noise ×3–5
for 50–200 points) and ``stuck`` (the last value repeated for 50–200 points). Incidents are
sparse (``GAP`` points apart) and never overlap.

The noise unit is the noise sd: sqrt(rate) for counts, the rounded gaussian's sd for integers,
and one step (the resolution) for the flat series, whose normal noise is nil.

Standard library only, seeded and deterministic: the same arguments give the same series.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from typing import Any, Literal

IncidentType = Literal["spike", "dip", "drop_to_zero", "level_shift", "noise_shift",
                       "variance", "stuck"]
INCIDENT_TYPES: tuple[IncidentType, ...] = (
    "spike", "dip", "drop_to_zero", "level_shift", "noise_shift", "variance", "stuck")
KINDS: tuple[str, ...] = ("white_noise", "daily_seasonal", "weekly_seasonal", "trend", "poisson",
                          "integer", "flat_steps", "noise_shift", "bursty", "sensor")

SEED = 2026
#: A Monday, so weekly patterns start at the week's start.
T0 = datetime(2026, 1, 5, tzinfo=UTC)
#: No incident in the first values: every detector gets a history to learn from.
WARMUP = 500
#: Points between the end of one incident and the start of the next.
GAP = (1500, 3000)
#: Labelled points after a level shift's start; later points are the new normal.
SHIFT_WINDOW = 20
#: Points kept free of incidents at the end of a series (room for late alerts).
TAIL = 50
SPIKE_SIZE = (6.0, 10.0)
#: Spikes on a bursty series, whose normal bursts reach 10 noise units.
BURSTY_SPIKE_SIZE = (20.0, 30.0)
#: A bursty series' normal bursts: size in noise units, points, and the chance one starts.
BURST_SIZE = (6.0, 10.0)
BURST_POINTS = (1, 4)
BURST_RATE = 1.0 / 300.0
NOISE_SHIFT_FACTOR = (2.0, 4.0)
SHIFT_SIZE = (3.0, 6.0)
VARIANCE_FACTOR = (3.0, 5.0)
LONG_INCIDENT = (50, 200)
DROP_POINTS = (3, 6)

_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class Incident:
    """One injected incident; ``[start, end)`` is its labelled window (point indices).

    ``size`` is in noise units: the deviation of a spike, dip or level shift, how far zero is
    from the level for a drop, the noise factor for a variance change, 0 for stuck values.
    """

    type: IncidentType
    start: int
    end: int
    size: float

    @property
    def window(self) -> tuple[int, int]:
        return self.start, self.end


@dataclass(frozen=True, slots=True)
class LabelledSeries:
    """A metric series with 0/1 labels per point (1 inside an incident window)."""

    name: str
    kind: str
    timestamps: list[datetime]
    values: list[float]
    labels: list[int]
    incidents: tuple[Incident, ...] = ()
    #: The noise unit at the series' start (see the module docstring).
    unit: float = 1.0
    interval_s: float = 60.0
    seed: int = 0


@dataclass(frozen=True, slots=True)
class SyntheticSet:
    """The series with incidents and their clean copies, index for index."""

    incident: list[LabelledSeries]
    clean: list[LabelledSeries]


# --------------------------------------------------------------------------- normal models

Render = Callable[[float, float, float], float]


@dataclass(slots=True)
class _Model:
    """How one kind turns (mean, standard normal draw, noise factor) into a value."""

    level: list[float]
    z: list[float]
    render: Render
    unit_at: Callable[[float], float]
    integer: bool
    types: tuple[IncidentType, ...]
    spike_size: tuple[float, float] = SPIKE_SIZE


def _gaussian(sd: float, decimals: int = 2) -> Render:
    def render(mean: float, z: float, factor: float) -> float:
        return round(mean + sd * z * factor, decimals)

    return render


def _rounded(sd: float) -> Render:
    def render(mean: float, z: float, factor: float) -> float:
        return float(round(mean + sd * z * factor))

    return render


def _poisson_quantile(rate: float, u: float) -> int:
    """The Poisson(rate) value at cumulative probability ``u`` (inverse CDF, small rates)."""
    k, p = 0, math.exp(-rate)
    c = p
    while c < u and k < 10_000:
        k += 1
        p *= rate / k
        c += p
    return k


def _poisson(mean: float, z: float, factor: float) -> float:
    # The same z gives the same quantile, so the clean copy shares the incident series' noise.
    u = min(max(_NORMAL.cdf(z), 1e-12), 1.0 - 1e-12)
    q = _poisson_quantile(mean, u)
    if factor == 1.0:
        return float(q)
    return float(max(0, round(mean + factor * (q - mean))))


def _flat(mean: float, z: float, factor: float) -> float:
    # No normal noise; a variance incident jitters by ``factor`` steps.
    return float(round(mean + (z * factor if factor > 1.0 else 0.0)))


def _hour(ts: datetime) -> float:
    return ts.hour + ts.minute / 60.0


def _model(kind: str, index: int, stamps: list[datetime], rng: random.Random) -> _Model:
    n = len(stamps)
    z = [rng.gauss(0.0, 1.0) for _ in range(n)]
    sd = rng.uniform(1.0, 20.0)
    mean = sd * rng.uniform(20.0, 60.0)
    every: tuple[IncidentType, ...] = ("spike", "dip", "drop_to_zero", "level_shift", "variance",
                                       "stuck")
    if kind == "white_noise":
        level = [mean] * n
        return _Model(level, z, _gaussian(sd), lambda _m: sd, False, every)
    if kind == "daily_seasonal":
        amp = rng.uniform(2.0, 6.0) * sd
        level = [mean + amp * math.sin(2 * math.pi * (_hour(t) - 9.0) / 24.0)
                 + 0.3 * amp * math.sin(4 * math.pi * _hour(t) / 24.0) for t in stamps]
        return _Model(level, z, _gaussian(sd), lambda _m: sd, False, every)
    if kind == "weekly_seasonal":
        amp = rng.uniform(2.0, 4.0) * sd
        weekend = rng.uniform(3.0, 6.0) * sd
        level = []
        for t in stamps:
            daily = amp * math.sin(2 * math.pi * (_hour(t) - 9.0) / 24.0)
            level.append(mean - weekend + 0.5 * daily if t.weekday() >= 5 else mean + daily)
        return _Model(level, z, _gaussian(sd), lambda _m: sd, False, every)
    if kind == "trend":
        drift = rng.choice((-1.0, 1.0)) * rng.uniform(10.0, 30.0) * sd
        mean = sd * rng.uniform(60.0, 100.0)
        level = [mean + drift * i / n for i in range(n)]
        return _Model(level, z, _gaussian(sd), lambda _m: sd, False, every)
    if kind == "poisson":
        rate = (2.0, 5.0, 12.0, 20.0)[index % 4]
        types: tuple[IncidentType, ...] = ("spike", "level_shift", "variance", "stuck")
        if rate / math.sqrt(rate) >= 3.0:
            types = (*types, "drop_to_zero")
        return _Model([rate] * n, z, _poisson, lambda m: math.sqrt(max(m, 1e-9)), True, types)
    if kind == "integer":
        isd = rng.uniform(0.7, 2.0)
        imean = float(rng.randint(15, 50))
        unit = math.sqrt(isd * isd + 1.0 / 12.0)
        return _Model([imean] * n, z, _rounded(isd), lambda _m: unit, True, every)
    if kind == "flat_steps":
        base = rng.randint(15, 60)
        cur, level = base, []
        for _ in range(n):
            if rng.random() < 1.0 / 800.0:
                step = rng.choice((-1, 1))
                if abs(cur + step - base) > 3:
                    step = -step
                cur += step
            level.append(float(cur))
        types = ("spike", "dip", "drop_to_zero", "level_shift", "variance")
        return _Model(level, z, _flat, lambda _m: 1.0, True, types)
    if kind == "noise_shift":
        types = ("noise_shift", "spike", "level_shift", "stuck")
        return _Model([mean] * n, z, _gaussian(sd), lambda _m: sd, False, types)
    if kind == "bursty":
        level = [mean] * n
        i = 0
        while i < n:
            if rng.random() < BURST_RATE:
                size = rng.uniform(*BURST_SIZE) * sd
                for j in range(i, min(n, i + rng.randint(*BURST_POINTS))):
                    level[j] += size * rng.uniform(0.7, 1.0)
                    i = j
            i += 1
        types = ("spike", "drop_to_zero", "level_shift", "stuck")
        return _Model(level, z, _gaussian(sd), lambda _m: sd, False, types,
                      spike_size=BURSTY_SPIKE_SIZE)
    if kind == "sensor":
        ssd = rng.uniform(0.6, 1.5)
        return _Model([rng.uniform(20.0, 80.0)] * n, z, _gaussian(ssd, 1), lambda _m: ssd,
                      False, ("stuck", "spike", "level_shift", "stuck", "dip", "drop_to_zero"))
    raise ValueError(f"unknown kind {kind!r}")


# --------------------------------------------------------------------------- incidents


def _length(typ: IncidentType, rng: random.Random) -> int:
    if typ in ("spike", "dip"):
        return 1
    if typ == "drop_to_zero":
        return rng.randint(*DROP_POINTS)
    if typ in ("level_shift", "noise_shift"):
        return SHIFT_WINDOW
    return rng.randint(*LONG_INCIDENT)


def _delta(size: float, unit: float, integer: bool) -> float:
    """The move of ``size`` noise units, whole for integer series (never below ``size``)."""
    return float(math.ceil(size * unit - 1e-9)) if integer else size * unit


def _series_pair(kind: str, index: int, n: int, interval_s: float,
                 seed: int) -> tuple[LabelledSeries, LabelledSeries]:
    stamps = [T0 + timedelta(seconds=interval_s * i) for i in range(n)]
    model = _model(kind, index, stamps, random.Random(seed))
    # Incidents draw from their own stream, so the clean copy's noise is the same.
    rng = random.Random(seed * 7919 + 17)
    level = list(model.level)
    factor = [1.0] * n
    add: dict[int, float] = {}
    forced: dict[int, float] = {}
    stuck: dict[int, int] = {}
    incidents: list[Incident] = []
    order = list(model.types)
    rng.shuffle(order)
    k = 0
    moved = 0.0
    pos = WARMUP + rng.randint(0, GAP[0] // 2)
    while True:
        typ = order[k % len(order)]
        k += 1
        length = _length(typ, rng)
        if pos + length + TAIL > n:
            break
        m = level[pos]
        unit = model.unit_at(m)
        end = pos + length
        unit *= factor[pos]  # after a lasting rise of the noise, in its new units
        if typ in ("spike", "dip"):
            delta = _delta(rng.uniform(*model.spike_size), unit, model.integer)
            sign = 1.0 if typ == "spike" else -1.0
            if m - delta - 3.0 * unit < 0.0 and sign < 0:
                continue  # no room below the level: another type here
            add[pos] = sign * delta
            size = delta / unit
        elif typ == "drop_to_zero":
            for j in range(pos, end):
                forced[j] = 0.0
            size = m / unit
        elif typ == "level_shift":
            delta = _delta(rng.uniform(*SHIFT_SIZE), unit, model.integer)
            sign = -1.0 if moved > 0.0 else 1.0
            if sign < 0 and m - delta - 4.0 * model.unit_at(m - delta) < 0.0:
                sign = 1.0
            for j in range(pos, n):
                level[j] += sign * delta
            moved += sign * delta
            size = delta / unit
        elif typ == "variance":
            size = rng.uniform(*VARIANCE_FACTOR)
            for j in range(pos, end):
                factor[j] *= size
        elif typ == "noise_shift":
            size = rng.uniform(*NOISE_SHIFT_FACTOR)
            for j in range(pos, n):
                factor[j] *= size
        else:
            for j in range(pos, end):
                stuck[j] = pos - 1
            size = 0.0
        incidents.append(Incident(typ, pos, end, round(size, 3)))
        pos = end + rng.randint(*GAP)

    values: list[float] = []
    for j in range(n):
        if j in stuck:
            v = values[stuck[j]]
        elif j in forced:
            v = forced[j]
        else:
            v = model.render(level[j], model.z[j], factor[j])
            if j in add:
                v = v + add[j]
                v = float(round(v)) if model.integer else round(v, 6)
        values.append(v)
    labels = [0] * n
    for inc in incidents:
        for j in range(inc.start, inc.end):
            labels[j] = 1
    clean = [model.render(model.level[j], model.z[j], 1.0) for j in range(n)]
    name = f"{kind}-{index}"
    unit0 = model.unit_at(model.level[0])
    with_incidents = LabelledSeries(name, kind, stamps, values, labels, tuple(incidents),
                                    unit0, interval_s, seed)
    clean_copy = LabelledSeries(name, kind, stamps, clean, [0] * n, (), unit0, interval_s, seed)
    return with_incidents, clean_copy


# --------------------------------------------------------------------------- the set

#: kind → per series (points, seconds between points); weekly: two hourly, two 5-minute.
FULL_LAYOUT: dict[str, tuple[tuple[int, float], ...]] = {
    "noise_shift": ((6000, 60.0),) * 4,
    "bursty": ((6000, 60.0),) * 4,
    "sensor": ((6000, 60.0),) * 4,
    "white_noise": ((6000, 60.0),) * 4,
    "daily_seasonal": ((8640, 300.0),) * 4,
    "weekly_seasonal": ((4032, 3600.0), (4032, 3600.0), (8064, 300.0), (8064, 300.0)),
    "trend": ((6000, 60.0),) * 4,
    "poisson": ((6000, 60.0),) * 4,
    "integer": ((6000, 60.0),) * 4,
    "flat_steps": ((6000, 60.0),) * 4,
}
#: A small subset for a quick run: one series per kind.
QUICK_LAYOUT: dict[str, tuple[tuple[int, float], ...]] = {
    "noise_shift": ((2600, 60.0),),
    "bursty": ((2600, 60.0),),
    "sensor": ((2600, 60.0),),
    "white_noise": ((2600, 60.0),),
    "daily_seasonal": ((2600, 300.0),),
    "weekly_seasonal": ((2600, 3600.0),),
    "trend": ((2600, 60.0),),
    "poisson": ((2600, 60.0),),
    "integer": ((2600, 60.0),),
    "flat_steps": ((2600, 60.0),),
}


def build(*, quick: bool = False, seed: int = SEED) -> SyntheticSet:
    """Every series with incidents, and its clean copy."""
    layout = QUICK_LAYOUT if quick else FULL_LAYOUT
    incident: list[LabelledSeries] = []
    clean: list[LabelledSeries] = []
    for ki, kind in enumerate(KINDS):
        for index, (n, interval_s) in enumerate(layout[kind]):
            s = seed * 1000 + ki * 100 + index
            with_incidents, clean_copy = _series_pair(kind, index, n, interval_s, s)
            incident.append(with_incidents)
            clean.append(clean_copy)
    return SyntheticSet(incident, clean)


def generate(*, quick: bool = False, seed: int = SEED) -> list[LabelledSeries]:
    """The series with incidents."""
    return build(quick=quick, seed=seed).incident


def generate_clean(*, quick: bool = False, seed: int = SEED) -> list[LabelledSeries]:
    """The clean copies: the same series without incidents."""
    return build(quick=quick, seed=seed).clean


def describe(series: list[LabelledSeries]) -> dict[str, Any]:
    """Counts for the results file, so a reader knows what the figures were measured on."""
    by_kind: dict[str, dict[str, Any]] = {}
    types: Counter[str] = Counter()
    sizes: dict[str, list[float]] = {}
    for s in series:
        d = by_kind.setdefault(s.kind, {"series": 0, "points": 0, "incidents": 0,
                                        "interval_s": []})
        d["series"] += 1
        d["points"] += len(s.values)
        d["incidents"] += len(s.incidents)
        if s.interval_s not in d["interval_s"]:
            d["interval_s"].append(s.interval_s)
        for inc in s.incidents:
            types[inc.type] += 1
            sizes.setdefault(inc.type, []).append(inc.size)
    return {
        "series": len(series),
        "points": sum(len(s.values) for s in series),
        "labelled_points": sum(sum(s.labels) for s in series),
        "incidents": sum(types.values()),
        "by_kind": by_kind,
        "by_type": {t: {"incidents": types[t], "size_min": min(sizes[t]),
                        "size_max": max(sizes[t])} for t in INCIDENT_TYPES if t in types},
    }
