"""When a checkpoint is due (``ingest.cadence``): on schedule, unless it would rewrite a large
fleet's state for few input records."""

from __future__ import annotations

import pytest

from dq_monitor.config import KafkaConfig, parse_config
from dq_monitor.errors import ConfigError
from dq_monitor.ingest.cadence import SMALL, checkpoint_due

pytestmark = pytest.mark.req("NFR-003", "NFR-004")


def kafka(**options: object) -> KafkaConfig:
    base = {"bootstrap_servers": "k:9092", "group_id": "g", "input_topics": ["t"],
            "alert_topic": "a", "dead_letter_topic": "d"}
    return KafkaConfig.model_validate({**base, **options})


def test_nothing_is_due_before_the_interval_or_the_record_bound() -> None:
    cfg = kafka(commit_interval="1s", commit_records=1000)
    assert not checkpoint_due(cfg, 0.5, 999, 10)
    assert checkpoint_due(cfg, 1.0, 0, 10)
    assert checkpoint_due(cfg, 0.1, 1000, 10)


def test_a_small_checkpoint_is_written_on_schedule_whatever_was_read() -> None:
    cfg = kafka(commit_interval="1s")
    assert checkpoint_due(cfg, 1.0, 1, SMALL)


def test_a_large_checkpoint_waits_for_enough_input_per_state_record() -> None:
    cfg = kafka(commit_interval="1s", checkpoint_ratio=8, checkpoint_max_interval="30s")
    changed = 100_000
    assert not checkpoint_due(cfg, 1.0, 35_000, changed)
    assert not checkpoint_due(cfg, 29.9, 8 * changed - 1, changed)
    assert checkpoint_due(cfg, 22.0, 8 * changed, changed)
    # the record bound no longer forces it: the ratio decides, up to the longest interval
    assert not checkpoint_due(cfg, 3.0, 100_000, changed)


def test_a_large_checkpoint_never_waits_past_the_longest_interval() -> None:
    cfg = kafka(commit_interval="1s", checkpoint_ratio=8, checkpoint_max_interval="30s")
    assert checkpoint_due(cfg, 30.0, 10, 100_000)


def test_ratio_zero_keeps_every_checkpoint_on_schedule() -> None:
    cfg = kafka(commit_interval="1s", checkpoint_ratio=0)
    assert checkpoint_due(cfg, 1.0, 10, 100_000)


def test_defaults() -> None:
    cfg = kafka()
    assert cfg.checkpoint_ratio == 8.0
    assert cfg.checkpoint_max_interval == 30.0


def test_invalid_cadence_options_are_named_by_path() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("""
kafka:
  bootstrap_servers: k:9092
  group_id: g
  input_topics: [t]
  alert_topic: a
  dead_letter_topic: d
  checkpoint_ratio: -1
  checkpoint_max_interval: 0s
sources: [{name: s, freshness: {max_staleness: 1h}}]
""", env={})
    text = str(info.value)
    assert "kafka.checkpoint_ratio" in text
    assert "kafka.checkpoint_max_interval" in text
