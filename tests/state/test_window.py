"""RollingWindow against a from-scratch recomputation, including hard numeric cases."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dq_monitor.state.window import RollingWindow


def exact(values: list[float]) -> tuple[float, float]:
    mean = math.fsum(values) / len(values)
    return mean, math.fsum((v - mean) ** 2 for v in values) / len(values)


def close(a: float, b: float, scale: float, rel: float = 1e-9) -> bool:
    return abs(a - b) <= rel * max(abs(b), scale) + 1e-12


@pytest.mark.req("FR-005")
@given(
    st.integers(min_value=1, max_value=50),
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1,
             max_size=400),
)
def test_matches_recomputation_over_any_sequence(capacity: int, values: list[float]) -> None:
    w = RollingWindow(capacity)
    for i, v in enumerate(values):
        w.push(v)
        kept = values[max(0, i + 1 - capacity): i + 1]
        mean, var = exact(kept)
        assert w.count == len(kept)
        assert w.values() == pytest.approx(kept, rel=1e-12, abs=1e-9)
        spread = max(abs(x) for x in kept)
        assert close(w.mean, mean, spread, 1e-9)
        assert w.variance >= 0.0
        assert abs(w.variance - var) <= 1e-7 * max(var, spread * spread * 1e-6) + 1e-9


@pytest.mark.req("FR-005")
@settings(max_examples=30)
@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
       st.integers(min_value=2, max_value=200))
def test_constant_series_has_zero_variance(level: float, capacity: int) -> None:
    w = RollingWindow(capacity)
    for _ in range(capacity * 3):
        w.push(level)
    assert w.variance == 0.0 and w.std == 0.0
    assert w.mean == level


@pytest.mark.req("FR-005")
def test_stable_over_a_million_updates_of_large_values_with_small_noise() -> None:
    rng = random.Random(3)
    w = RollingWindow(100)
    values = [1e9 + rng.gauss(0.0, 0.5) for _ in range(1_000_000)]
    for v in values:
        w.push(v)
    mean, var = exact(values[-100:])
    assert abs(w.mean - mean) < 1e-6
    assert w.variance == pytest.approx(var, rel=1e-6)


@pytest.mark.req("FR-005")
def test_level_changes_far_from_the_anchor_stay_accurate() -> None:
    rng = random.Random(5)
    w = RollingWindow(50)
    values = [rng.uniform(-1, 1) + (0 if i < 1000 else 1e8) for i in range(5000)]
    for v in values:
        w.push(v)
    mean, var = exact(values[-50:])
    assert w.mean == pytest.approx(mean, rel=1e-12)
    assert w.variance == pytest.approx(var, rel=1e-4)


@pytest.mark.req("FR-014")
def test_reset_and_state_round_trip() -> None:
    w = RollingWindow(5)
    for v in range(20):
        w.push(float(v))
    w.reset([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    assert w.values() == [3.0, 4.0, 5.0, 6.0, 7.0]
    again = RollingWindow.from_state(w.to_state())
    assert again.values() == w.values()
    assert (again.mean, again.variance) == pytest.approx((w.mean, w.variance))
    smaller = RollingWindow.from_state(w.to_state(), capacity=3)
    assert smaller.values() == [5.0, 6.0, 7.0]
    w.clear()
    assert w.count == 0 and w.mean == 0.0 and w.variance == 0.0
    with pytest.raises(ValueError, match="capacity"):
        RollingWindow(0)
