"""FR-017 / FR-014: quiet on every kind of normal: a lasting change of the noise level, a
bursty heavy-tailed series, weekly patterns in the first week, and stuck values caught."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from dq_monitor.checks.anomaly import AnomalyResult, SeriesState, evaluate
from dq_monitor.checks.verdict import Severity
from dq_monitor.config import AnomalyConfig
from dq_monitor.state import checkpoint

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
STEP = timedelta(minutes=5)


def cfg(**kw: object) -> AnomalyConfig:
    return AnomalyConfig.model_validate({"metrics": ["m"], **kw})


def run(c: AnomalyConfig, values: list[float], state: SeriesState | None = None,
        start: int = 0, step: timedelta = STEP) -> tuple[SeriesState, list[AnomalyResult]]:
    s = state or SeriesState.new(c)
    out = [evaluate(s, v, c, source="src", subject="m", ts=T0 + (start + i) * step)
           for i, v in enumerate(values)]
    return s, out


def pages(results: list[AnomalyResult]) -> list[int]:
    """Where an alert episode starts: the held verdict turns firing (what would page)."""
    out, firing = [], False
    for i, r in enumerate(results):
        now = r.verdict.severity.firing
        if now and not firing:
            out.append(i)
        firing = now
    return out


# --------------------------------------------------------------------------- (a) noise level


@pytest.mark.req("FR-017", "FR-014")
@pytest.mark.parametrize("factor", [3.0, 5.0, 8.0])
def test_a_lasting_rise_of_the_noise_is_one_alert_then_quiet(factor: float) -> None:
    rng = random.Random(11)
    c = cfg()
    calm = [100.0 + rng.gauss(0.0, 1.0) for _ in range(800)]
    loud = [100.0 + factor * rng.gauss(0.0, 1.0) for _ in range(4000)]
    s, before = run(c, calm)
    assert pages(before) == []
    _, after = run(c, loud, s, 800)
    assert len(pages(after)) == 1, pages(after)
    accepted = [r for r in after if r.rebaselined]
    assert len(accepted) == 1
    assert "lasting change of the noise level accepted" in accepted[0].verdict.detail
    assert not after[-1].verdict.severity.firing
    # the new noise is learnt: the scale is the new one, not the old
    assert accepted[0].scale is not None and accepted[0].scale > 0.6 * factor


@pytest.mark.req("FR-017", "FR-014")
def test_a_doubling_of_the_noise_pages_before_the_scale_has_learnt_it() -> None:
    # The scale follows a rise of the noise within some 50 values, so a doubling was mostly
    # learnt without an alert (6 of 40 paged within 25 values): the mean z² of the recent
    # values, those under 2 scale units included, now tells a rise faster than the scale
    # follows, which pages once and is accepted.
    soon, paged = 0, []
    for seed in range(1, 41):
        rng = random.Random(seed)
        c = cfg()
        s, _ = run(c, [100.0 + rng.gauss(0.0, 1.0) for _ in range(1500)])
        _, after = run(c, [100.0 + 2.0 * rng.gauss(0.0, 1.0) for _ in range(1500)], s, 1500)
        paged.append(pages(after))
        soon += bool(paged[-1]) and paged[-1][0] < 25
        assert not after[-1].verdict.severity.firing
    assert soon >= 9, paged
    assert all(len(p) <= 1 for p in paged), paged  # then quiet
    # Spikes far beyond any threshold (incidents, one in 50 values) raise the mean z² too: no
    # noise rise is accepted among them.
    rng = random.Random(0)
    spiky = [(140.0 + 20.0 * math.sin(2 * math.pi * i / 1440) + rng.gauss(0.0, 2.0))
             * (3.0 if rng.random() < 0.02 else 1.0) for i in range(3000)]
    _, out = run(cfg(), spiky, step=timedelta(minutes=1))
    assert not [r for r in out if r.rebaselined and "noise" in r.verdict.detail]


@pytest.mark.req("FR-017", "FR-014")
def test_after_a_noise_rise_a_spike_of_the_new_noise_still_pages() -> None:
    rng = random.Random(5)
    c = cfg()
    values = ([10.0 + rng.gauss(0.0, 1.0) for _ in range(800)]
              + [10.0 + 3.0 * rng.gauss(0.0, 1.0) for _ in range(1500)])
    s, _ = run(c, values)
    _, out = run(c, [10.0 + 3.0 * 9.0], s, len(values))
    assert out[0].severity is Severity.FAIL


# --------------------------------------------------------------------------- (b) heavy tails


def bursty(rng: random.Random, n: int) -> list[float]:
    """Noise of sd 1 with one-sided bursts of 6–10 units, 1–4 points, about one in 300."""
    out, i = [], 0
    while i < n:
        if rng.random() < 1.0 / 300.0:
            size = rng.uniform(6.0, 10.0)
            for _ in range(rng.randint(1, 4)):
                out.append(50.0 + size * rng.uniform(0.7, 1.0) + rng.gauss(0.0, 1.0))
                i += 1
        else:
            out.append(50.0 + rng.gauss(0.0, 1.0))
            i += 1
    return out[:n]


@pytest.mark.req("FR-017")
def test_a_bursty_series_learns_its_bursts_are_normal_and_still_pages_a_bigger_one() -> None:
    rng = random.Random(3)
    c = cfg()
    values = bursty(rng, 12_000)
    s, out = run(c, values)
    # its bursts page while the series is new, then it is calibrated: quiet for the rest
    assert len(pages(out[4000:])) <= 1, pages(out[4000:])
    _, spike = run(c, [50.0 + 30.0], s, len(values))
    assert spike[0].severity is Severity.FAIL
    assert "heavy-tailed" in spike[0].verdict.detail


@pytest.mark.req("FR-017")
def test_bursty_series_page_on_their_first_bursts_only() -> None:
    # The first burst may page (nothing tells it from an incident yet); the next ones, of the
    # same sizes, are the series' normal at once, a burst of several moderate values (whose
    # run statistic crosses the thresholds before any single value does) included: over ten
    # such series, one page each, where learning the tail alone paged some five or six times
    # each and judging such runs without the memory of recent bursts half as many again.
    counts = []
    for seed in range(1, 11):
        _, out = run(cfg(), bursty(random.Random(seed), 6000))
        counts.append(len(pages(out)))
    assert sum(counts) <= 11, counts
    assert max(counts) <= 2, counts


@pytest.mark.req("FR-017", "FR-014")
@pytest.mark.parametrize("size", [5.0, 6.0, -5.0])
def test_a_level_shift_in_a_bursty_series_pages_once_it_outlasts_a_burst(size: float) -> None:
    # Its thresholds are raised for its bursts (of 1 to 4 values); a shift of the level starts
    # the same way but does not end: it pages within six values, and is then accepted.
    firsts, total = [], 0
    for seed in range(1, 9):
        c = cfg()
        s, _ = run(c, bursty(random.Random(seed), 4000))
        shifted = [v + size for v in bursty(random.Random(seed + 100), 400)]
        _, out = run(c, shifted, s, 4000)
        firsts.append(pages(out)[:1])
        total += len(pages(out))
        if firsts[-1]:
            detail = out[firsts[-1][0]].verdict.detail
            assert "values in a row, longer than this series' bursts" in detail, detail
        assert not out[-1].verdict.severity.firing
    assert all(first and first[0] <= 6 for first in firsts), firsts
    assert total <= 9, total  # then quiet (its bursts at the new level are its normal)


@pytest.mark.req("FR-017")
def test_one_incident_widens_a_calm_series_thresholds_only_for_a_while() -> None:
    def incident() -> SeriesState:
        rng = random.Random(12)
        s, out = run(c, [50.0 + rng.gauss(0.0, 1.0) for _ in range(1000)] + [50.0 + 8.0])
        assert out[-1].severity is Severity.FAIL
        return s

    c = cfg()
    rng = random.Random(13)
    # a second value like it soon after looks like a bursty series' normal: not paged ...
    _, soon = run(c, [50.0 + rng.gauss(0.0, 1.0) for _ in range(300)] + [50.0 + 7.0],
                  incident(), 1001)
    assert not soon[-1].severity.firing
    assert "heavy-tailed" in soon[-1].verdict.detail
    # ... but 1,500 calm values later the series is as sensitive as before
    rng = random.Random(14)
    _, later = run(c, [50.0 + rng.gauss(0.0, 1.0) for _ in range(1500)] + [50.0 + 7.0],
                   incident(), 1001)
    assert pages(later)[-1] == 1500  # (the incident's own episode is still open at 0)


@pytest.mark.req("FR-017")
def test_a_calm_series_keeps_its_sensitivity() -> None:
    rng = random.Random(4)
    c = cfg()
    s, out = run(c, [50.0 + rng.gauss(0.0, 1.0) for _ in range(12_000)])
    assert len(pages(out)) <= 1  # a Gaussian's own 4.5σ values do happen
    _, spike = run(c, [50.0 + 6.5], s, 12_000)
    assert spike[0].severity is Severity.FAIL
    assert "heavy-tailed" not in spike[0].verdict.detail


def poisson(rng: random.Random, rate: float) -> float:
    """One Poisson count (Knuth's product of uniforms)."""
    floor, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= floor:
            return float(k)
        k += 1


@pytest.mark.req("FR-017")
def test_a_spike_on_small_counts_is_judged_by_its_poisson_chance() -> None:
    # Anscombe's transform shrinks the upper tail of a small rate: a spike of 6.5 √rate read
    # as z = 3.5 to 5 and mostly passed, while its chance is a Gaussian's 5 to 6 σ; and its
    # stretched lower tail taught the series that it is heavy-tailed.
    paged = clean_pages = 0
    for rate in (3.0, 5.0, 8.0, 12.0):
        for seed in range(1, 9):
            rng = random.Random(seed)
            c = cfg()
            s, out = run(c, [poisson(rng, rate) for _ in range(3000)])
            clean_pages += len(pages(out))
            _, spike = run(c, [rate + math.ceil(6.5 * math.sqrt(rate))], s, 3000)
            paged += spike[0].severity.firing
    assert paged >= 26, paged  # of 32 (Anscombe's z alone: 8)
    assert clean_pages <= 2, clean_pages  # (Anscombe's z alone: 6)


# --------------------------------------------------------------------------- (c) weekly


def weekly(rng: random.Random, days: int, step: timedelta = STEP) -> list[float]:
    """Weekdays: a daily wave around 100 (a daily model is adopted on day 2); weekends 5 noise
    units lower, half the wave."""
    out = []
    for i in range(int(days * 86_400 / step.total_seconds())):
        t = T0 + i * step
        hour = t.hour + t.minute / 60.0
        wave = 6.0 * math.sin(2 * math.pi * (hour - 9.0) / 24.0)
        level = 95.0 + 0.5 * wave if t.weekday() >= 5 else 100.0 + wave
        out.append(round(level + rng.gauss(0.0, 1.0), 2))
    return out


@pytest.mark.req("FR-017")
@pytest.mark.parametrize("step", [timedelta(minutes=5), timedelta(hours=1)])
def test_a_weekday_weekend_pattern_is_quiet_from_its_first_weekend(step: timedelta) -> None:
    rng = random.Random(8)
    c = cfg()
    values = weekly(rng, 21, step)
    s, out = run(c, values, step=step)
    assert pages(out) == [], [(i, out[i].verdict.detail) for i in pages(out)]
    # and it still sees a drop on a weekday
    monday = int(21 * 86_400 / step.total_seconds())
    assert s.baseline is not None and s.baseline.kind in ("weekpart_hour", "hour_of_week")
    _, drop = run(c, [85.0], s, monday, step)
    assert drop[0].severity is Severity.FAIL


@pytest.mark.req("FR-017")
def test_a_slow_daily_wave_with_a_weekend_is_quiet_at_its_first_weekend() -> None:
    # At 5-minute steps the live level follows a gentle daily wave closely, so the daily model
    # does not win the race by far before the first weekend; the weekend must not page anyway.
    rng = random.Random(14)
    c = cfg()
    out = []
    for i in range(9 * 288):
        t = T0 + i * STEP
        wave = 2.5 * math.sin(2 * math.pi * (t.hour + t.minute / 60.0 - 9.0) / 24.0)
        level = 95.0 + 0.5 * wave if t.weekday() >= 5 else 100.0 + wave
        out.append(round(level + rng.gauss(0.0, 1.0), 2))
    s, results = run(c, out)
    assert pages(results) == [], [(i, results[i].verdict.detail) for i in pages(results)]
    assert s.baseline is not None and s.baseline.kind in ("weekpart_hour", "hour_of_week")


# --------------------------------------------------------------------------- (d) stuck


@pytest.mark.req("FR-017", "FR-014")
def test_a_moving_series_that_repeats_one_value_for_long_raises_one_alert() -> None:
    rng = random.Random(9)
    c = cfg()
    s, out = run(c, [round(20.0 + rng.gauss(0.0, 2.0), 2) for _ in range(1000)])
    assert pages(out) == []
    frozen = out[-1].value
    _, stuck = run(c, [frozen] * 80, s, 1000)
    assert len(pages(stuck)) == 1
    first = pages(stuck)[0]
    assert first <= 12
    assert stuck[first].severity is Severity.FAIL
    assert "the same value" in stuck[first].verdict.detail
    assert all(r.verdict.severity.firing for r in stuck[first:])  # until it moves again
    _, moving = run(c, [round(20.0 + rng.gauss(0.0, 2.0), 2) for _ in range(40)], s, 1080)
    assert not moving[-1].verdict.severity.firing
    assert pages(stuck + moving) == [first]  # one alert, resolved once the series moves


@pytest.mark.req("FR-017")
def test_series_that_repeat_by_nature_are_never_stuck() -> None:
    rng = random.Random(10)
    c = cfg()
    # a flat level with rare steps, and small integers (a third of the values repeat)
    flat = [float(30 + (i // 900) % 2) for i in range(6000)]
    small = [float(round(20 + rng.gauss(0.0, 0.7))) for _ in range(6000)]
    for values in (flat, small):
        _, out = run(c, values)
        assert not any("the same value" in r.verdict.detail for r in out)


@pytest.mark.req("FR-017", "NFR-006")
def test_a_restart_in_the_middle_of_a_lasting_run_pages_as_without_it() -> None:
    # The values a lasting run has held back so far are part of the checkpoint: a series
    # restored from one taken in the middle of the run pages on the same value.
    c = cfg()
    shifted = [v + 5.0 for v in bursty(random.Random(102), 12)]
    s, _ = run(c, bursty(random.Random(2), 4000))
    _, straight = run(c, shifted, SeriesState.from_state(s.to_state(), c), 4000)
    first = pages(straight)[0]
    assert "values in a row, longer than this series' bursts" in straight[first].verdict.detail
    held = 0
    for cut in range(1, first + 1):
        a, before = run(c, shifted[:cut], SeriesState.from_state(s.to_state(), c), 4000)
        held += a.streak is not None and not before[-1].verdict.severity.firing
        restored = checkpoint.restore(checkpoint.pack(a), c)
        _, after = run(c, shifted[cut:], restored, 4000 + cut)
        assert [r.verdict for r in before + after] == [r.verdict for r in straight]
    assert held >= 2  # cut while values were held back, not yet paged


def drifting(seed: int, n: int, every: int, at: int, length: int, level: float) -> list[float]:
    """Gaussian noise around 100 with a short drift to ``level``: ``length`` values from ``at``
    of every ``every``."""
    rng = random.Random(seed)
    values = []
    for i in range(n):
        v = 100.0 + rng.gauss(0.0, 1.0)
        if at <= i % every < at + length:
            v = level + rng.uniform(-0.1, 0.1)
        values.append(round(v, 3))
    return values


@pytest.mark.req("FR-017")
def test_a_spike_on_a_series_that_often_drifts_a_little_still_pages() -> None:
    # Short drifts (three values at +2.6 sigma: the run statistic over the thresholds, no value
    # itself) every 150 values are this series' normal and soon stop paging; they widen the
    # run statistic's thresholds only, so a 7-sigma spike among them pages as on a calm series.
    values = drifting(3, 3000, 150, 100, 3, 102.6)
    spike = 2520
    values[spike] = 107.0
    _, out = run(cfg(seasonality="none"), values)
    drifts = [p for p in pages(out) if p % 150 in range(100, 110)]
    assert len(drifts) <= 3, drifts  # learnt as the normal after the first ones
    assert spike in pages(out)
    assert all(p in drifts or p == spike for p in pages(out)), pages(out)
    # and its page states the threshold its own z passed, not the drifts' raised one
    page = out[spike]
    assert page.z is not None and abs(page.z) >= cfg().z_warn * page.calibration, (
        page.verdict.detail)


@pytest.mark.req("FR-017")
def test_drifts_a_day_apart_are_remembered_from_one_to_the_next() -> None:
    # The same short drift once every 1,000 values (a day's ramp at a value every ~90 s):
    # remembered from one to the next (BIG_RUN_SPAN), it pages while the series is new only.
    _, out = run(cfg(seasonality="none"), drifting(4, 12_000, 1000, 500, 4, 102.8))
    drifts = [p for p in pages(out) if p % 1000 in range(500, 510)]
    assert len(drifts) <= 2, drifts  # (remembered for a burst's span only: 4 of 12)
