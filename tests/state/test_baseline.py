"""FR-017 baseline state, pure: incremental figures, checkpoints and memory (NFR-005)."""

from __future__ import annotations

import gc
import math
import random
import tracemalloc
from datetime import UTC, datetime, timedelta
from statistics import NormalDist

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dq_monitor.checks import anomaly as an
from dq_monitor.checks.anomaly import SeriesState, SeriesStateError, evaluate
from dq_monitor.checks.anomaly.stats import (
    ENERGY_ACCEPT,
    ENERGY_RING,
    FAST_LEAN,
    FAST_SHARE,
    WILD_Z2,
)
from dq_monitor.config import AnomalyConfig
from dq_monitor.state.baseline import CLIP, _fits, bucket, resolution

T0 = datetime(2026, 1, 5, tzinfo=UTC)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def cfg(**kw: object) -> AnomalyConfig:
    return AnomalyConfig.model_validate({"metrics": ["m"], "min_samples": 5, **kw})


def reference(values: list[float], c: AnomalyConfig) -> tuple[float, float, list[float]]:
    """Level, variance and the deviation statistics recomputed from the whole history with the
    documented recurrences, one value at a time (median seed, the larger of MAD and RMS for the
    scale, residuals clipped at CLIP scale units, FAIL values left out; every share an
    exponentially weighted one updated at every value; thresholds times the calibration; a
    lasting or fast noise rise accepted, stuck runs FAIL). The mean z² takes the values between
    two events as a Gaussian's, then, at the event, corrects the last three of them to their own
    z² when it stood at ENERGY_RING or more after the previous event."""
    ms = c.min_samples
    seed = sorted(values[:ms])
    n = len(seed)
    med = seed[n // 2] if n % 2 else (seed[n // 2 - 1] + seed[n // 2]) / 2
    mad = sorted(abs(v - med) for v in seed)
    m = (mad[n // 2] if n % 2 else (mad[n // 2 - 1] + mad[n // 2]) / 2) * 1.4826
    rms = math.sqrt(sum((v - med) ** 2 for v in seed) / n)
    var = max(m, rms) ** 2
    level, trend, a = med, 0.0, 2.0 / (c.window + 1)
    warm = values[:ms]
    up = down = an.P_SIDE
    tail, energy = an.TAIL_PRIOR, 1.0
    energy_ev = energy  # the mean z² after the last event
    between: list[float] = []  # the z's since then
    big = peak = 0.0
    ring = [0.0] * an.RUN
    pairs = [i for i in range(ms - 1) if warm[i] == warm[i + 1]]
    same = len(pairs) / (ms - 1)
    cont = sum(1 for i in pairs if i > 0 and warm[i - 1] == warm[i]) / len(pairs) if pairs else 0.0
    reps, stuck_at, last, pending = 0, an.NEVER, warm[-1], 0
    burst, quiet = False, 0
    q = min(resolution(v) for v in warm)
    for v in values[ms:]:
        pred, scale = level + trend, math.sqrt(var)
        if q > 0:
            scale = max(scale, q)
        e = v - pred
        if e == 0:
            z = 0.0
        elif scale > 0 and math.isfinite(e / scale):
            z = e / scale
        else:
            z = math.copysign(math.inf, e)
        was = ring[-1]  # the previous value's clipped z
        ring = [*ring[1:], max(-an.RUN_CLIP, min(an.RUN_CLIP, z))]
        big *= math.exp(-1.0 / an.BIG_SPAN)
        tail_f = math.exp(max(tail - an.TAIL_STEP * an.TAIL_REF, an.TAIL_FLOOR)) / an.GAUSS_REF
        f = 1.0 if tail_f <= an.CALIBRATION_MIN else tail_f
        fast = an.PEAK_MARGIN * math.exp(peak) / an.BIG_REF
        # (the fast tail judges a value at |z| >= z_warn outside a firing episode: with
        # z_warn >= 9 here, only such values can be flagged at all)
        if not burst and big >= an.BIG_MIN and fast > f and fast >= an.CALIBRATION_MIN:
            f = fast
        f = min(f, an.CALIBRATION_MAX)
        flagged, fail = abs(z) >= c.z_warn * f, abs(z) >= c.z_fail * f
        repeat = v == last
        last = v
        calm = not burst
        up, down = up * (1 - an.NOISE_RATE), down * (1 - an.NOISE_RATE)
        tail = max(tail - an.TAIL_STEP * an.TAIL_REF, an.TAIL_FLOOR)
        pending += 1  # values whose decay of ``same`` waits for the next event
        event = repeat or abs(z) >= an.EVENT_Z
        if event:
            if energy_ev >= ENERGY_RING:
                # the values just before this one, taken as a Gaussian's, count by their own z²
                for m, zb in enumerate(reversed(between[-(an.RUN - 1):])):
                    energy += an.ENERGY_RATE * (zb * zb - an.QUIET_Z2) * (1 - an.ENERGY_RATE) ** m
            z2 = z * z if z * z < WILD_Z2 else an.QUIET_Z2
            energy += an.ENERGY_RATE * (min(z2, an.ENERGY_CLIP) - energy)
            energy_ev, between = energy, []
            if calm:  # values up to an event in a firing episode do not count
                same *= (1 - an.SAME_RATE) ** pending
            pending = 0
        else:
            energy += an.ENERGY_RATE * (an.QUIET_Z2 - energy)
            between.append(z)
        if repeat:
            going = reps > 0
            reps = reps + 1 if going else 1
            if not going:
                stuck_at = an.stuck_after(same, cont)
            if calm and reps + 1 < stuck_at:
                same += an.SAME_RATE
                cont += an.CONT_RATE * ((1.0 if going else 0.0) - cont)
        else:
            reps = 0
        if abs(z) >= an.EVENT_Z:
            up, down = (up + an.NOISE_RATE, down) if z > 0 else (up, down + an.NOISE_RATE)
            if calm and abs(z) > math.exp(tail):
                tail += an.TAIL_STEP
            # (z_warn >= 9 here: only a value's own |z| reaches it, never the run statistic)
            if (calm and c.z_warn <= abs(z) < c.z_fail * an.CALIBRATION_MAX
                    and abs(was) < min(c.z_warn, an.RUN_CLIP)):
                # the fast tail: the largest recent excursion's start, growing by at most
                # PEAK_GROW
                size = min(abs(z), an.CALIBRATION_MAX * an.BIG_REF / an.PEAK_MARGIN)
                grown = min(math.log(size), peak + an.PEAK_GROW)
                peak = max(peak, grown) if big >= an.BIG_MIN else math.log(size)
                big += 1.0
        if event and up >= an.NOISE_HOLD and down >= an.NOISE_HOLD:
            # a fast rise: a high mean z², both sides often beyond 2, no paged excursion
            # remembered, the last RUN values not leaning to one side
            fast = (calm and energy >= ENERGY_ACCEPT and big < an.BIG_MIN
                    and up + down >= FAST_SHARE
                    and abs(sum(ring) / math.sqrt(an.RUN)) < FAST_LEAN)
            if (up >= an.NOISE_ACCEPT and down >= an.NOISE_ACCEPT) or fast:
                share = min(up + down, 0.95)
                factor = max(an.EVENT_Z / NormalDist().inv_cdf(1 - share / 2),
                             math.sqrt(energy), 1.0)
                if fast:
                    factor = max(factor,
                                 math.sqrt(0.5 * (energy + sum(r * r for r in ring) / an.RUN)))
                var = (scale * factor) ** 2
                up = down = an.P_SIDE
                tail, energy = an.TAIL_PRIOR, 1.0
                energy_ev, between = energy, []
                big = peak = 0.0
                ring = [0.0] * an.RUN
                if not burst and (fast or factor >= an.NOISE_PAGE):
                    burst, quiet, big = True, 0, 1.0
                else:
                    burst, quiet = False, 0
                continue
        if repeat and reps + 1 >= stuck_at:
            burst, quiet = True, 0
            continue
        if flagged:
            burst, quiet = True, 0
        if fail:
            continue
        if q > 0 and not _fits(v, q):
            q = min(q, resolution(v))
        e = max(-CLIP * scale, min(CLIP * scale, e)) if scale > 0 else e
        level, trend = level + trend + a * e, trend + a * 0.1 * e
        var += a * (e * e - var)
        if burst and not flagged:
            rising = up >= an.NOISE_HOLD and down >= an.NOISE_HOLD
            if not (quiet + 1 >= c.cooldown and rising):
                quiet += 1
                if quiet >= c.cooldown:
                    burst, quiet = False, 0
    # (z_warn >= 9 here: the run statistic's own fast tail never learns)
    stats = [up, down, tail, reps, same, cont, energy, big, peak, 0.0, 0.0]
    return level, var, stats


def _noise_rise_then_stuck() -> list[float]:
    """A history that accepts a noise rise and then sticks (the rare paths, every time)."""
    rng = random.Random(0)
    out = ([100 + rng.gauss(0, 1) for _ in range(300)] + [100 + 6 * rng.gauss(0, 1)
                                                          for _ in range(300)]
           + [100.5] * 30 + [100 + 6 * rng.gauss(0, 1) for _ in range(100)] + [400.0])
    return [round(v, 3) for v in out]


def _noise_doubling() -> list[float]:
    """A history whose noise doubles at once: accepted as a fast rise (``fast_rise``)."""
    rng = random.Random(1)
    out = [100 + rng.gauss(0, 1) for _ in range(150)] + [100 + 2 * rng.gauss(0, 1)
                                                         for _ in range(150)]
    return [round(v, 3) for v in out]


@pytest.mark.req("FR-017", "NFR-005", "FR-014")
@settings(max_examples=80, deadline=None)
@example(values=_noise_rise_then_stuck(), z_warn=9.0)
@example(values=_noise_doubling(), z_warn=9.0)
@given(st.lists(finite | st.sampled_from([7.25, 7.5]), min_size=6, max_size=160),
       st.sampled_from([40.0, 9.0]))
def test_incremental_state_equals_a_recomputation_from_the_history(values: list[float],
                                                                   z_warn: float) -> None:
    """The lazily updated statistics (FR-017: noise level, heavy tails, stuck runs) equal a
    value-by-value recomputation, and so do level and scale, whatever the history."""
    values = [v + 0.25 if v.is_integer() else v for v in values]  # not a count series
    c = cfg(seasonality="none", rebaseline_after=10_000, z_fail=z_warn + 10.0, z_warn=z_warn)
    s = SeriesState.new(c)
    for i, v in enumerate(values):
        evaluate(s, v, c, source="s", subject="m", ts=T0 + timedelta(seconds=i))
    b = s.baseline
    assert b is not None and not b.counts and s.run is not None
    level, var, stats = reference(values, c)
    assert b.level == pytest.approx(level, rel=1e-9, abs=1e-6)
    assert b.var == pytest.approx(var, rel=1e-9, abs=1e-6)
    if len(values) > c.min_samples:
        idx = b.n + s.run[an.FAILS]
        # the shares as of the last value (the lazy ones are as of the last event)
        gap = idx - 1 - s.run[an.EVENT]
        lazy = [s.run[an.UP] * (1 - an.NOISE_RATE) ** gap,
                s.run[an.DOWN] * (1 - an.NOISE_RATE) ** gap,
                max(s.run[an.TAIL] - an.TAIL_STEP * an.TAIL_REF * gap, an.TAIL_FLOOR),
                s.run[an.REPEATS] if gap == 0 else 0.0, s.run[an.SAME], s.run[an.CONT]]
        keep = (1 - an.ENERGY_RATE) ** gap
        lazy.append(s.run[an.ENERGY] * keep + an.QUIET_Z2 * (1 - keep))
        lazy += [s.run[an.BIG] * math.exp(-gap / an.BIG_SPAN), s.run[an.PEAK],
                 s.run[an.BIG_RUN] * math.exp(-gap / an.BIG_RUN_SPAN), s.run[an.PEAK_RUN]]
        assert lazy == pytest.approx(stats, rel=1e-7, abs=1e-9)


@pytest.mark.req("FR-017", "NFR-004")
@settings(max_examples=40, deadline=None)
@given(st.lists(finite, min_size=1, max_size=200), st.integers(min_value=0, max_value=200))
def test_a_checkpoint_resumes_exactly(values: list[float], cut: int) -> None:
    c = cfg(seasonality="hour_of_day")
    whole, part = SeriesState.new(c), SeriesState.new(c)
    cut = min(cut, len(values))
    step = timedelta(minutes=7)
    for i, v in enumerate(values[:cut]):
        evaluate(part, v, c, source="s", subject="m", ts=T0 + i * step)
    part = SeriesState.from_state(part.to_state(), c)
    a = [evaluate(whole, v, c, source="s", subject="m", ts=T0 + i * step).z
         for i, v in enumerate(values)][cut:]
    b = [evaluate(part, v, c, source="s", subject="m", ts=T0 + (cut + i) * step).z
         for i, v in enumerate(values[cut:])]
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x is None and y is None) or x == pytest.approx(y, rel=1e-6)


@pytest.mark.req("FR-017")
def test_a_damaged_checkpoint_is_a_named_error() -> None:
    c = cfg()
    s = SeriesState.new(c)
    for i in range(30):
        evaluate(s, float(i % 5) + 0.5, c, source="s", subject="m", ts=T0 + timedelta(minutes=i))
    state = s.to_state()
    state["baseline"]["level"] = None
    with pytest.raises(SeriesStateError, match="level: not a finite number"):
        SeriesState.from_state(state, c)


@pytest.mark.req("FR-017")
def test_buckets_follow_wall_clock_and_monday_starts_the_week() -> None:
    monday = T0.timestamp()
    assert bucket("hour_of_week", monday) == 0
    assert bucket("day_of_week", monday + 6.5 * 86400) == 6
    assert bucket("hour_of_day", monday + 13 * 3600 + 59) == 13
    assert (resolution(3.0), resolution(12.34), resolution(math.pi)) == (1.0, 0.01, 0.0)
    assert resolution(2.2e-309) == resolution(5.9e-8) == 0.0  # tiny is not "a multiple of 0.1"


@pytest.mark.req("NFR-005", "FR-017")
@pytest.mark.parametrize("seasonality", ["auto", "hour_of_week", "none"])
def test_memory_per_series_stays_under_2_kb(seasonality: str) -> None:
    c = cfg(window=100, seasonality=seasonality)
    s = SeriesState.new(c)
    for i in range(3000):
        evaluate(s, 100.0 + (i * 37) % 11 + 0.25, c, source="s", subject="m",
                 ts=T0 + timedelta(minutes=5 * i))
    assert s.nbytes() <= 2048


@pytest.mark.req("FR-017", "NFR-003")
@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=999_999),
       st.lists(st.integers(min_value=59_997_000, max_value=60_003_000)
                | st.integers(min_value=0, max_value=200_000_000), min_size=30, max_size=150))
def test_the_race_samples_exactly_one_value_a_minute_however_the_times_fall(
    start_us: int, gaps_us: list[int]
) -> None:
    """The race skips converting a timestamp while no sample can be due (``SeasonRace.due``);
    which values it samples must still be exactly those a minute or more after the last one,
    also for gaps within a few milliseconds of a minute."""
    c = cfg(seasonality="auto", rebaseline_after=10_000)
    s = SeriesState.new(c)
    ts = T0 + timedelta(microseconds=start_us)
    last = -math.inf
    for i, gap in enumerate(gaps_us):
        ts += timedelta(microseconds=gap)
        evaluate(s, 100.25 + (i * 7) % 5, c, source="s", subject="m", ts=ts)
        if i < c.min_samples:
            continue  # warm-up values are not raced
        t = ts.timestamp()
        if t - last >= 60.0:
            last = t
        b = s.baseline
        assert b is not None and b.race is not None
        assert b.race.t_last == last, f"value {i}"


@pytest.mark.req("NFR-005", "FR-017")
def test_a_young_series_racing_its_seasonal_models_holds_under_1720_bytes() -> None:
    # A fleet's common state: past warm-up, the seasonality race still running (its 199
    # offsets and statistics are the largest part). Measured as allocated, not as accounted.
    c = cfg(window=100, seasonality="auto")
    stamps = [T0 + timedelta(minutes=5 * k) for k in range(40)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        fleet = []
        for s in range(1000):
            series = SeriesState.new(c)
            for k, ts in enumerate(stamps):
                evaluate(series, 100.25 + (k * 31 + s) % 17, c, source="s", subject="m", ts=ts)
            fleet.append(series)
        per_series = (tracemalloc.get_traced_memory()[0] - before) / len(fleet)
    finally:
        tracemalloc.stop()
    assert all(s.baseline is not None and s.baseline.race is not None for s in fleet)
    assert per_series <= 1720
