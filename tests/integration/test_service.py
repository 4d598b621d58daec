"""The monitor against a real broker, observed from outside: events in, alert and dead-letter
records out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from dq_monitor.events import parse_rfc3339
from tests.integration.conftest import Kafka, config_for, now_rfc3339, running

pytestmark = pytest.mark.integration

SOURCES = """
  - name: orders
    completeness:
      columns: {customer_id: {max_null_rate: 0.1}}
    anomaly: {metrics: [revenue], window: 20, min_samples: 5}
  - name: clicks
    freshness: {max_staleness: 3s, warn_ratio: 0.5}
"""


def update(source: str, rows: int, nulls: int) -> dict[str, Any]:
    return {"type": "table_update", "source": source, "updated_at": now_rfc3339(),
            "row_count": rows, "null_counts": {"customer_id": nulls}}


def metric(value: float, source: str = "orders") -> dict[str, Any]:
    return {"type": "metric", "source": source, "metric": "revenue", "value": value,
            "ts": now_rfc3339(), "tags": {"region": "eu"}}


def kinds(alerts: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(a["check"], a["source"], a["severity"], a["status"]) for a in alerts]


async def topics(kafka: Kafka, partitions: int = 1) -> None:
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"), partitions=partitions)


@pytest.mark.req("FR-001", "FR-002", "FR-004", "FR-005", "FR-006")
async def test_null_rate_breach_and_spike_reach_the_alert_topic(kafka: Kafka) -> None:
    await topics(kafka)
    cfg = config_for(kafka, SOURCES)
    async with running(cfg):
        await kafka.send(kafka.topic("updates"), update("orders", 1000, 500), key="orders")
        for v in [100, 101, 99, 100, 102, 98, 100]:
            await kafka.send(kafka.topic("metrics"), metric(v), key="orders")
        await kafka.send(kafka.topic("metrics"), metric(400), key="orders")
        records = await kafka.read_records(
            kafka.topic("alerts"),
            lambda rs: sum(1 for r in rs if b'"orders"' in r.value) >= 2)
    alerts = [orjson.loads(r.value) for r in records]
    got = kinds([a for a in alerts if a["source"] == "orders"])
    assert ("completeness", "orders", "FAIL", "firing") in got
    assert ("anomaly", "orders", "FAIL", "firing") in got
    for r in records:
        body = orjson.loads(r.value)
        assert r.key.decode() == body["fingerprint"]
        assert body["requirement"] in ("FR-003", "FR-004", "FR-005")
        detected = parse_rfc3339(body["detected_at"])
        assert isinstance(detected, datetime)


@pytest.mark.req("FR-003", "FR-006", "NFR-001")
async def test_silent_source_warns_fails_on_time_and_resolves(kafka: Kafka) -> None:
    await topics(kafka)
    cfg = config_for(kafka, SOURCES)
    async with running(cfg):
        alerts = await kafka.read(
            kafka.topic("alerts"),
            lambda xs: any(a["source"] == "clicks" and a["severity"] == "FAIL" for a in xs),
            timeout=15)
        fired = [a for a in alerts if a["source"] == "clicks"]
        assert [(a["severity"], a["status"]) for a in fired] == [
            ("WARN", "firing"), ("FAIL", "firing")]
        for a in fired:
            # detected within 1 s of the instant the threshold was crossed
            late = parse_rfc3339(a["detected_at"]) - parse_rfc3339(a["event_time"])
            assert 0 <= late.total_seconds() < 1.0, a
        await kafka.send(kafka.topic("updates"), update("clicks", 10, 0), key="clicks")
        alerts = await kafka.read(
            kafka.topic("alerts"),
            lambda xs: any(a["source"] == "clicks" and a["status"] == "resolved" for a in xs))
    resolved = [a for a in alerts if a["source"] == "clicks" and a["status"] == "resolved"]
    assert [(a["check"], a["severity"]) for a in resolved] == [("freshness", "FAIL")]


MALFORMED: list[bytes | None] = [
    b"this is not json",
    b"\xff\xfe\x00garbage",
    b'{"type": "metric", "source": "orders", "metric": "revenue", "value": "high",'
    b' "ts": "2026-06-26T11:58:00Z"}',
    b'{"type": "metric", "source": "orders", "metric": "revenue", "value": NaN,'
    b' "ts": "2026-06-26T11:58:00Z"}',
    b'{"type": "metric", "source": "orders", "metric": "revenue", "value": 1e999,'
    b' "ts": "2026-06-26T11:58:00Z"}',
    b'{"type": "metric", "source": "orders", "value": 1}',
    b'{"type": "heartbeat", "source": "orders"}',
    b'{"type": "table_update", "source": "orders", "updated_at": "yesterday"}',
    b"[1, 2, 3]",
    None,
]


@pytest.mark.req("FR-012")
async def test_malformed_records_are_dead_lettered_and_processing_goes_on(
    kafka: Kafka,
) -> None:
    await topics(kafka)
    cfg = config_for(kafka, SOURCES.replace("window: 20", "window: 20")).model_copy(
        update={"kafka": config_for(kafka, SOURCES).kafka.model_copy(
            update={"max_event_bytes": 4096})})
    oversized = orjson.dumps({**metric(1), "pad": "x" * 5000})
    async with running(cfg) as service:
        p = await kafka.producer()
        bad = [*MALFORMED, oversized]
        for i, raw in enumerate(bad):
            await p.send_and_wait(kafka.topic("metrics"), raw, key=b"orders")
            await kafka.send(kafka.topic("metrics"), metric(100 + i % 3), key="orders")
        await kafka.send(kafka.topic("metrics"), metric(900), key="orders")
        dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= len(bad))
        alerts = await kafka.read(kafka.topic("alerts"),
                                  lambda xs: any(a["check"] == "anomaly" for a in xs))
    assert len(dead) == len(bad)
    assert all(d["kind"] == "malformed_event" and d["reason"] for d in dead)
    assert all(d["topic"] == kafka.topic("metrics") for d in dead)
    reasons = [d["reason"] for d in dead]
    assert "not valid JSON" in reasons[0] and "not valid UTF-8" in reasons[1]
    assert "field 'value'" in reasons[2] and "field 'metric': missing" in reasons[5]
    assert "unknown event type" in reasons[6] and "empty record" in reasons[9]
    assert "over the 4096-byte limit" in reasons[10]
    assert dead[1]["raw_encoding"] == "base64" and dead[0]["raw"] == "this is not json"
    assert [d["offset"] for d in dead] == sorted(d["offset"] for d in dead)
    assert any(a["check"] == "anomaly" and a["severity"] == "FAIL" for a in alerts)
    assert service.stats["malformed"] == len(bad)


@pytest.mark.req("NFR-004")
async def test_restart_resumes_from_committed_offsets_with_restored_state(kafka: Kafka) -> None:
    await topics(kafka)
    cfg = config_for(kafka, SOURCES)
    async with running(cfg):
        for v in [100, 101, 99, 100, 102, 98, 100]:
            await kafka.send(kafka.topic("metrics"), metric(v), key="orders")
        await kafka.send(kafka.topic("updates"), update("orders", 1000, 500), key="orders")
        await kafka.read(kafka.topic("alerts"),
                         lambda xs: any(a["check"] == "completeness" for a in xs))
    # graceful stop committed everything: a restart re-reads nothing and re-sends nothing,
    # and the anomaly window and the firing completeness alert come back from the changelog
    async with running(cfg):
        await kafka.send(kafka.topic("metrics"), metric(700), key="orders")
        await kafka.send(kafka.topic("updates"), update("orders", 1000, 0), key="orders")
        alerts = await kafka.read(
            kafka.topic("alerts"),
            lambda xs: any(a["check"] == "anomaly" for a in xs)
            and any(a["status"] == "resolved" for a in xs))
    orders = [a for a in alerts if a["source"] == "orders"]
    assert kinds(orders).count(("completeness", "orders", "FAIL", "firing")) == 1
    assert ("anomaly", "orders", "FAIL", "firing") in kinds(orders)
    assert ("completeness", "orders", "FAIL", "resolved") in kinds(orders)


async def committed(kafka: Kafka, group: str, topic: str) -> int:
    """The offset ``group`` has committed on ``topic`` (0 before any commit)."""
    # A consumer that subscribes to nothing does not join the group; it only asks.
    reader = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=group,
                              enable_auto_commit=False)
    await reader.start()
    try:
        offset = await reader.committed(TopicPartition(topic, 0))
    finally:
        await reader.stop()
    return offset or 0


@pytest.mark.req("NFR-003", "NFR-004")
async def test_offsets_are_committed_after_commit_records_not_after_every_batch(
        kafka: Kafka) -> None:
    await topics(kafka)
    cfg = config_for(kafka, SOURCES)
    cfg = cfg.model_copy(update={"kafka": cfg.kafka.model_copy(
        update={"commit_interval": 60.0, "commit_records": 20})})
    topic, group = kafka.topic("metrics"), cfg.kafka.group_id
    async with running(cfg) as service:
        for v in range(10):
            await kafka.send(topic, metric(100 + v % 3), key="orders")
        with anyio.fail_after(15):
            while service.monitor.stats["events.metric"] < 10:
                await anyio.sleep(0.05)
        await anyio.sleep(1.0)  # several loop turns: none of them checkpoints
        assert await committed(kafka, group, topic) == 0
        for v in range(15):
            await kafka.send(topic, metric(100 + v % 3), key="orders")
        with anyio.fail_after(15):
            while (offset := await committed(kafka, group, topic)) < 20:
                await anyio.sleep(0.1)
    assert 20 <= offset <= 25
