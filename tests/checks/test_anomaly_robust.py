"""FR-017 robust baseline through evaluate() and the monitor: what a user sees per value."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from dq_monitor.checks.anomaly import SeriesState, evaluate
from dq_monitor.checks.verdict import Severity
from dq_monitor.config import AnomalyConfig, parse_config
from dq_monitor.errors import ConfigError

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def cfg(**kw: object) -> AnomalyConfig:
    return AnomalyConfig.model_validate({"metrics": ["m"], **kw})


def feed(c: AnomalyConfig, values: list[float], step: timedelta = timedelta(minutes=5),
         state: SeriesState | None = None, start: int = 0) -> tuple[SeriesState, list[Severity]]:
    s = state or SeriesState.new(c)
    out = [evaluate(s, v, c, source="src", subject="m", ts=T0 + (start + i) * step).severity
           for i, v in enumerate(values)]
    return s, out


def flagged(severities: list[Severity]) -> int:
    return sum(1 for x in severities if x.firing)


@pytest.mark.req("FR-017", "FR-005")
def test_sensitivity_sets_thresholds_unless_given() -> None:
    assert (cfg().z_warn, cfg().z_fail) == (4.5, 6.0)
    assert (cfg(sensitivity="high").z_warn, cfg(sensitivity="low").z_fail) == (3.5, 7.5)
    assert (cfg(sensitivity="low", z_warn=3.0, z_fail=4.0).z_warn) == 3.0
    base = ("kafka: {bootstrap_servers: x, input_topics: [a], alert_topic: b,"
            " dead_letter_topic: c}\n")
    with pytest.raises(ConfigError) as err:
        parse_config(base + "sources: [{name: s, anomaly: {metrics: [m], z_warn: 7}}]")
    assert "sources[0].anomaly.z_warn: must be below z_fail (7 >= 6)" in err.value.errors


@pytest.mark.req("FR-017")
def test_one_wild_value_neither_inflates_the_scale_nor_drags_the_level() -> None:
    rng = random.Random(3)
    c = cfg()
    s, _ = feed(c, [rng.gauss(100.0, 5.0) for _ in range(500)])
    b = s.baseline
    assert b is not None
    level, scale = b.level, math.sqrt(b.var)
    r = evaluate(s, 1e6, c, source="src", subject="m", ts=T0 + timedelta(days=3))
    assert r.severity is Severity.FAIL
    assert (b.level, math.sqrt(b.var)) == (level, scale)  # FAIL values stay out (FR-014)
    r = evaluate(s, 100.0 + 5.5 * scale, c, source="src", subject="m", ts=T0 + timedelta(days=3))
    assert r.severity is Severity.WARN
    assert abs(b.level - level) < 0.2 * scale and math.sqrt(b.var) < 1.1 * scale


@pytest.mark.req("FR-017")
@pytest.mark.parametrize("kind", ["white", "trend", "poisson", "integer", "flat_steps"])
def test_ordinary_series_do_not_storm(kind: str) -> None:
    rng = random.Random(11)
    n = 6000

    def poisson(lam: float) -> float:
        k, p, limit = 0, 1.0, math.exp(-lam)
        while True:
            p *= rng.random()
            if p < limit:
                return float(k)
            k += 1

    level = 5.0
    values = []
    for i in range(n):
        if kind == "white":
            values.append(rng.gauss(50.0, 2.0))
        elif kind == "trend":
            values.append(50.0 + 0.01 * i + rng.gauss(0.0, 1.0))
        elif kind == "poisson":
            values.append(poisson(3.0))
        elif kind == "integer":
            values.append(float(round(rng.gauss(20.0, 0.7))))
        else:
            if rng.random() < 0.003:
                level += rng.choice((-1.0, 1.0))
            values.append(level + 100.0)
    _, sev = feed(cfg(), values)
    assert flagged(sev) <= 1, kind


@pytest.mark.req("FR-017")
def test_a_flat_integer_series_takes_a_one_step_calmly_and_flags_a_big_move() -> None:
    c = cfg()
    s, sev = feed(c, [7.0] * 300 + [8.0] * 50 + [7.0] * 50)
    assert flagged(sev) == 0
    assert s.baseline is not None and s.baseline.quantum == 1.0
    _, sev = feed(c, [20.0], state=s, start=400)
    assert sev == [Severity.FAIL]


@pytest.mark.req("FR-017", "FR-014")
def test_spikes_and_lasting_shifts_are_flagged_and_the_shift_accepted() -> None:
    rng = random.Random(5)
    c = cfg()
    s, _ = feed(c, [rng.gauss(0.0, 1.0) for _ in range(1000)])
    _, sev = feed(c, [6.5], state=s, start=1000)
    assert sev[0].firing  # a 6-unit spike is alerted on the point
    shifted = [3.2 + rng.gauss(0.0, 1.0) for _ in range(60)]
    _, sev = feed(c, shifted, state=s, start=1001)
    first = next(i for i, x in enumerate(sev) if x.firing)
    assert first < 5  # a 3-unit lasting shift within 5 points
    assert flagged(sev[30:]) == 0  # then accepted as the new normal


@pytest.mark.req("FR-017")
def test_daily_seasonality_is_learnt_per_bucket() -> None:
    rng = random.Random(8)
    values = [100.0 + 40.0 * math.sin(2 * math.pi * i / 288) + rng.gauss(0.0, 2.0)
              for i in range(288 * 6)]
    explicit, sev = feed(cfg(seasonality="hour_of_day"), values)
    assert sev[:20] == [Severity.PENDING] * 20
    assert flagged(sev) <= 1
    assert explicit.baseline is not None and explicit.baseline.kind == "hour_of_day"
    auto, sev = feed(cfg(), values)
    assert auto.baseline is not None  # auto adopted it (split at the weekend: FR-017)
    assert auto.baseline.kind in ("hour_of_day", "weekpart_hour")
    assert flagged(sev[288 * 3:]) == 0
    none, _ = feed(cfg(seasonality="none"), values)
    assert none.baseline is not None and none.baseline.kind == "none"


@pytest.mark.req("FR-017")
def test_the_first_value_of_an_unseen_season_bucket_is_not_judged() -> None:
    c = cfg(seasonality="day_of_week")
    s, _ = feed(c, [10.0 + (i % 3) for i in range(40)], step=timedelta(minutes=1))
    r = evaluate(s, 500.0, c, source="src", subject="m", ts=T0 + timedelta(days=1))
    assert r.severity is Severity.PENDING and "season bucket" in r.verdict.detail


@pytest.mark.req("FR-017")
def test_a_count_series_that_stops_being_one_starts_a_new_baseline() -> None:
    c = cfg()
    s, _ = feed(c, [float(i % 4) for i in range(100)])
    assert s.baseline is not None and s.baseline.counts
    _, sev = feed(c, [1.5], state=s, start=100)
    assert sev == [Severity.PENDING]
    assert s.baseline is not None and not s.baseline.counts


@pytest.mark.req("FR-017", "FR-005")
def test_extreme_finite_values_never_make_nan() -> None:
    c = cfg()
    s, _ = feed(c, [1.5, 2.5] * 30)
    values = [1.7e308, -1.7e308, 1e-300, 0.0, 1.7e308] * 4
    _, sev = feed(c, values, state=s, start=60)
    assert all(x is not Severity.PENDING for x in sev)
    b = s.baseline
    assert b is not None
    assert all(math.isfinite(v) for v in (b.level, b.trend, b.var))
    state = s.to_state()
    again = SeriesState.from_state(state, c)
    assert again.to_state() == state


@pytest.mark.req("FR-017")
def test_a_burst_is_one_episode_held_through_the_cooldown() -> None:
    rng = random.Random(2)
    c = cfg(cooldown=10)
    s, _ = feed(c, [rng.gauss(0.0, 1.0) for _ in range(500)])
    held = []
    burst = [9.0, 0.1, -0.2, 9.5, 0.0, 0.3, 12.0] + [rng.gauss(0.0, 0.5) for _ in range(20)]
    for i, v in enumerate(burst):
        r = evaluate(s, v, c, source="src", subject="m", ts=T0 + (500 + i) * timedelta(minutes=5))
        held.append(r.verdict.severity)
    assert all(h.firing for h in held[:16])  # from the first spike until 10 normal values
    assert not any(h.firing for h in held[16:])
    assert held[6] is Severity.FAIL
