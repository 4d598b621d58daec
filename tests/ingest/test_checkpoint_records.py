"""A checkpoint's changelog records (NFR-003, NFR-004): plain values that the cyclic collector
leaves alone while they wait for the broker's acknowledgement, each decoding to the state."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import pytest

from dq_monitor.config import parse_config
from dq_monitor.ingest.service import MonitorService
from dq_monitor.monitor.outcome import Outcome
from dq_monitor.state import checkpoint

CONFIG = """
kafka: {bootstrap_servers: "x:9092", input_topics: [in], alert_topic: alerts,
        dead_letter_topic: dead, group_id: g}
sources: [{name: orders, anomaly: {metrics: [revenue, count], min_samples: 5}}]
"""
T0 = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.mark.req("NFR-003", "NFR-004")
def test_checkpoint_records_hold_no_container_the_collector_must_scan() -> None:
    svc = MonitorService(parse_config(CONFIG, env={}))
    monitor = svc.monitor
    monitor.partition_count = 1
    monitor.assign([0], T0)
    out = Outcome()
    for i in range(8):
        t = T0 + timedelta(minutes=i)
        for metric in ("revenue", "count"):
            monitor.on_metric("orders", metric, 100.0 + i % 3, t, {"region": "eu"}, 0, t, t,
                              out)
    records = svc._state_records()
    gc.collect(0)  # a young collection: where untrackable tuples are left alone from then on
    series = [r for r in records if r[1] is not None and r[1].startswith(b"ser")]
    assert len(series) == 2
    assert not any(gc.is_tracked(r) for r in records)
    anomaly = monitor.config.sources[0].anomaly
    assert anomaly is not None
    for _, key, value, partition, headers in series:
        assert partition == 0 and not headers and value is not None and key is not None
        subject = key.decode().rsplit("\x1f", 1)[-1]
        restored = checkpoint.decode(value, anomaly)  # the packed state itself
        assert restored.to_state() == monitor.sources["orders"].series[subject].to_state()
