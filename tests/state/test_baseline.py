"""FR-017 baseline state, pure: incremental figures, checkpoints and memory (NFR-005)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dq_monitor.checks.anomaly import SeriesState, SeriesStateError, evaluate
from dq_monitor.config import AnomalyConfig
from dq_monitor.state.baseline import CLIP, bucket, resolution

T0 = datetime(2026, 1, 5, tzinfo=UTC)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def cfg(**kw: object) -> AnomalyConfig:
    return AnomalyConfig.model_validate({"metrics": ["m"], "min_samples": 5, **kw})


def reference(values: list[float], c: AnomalyConfig) -> tuple[float, float]:
    """Level and variance recomputed from the whole history with the documented recurrences
    (median seed, the larger of MAD and RMS for the scale, residuals clipped at CLIP scale
    units, FAIL values left out)."""
    seed = sorted(values[: c.min_samples])
    n = len(seed)
    med = seed[n // 2] if n % 2 else (seed[n // 2 - 1] + seed[n // 2]) / 2
    mad = sorted(abs(v - med) for v in seed)
    m = (mad[n // 2] if n % 2 else (mad[n // 2 - 1] + mad[n // 2]) / 2) * 1.4826
    rms = math.sqrt(sum((v - med) ** 2 for v in seed) / n)
    var = max(m, rms) ** 2
    level, trend, a = med, 0.0, 2.0 / (c.window + 1)
    for v in values[c.min_samples:]:
        pred, scale = level + trend, math.sqrt(var)
        e = v - pred
        if (scale > 0 and abs(e / scale) >= c.z_fail) or (scale == 0 and e != 0):
            continue
        e = max(-CLIP * scale, min(CLIP * scale, e)) if scale > 0 else e
        level, trend = level + trend + a * e, trend + a * 0.1 * e
        var += a * (e * e - var)
    return level, var


@pytest.mark.req("FR-017", "NFR-005")
@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=6, max_size=120))
def test_incremental_state_equals_a_recomputation_from_the_history(values: list[float]) -> None:
    values = [v + 0.25 if v.is_integer() else v for v in values]  # not a count series
    c = cfg(seasonality="none", rebaseline_after=10_000, z_fail=50.0, z_warn=40.0)
    s = SeriesState.new(c)
    for i, v in enumerate(values):
        evaluate(s, v, c, source="s", subject="m", ts=T0 + timedelta(seconds=i))
    b = s.baseline
    assert b is not None and not b.counts
    level, var = reference(values, c)
    assert b.level == pytest.approx(level, rel=1e-9, abs=1e-6)
    assert b.var == pytest.approx(var, rel=1e-9, abs=1e-6)


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
