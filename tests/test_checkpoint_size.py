"""NFR-008: the bound the config loader uses holds against the checkpoint codec's real output."""

from __future__ import annotations

import random
from array import array

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from dq_monitor.checkpoint_size import series_record_bound
from dq_monitor.checks.anomaly import SeriesState, series_key
from dq_monitor.config import AnomalyConfig
from dq_monitor.events import MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS
from dq_monitor.monitor.dispatch import SEP
from dq_monitor.state import checkpoint
from tests.state.test_checkpoint import fed

SOURCE, METRIC = "warehouse.orders", "revenue_usd"
#: The widest tags an event may carry, in 4-byte UTF-8 characters.
TAGS = {f"{i:02d}" + "\U0001f600" * (MAX_TAG_KEY - 2): "\U0001f600" * MAX_TAG_VALUE
        for i in range(MAX_TAGS)}


def record_size(state: SeriesState) -> int:
    """What the producer counts for this series' changelog record, with the widest key."""
    key = f"ser{SEP}{SOURCE}{SEP}{series_key(SOURCE, METRIC, TAGS)}".encode()
    value = checkpoint.encode(state)  # the changelog value itself
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, [])
    return size


def bound_of(c: AnomalyConfig) -> int:
    return series_record_bound(source=SOURCE, metric=METRIC, baseline=c.baseline,
                               window=c.window, min_samples=c.min_samples,
                               rebaseline_after=c.rebaseline_after,
                               max_event_bytes=1024 * 1024).total


def with_streak(state: SeriesState, c: AnomalyConfig) -> SeriesState:
    """The longest streak a checkpoint can hold: one short of a rebaseline."""
    state.streak = array("d", (random.uniform(-1e150, 1e150)
                               for _ in range(c.rebaseline_after - 1)))
    state.streak_sign = 1
    return state


@pytest.mark.req("NFR-008", "NFR-005")
@pytest.mark.parametrize("window", [2, 100, 5000, 100_000])
def test_a_full_rolling_window_stays_within_the_bound(window: int) -> None:
    c = AnomalyConfig.model_validate({"metrics": [METRIC], "baseline": "rolling",
                                      "window": window, "min_samples": 2,
                                      "rebaseline_after": 50})
    state = SeriesState.new(c)
    assert state.window is not None
    for _ in range(window + 3):
        state.window.push(random.uniform(-1e150, 1e150))
    size, bound = record_size(with_streak(state, c)), bound_of(c)
    assert size <= bound
    assert bound - size < 256 + size // 100  # tight: the config is refused only near the limit


@pytest.mark.req("NFR-008", "NFR-005")
@pytest.mark.parametrize("seasonality", ["auto", "hour_of_week"])
def test_a_robust_series_stays_within_the_bound(seasonality: str) -> None:
    c = AnomalyConfig.model_validate({"metrics": [METRIC], "window": 500, "min_samples": 400,
                                      "seasonality": seasonality, "rebaseline_after": 30})
    warming = with_streak(fed(c, 399), c)  # every warm-up value kept
    assert warming.baseline is not None and warming.baseline.warm is not None
    learnt = with_streak(fed(c, 20_000, step=3600.0), c)
    bound = bound_of(c)
    assert record_size(warming) <= bound
    assert record_size(learnt) <= bound


@pytest.mark.req("NFR-008")
def test_the_bound_allows_for_every_statistic_the_codec_writes() -> None:
    from dq_monitor.checks.anomaly import STATS

    assert STATS <= 16  # the bound's allowance (checkpoint_size imports nothing of the core)
