"""FR-005 / FR-014 anomaly check with the rolling baseline, pure: every rule through evaluate()."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dq_monitor.checks.anomaly import SeriesState, evaluate, series_key
from dq_monitor.checks.verdict import Severity
from dq_monitor.config import AnomalyConfig
from dq_monitor.state.window import RollingWindow


def cfg(**kw: object) -> AnomalyConfig:
    base: dict[str, object] = {"metrics": ["m"], "window": 20, "min_samples": 5,
                               "baseline": "rolling", "z_warn": 3.0, "z_fail": 4.0,
                               "cooldown": 0}
    return AnomalyConfig.model_validate({**base, **kw})


def warmed(c: AnomalyConfig, values: list[float]) -> SeriesState:
    s = SeriesState.new(c)
    for v in values:
        evaluate(s, v, c, source="src", subject="m")
    return s


def window(s: SeriesState) -> RollingWindow:
    assert s.window is not None
    return s.window


NORMAL = [10.0, 11.0, 9.0, 10.0, 12.0, 8.0, 10.0, 11.0, 9.0, 10.0]


@pytest.mark.req("FR-005")
def test_series_key_is_canonical() -> None:
    assert series_key("s", "row_count", None) == "row_count"
    assert series_key("s", "rev", {"z": "1", "a": "eu"}) == "rev{a=eu,z=1}"


@pytest.mark.req("FR-005")
def test_pending_until_min_samples_then_judged() -> None:
    c = cfg()
    s = SeriesState.new(c)
    results = [evaluate(s, v, c, source="src", subject="m") for v in NORMAL[:6]]
    assert [r.severity for r in results[:5]] == [Severity.PENDING] * 5
    assert results[0].z is None and "collecting a baseline" in results[0].verdict.detail
    assert results[5].severity is Severity.OK and results[5].z is not None


@pytest.mark.req("FR-005")
def test_z_is_against_the_window_before_the_value() -> None:
    c = cfg()
    s = warmed(c, NORMAL)
    mean = sum(NORMAL) / len(NORMAL)
    std = math.sqrt(sum((v - mean) ** 2 for v in NORMAL) / len(NORMAL))
    r = evaluate(s, 14.0, c, source="src", subject="m")
    assert r.z == pytest.approx((14.0 - mean) / std)
    assert r.mean == pytest.approx(mean)
    v = r.verdict
    assert (v.check, v.observed, v.requirement) == ("anomaly", 14.0, "FR-005")
    assert v.expected == pytest.approx(mean)


@pytest.mark.req("FR-005")
def test_warn_and_fail_thresholds() -> None:
    c = cfg(z_warn=2, z_fail=3)
    base = warmed(c, NORMAL)
    std = window(base).std
    assert evaluate(warmed(c, NORMAL), 10 + 2.5 * std, c, source="s", subject="m").severity \
        is Severity.WARN
    fail = evaluate(base, 10 + 3.5 * std, c, source="s", subject="m")
    assert fail.severity is Severity.FAIL
    assert "FAIL at |z| ≥ 3" in fail.verdict.detail and "above" in fail.verdict.detail


@pytest.mark.req("FR-005")
@pytest.mark.parametrize(("direction", "up", "down"), [
    ("both", Severity.FAIL, Severity.FAIL),
    ("up", Severity.FAIL, Severity.OK),
    ("down", Severity.OK, Severity.FAIL),
])
def test_direction(direction: str, up: Severity, down: Severity) -> None:
    c = cfg(direction=direction)
    assert evaluate(warmed(c, NORMAL), 30.0, c, source="s", subject="m").severity is up
    assert evaluate(warmed(c, NORMAL), -10.0, c, source="s", subject="m").severity is down


@pytest.mark.req("FR-005", "FR-014")
def test_zero_variance_never_divides_by_zero() -> None:
    c = cfg()
    flat = [5.0] * 10
    same = evaluate(warmed(c, flat), 5.0, c, source="s", subject="m")
    assert (same.severity, same.z) == (Severity.OK, 0.0)
    moved = evaluate(warmed(c, flat), 5.001, c, source="s", subject="m")
    assert moved.severity is Severity.FAIL and moved.z == math.inf
    assert "moved off a flat series" in moved.verdict.detail
    gated = cfg(min_abs_change=0.5)
    assert evaluate(warmed(gated, flat), 5.001, gated, source="s", subject="m").severity \
        is Severity.OK


@pytest.mark.req("FR-014")
def test_min_relative_change_gate() -> None:
    c = cfg(min_rel_change=0.5)
    s = warmed(c, [1000.0, 1000.1] * 5)
    assert evaluate(s, 1010.0, c, source="s", subject="m").severity is Severity.OK
    assert evaluate(s, 2000.0, c, source="s", subject="m").severity is Severity.FAIL


@pytest.mark.req("FR-014")
def test_fail_values_stay_out_of_the_baseline() -> None:
    c = cfg()
    s = warmed(c, NORMAL)
    before = window(s).values()
    first = evaluate(s, 100.0, c, source="s", subject="m")
    assert window(s).values() == before
    second = evaluate(s, 100.0, c, source="s", subject="m")  # not masked by the first
    assert (first.severity, second.severity) == (Severity.FAIL, Severity.FAIL)


@pytest.mark.req("FR-014")
def test_warn_values_join_the_baseline() -> None:
    c = cfg(z_warn=1.5, z_fail=10)
    s = warmed(c, NORMAL)
    r = evaluate(s, 13.0, c, source="s", subject="m")
    assert r.severity is Severity.WARN
    assert window(s).values()[-1] == 13.0


@pytest.mark.req("FR-014")
def test_lasting_level_shift_is_rebaselined() -> None:
    c = cfg(rebaseline_after=4)
    s = warmed(c, NORMAL * 2)
    shifted = [evaluate(s, 50.0 + (i % 2), c, source="s", subject="m") for i in range(12)]
    assert [r.severity for r in shifted[:3]] == [Severity.FAIL] * 3
    assert shifted[3].severity is Severity.OK and shifted[3].rebaselined
    assert "level shift accepted" in shifted[3].verdict.detail
    assert window(s).values()[:4] == [50.0, 51.0, 50.0, 51.0]
    assert {r.severity for r in shifted[4:]} <= {Severity.PENDING, Severity.OK}
    assert shifted[-1].severity is Severity.OK


@pytest.mark.req("FR-014")
def test_streak_is_broken_by_a_normal_value_or_a_side_change() -> None:
    c = cfg(rebaseline_after=3)
    s = warmed(c, NORMAL)
    for v in (50.0, 50.0, 10.0, 50.0, 50.0, -40.0, 50.0, 50.0):
        r = evaluate(s, v, c, source="s", subject="m")
        assert not r.rebaselined
    assert evaluate(s, 50.0, c, source="s", subject="m").rebaselined


@pytest.mark.req("FR-016")
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=60))
def test_state_round_trip_changes_nothing(values: list[float]) -> None:
    c = cfg(rebaseline_after=3)
    a = warmed(c, values)
    b = SeriesState.from_state(a.to_state(), c)
    for v in (0.0, 1e6, -1e6, 5.0):
        ra = evaluate(a, v, c, source="s", subject="m")
        rb = evaluate(b, v, c, source="s", subject="m")
        assert (ra.severity, ra.rebaselined) == (rb.severity, rb.rebaselined)


@pytest.mark.req("NFR-005")
def test_memory_per_series_at_window_100_is_small() -> None:
    c = cfg(window=100, min_samples=20)
    s = warmed(c, [float(i % 7) for i in range(300)])
    assert 800 < s.nbytes() <= 2048
