"""Restoring state survives any state record, and a restore that keeps failing is loud (NFR-006)."""

from __future__ import annotations

import base64
import math
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import orjson
import pytest

from dq_monitor.checks.anomaly import SeriesState, evaluate
from dq_monitor.ingest.service import MonitorService, StateRestoreError
from dq_monitor.kafka import changelog
from dq_monitor.state import checkpoint
from tests.integration.conftest import ORDERS_REVENUE, Kafka, config_for, orders_revenue, running

pytestmark = pytest.mark.integration


@pytest.mark.req("NFR-006")
async def test_unreadable_state_records_are_dead_lettered_and_the_rest_restores(
    kafka: Kafka,
) -> None:
    await kafka.create(kafka.topic("metrics"))
    cfg = config_for(kafka, ORDERS_REVENUE, inputs=("metrics",))
    async with running(cfg) as service:
        for i in range(25):  # warm the series up: min_samples is 20
            await kafka.send(kafka.topic("metrics"), orders_revenue(100 + i % 3), key="orders")
        with anyio.fail_after(20):
            while service.monitor.stats["events.metric"] < 25:
                await anyio.sleep(0.05)
    topic = service.changelog_topic
    junk = [
        (b"ser\x1forders\x1frevenue{x=1}", b"not json"),
        (b"src\x1forders", b'{"watching_since": null}'),
        (b"w\x1forders\x1fanomaly\x1frevenue", b'{"machine": 1, "verdict": []}'),
        (b"\xff\xfe", b"{}"),
        (b"ser\x1forders\x1fother", b"[1, 2]"),
        (b"ser\x1forders\x1frevenue{x=2}", b"DQS\x02cut short"),  # a packed value, broken
        (b"src\x1fpayments", b"DQS\x02"),  # a packed value where only JSON belongs
    ]
    producer = await kafka.producer()
    for key, value in junk:
        await producer.send_and_wait(topic, value, key=key, partition=0)
    # Another instance restarts on the same changelog: ready, and the series is still warm.
    async with running(cfg) as again:
        assert again.is_ready()
        await kafka.send(kafka.topic("metrics"), orders_revenue(10_000), key="orders")
        alerts = await kafka.read(kafka.topic("alerts"), lambda xs: len(xs) >= 1, timeout=15)
        dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= len(junk) - 1)
    assert [(a["check"], a["severity"], a["status"]) for a in alerts] == [
        ("anomaly", "FAIL", "firing")]
    unreadable = [d for d in dead if d["kind"] == "unreadable_state"]
    # every junk record but the watch of a never-alerted series with a valid key is named
    assert len(unreadable) >= len(junk) - 1
    assert all(d["topic"] == topic and d["reason"] for d in unreadable)
    assert again.stats["restore.unreadable"] == len(unreadable)


@pytest.mark.req("NFR-006")
async def test_a_restore_that_keeps_failing_is_not_ready_then_gives_up(
    kafka: Kafka, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await kafka.create(kafka.topic("metrics"))
    cfg = config_for(kafka, ORDERS_REVENUE, inputs=("metrics",))
    attempts = 0

    async def broken(*args: Any, **kwargs: Any) -> int:
        nonlocal attempts
        attempts += 1
        raise OSError("changelog unreachable")

    monkeypatch.setattr(changelog, "restore_state", broken)
    service = MonitorService(cfg)
    service.restore_deadline_s = 3.0
    stop = anyio.Event()
    readiness: list[bool] = []

    async def watch() -> None:
        await service.ready.wait()
        readiness.append(service.is_ready())

    with anyio.fail_after(40):
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            with pytest.raises(StateRestoreError, match="not restored after 3s"):
                await service.run(stop)
    assert readiness == [False]
    assert attempts >= 2 and service.stats["restore.failed"] == attempts


ROBUST = """
  - name: orders
    anomaly: {metrics: [revenue], window: 50, min_samples: 20}
"""


@pytest.mark.req("NFR-001", "NFR-003", "NFR-006")
async def test_packed_series_restore_exactly_and_poisoned_ones_are_dead_lettered(
    kafka: Kafka,
) -> None:
    await kafka.create(kafka.topic("metrics"))
    cfg = config_for(kafka, ROBUST, inputs=("metrics",))
    anomaly = cfg.sources[0].anomaly
    assert anomaly is not None
    async with running(cfg) as service:
        for i in range(40):
            await kafka.send(kafka.topic("metrics"), orders_revenue(100 + (i * 7) % 5),
                             key="orders")
        with anyio.fail_after(20):
            while service.monitor.stats["events.metric"] < 40:
                await anyio.sleep(0.05)
    live = service.monitor.sources["orders"].series["revenue"]
    # A series written by another instance, and two records no config can hold.
    other = SeriesState.new(anomaly)
    for i in range(30):
        evaluate(other, 50.0 + i % 4, anomaly, source="orders", subject="revenue{x=3}",
                 ts=datetime(2026, 1, 5, tzinfo=UTC) + timedelta(minutes=i))
    assert other.streak is None and other.baseline is not None
    raw = checkpoint.pack(other)
    level = 4 + 1 + 8 + 2 + 10 + 33 + 8  # magic, flags, seen, streak, head, run, n
    nan_level = raw[:level] + struct.pack("<d", math.nan) + raw[level + 8:]
    warm = level + 32 + 2 + 2 + 2  # level, trend, var, quantum, counts, kind, no season
    huge_warm = raw[:warm] + (2**32 - 2).to_bytes(4, "little") + raw[warm + 4:]

    def record(packed: bytes) -> bytes:
        return orjson.dumps({checkpoint.FIELD: base64.b64encode(packed).decode()})

    producer = await kafka.producer()
    for subject, value in (("revenue{x=1}", record(nan_level)), ("revenue{x=2}",
                           record(huge_warm)), ("revenue{x=3}", record(raw))):
        await producer.send_and_wait(service.changelog_topic, value,
                                     key=f"ser\x1forders\x1f{subject}".encode(), partition=0)
    async with running(cfg) as again:
        assert again.is_ready()
        series = again.monitor.sources["orders"].series
        assert series["revenue"].to_state() == live.to_state()
        assert set(series) == {"revenue", "revenue{x=3}"}
        assert {k: v for k, v in series["revenue{x=3}"].to_state().items() if k != "seen"} == {
            k: v for k, v in other.to_state().items() if k != "seen"}
        dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= 2)
    unreadable = sorted(d["key"] for d in dead if d["kind"] == "unreadable_state")
    assert unreadable == ["ser\x1forders\x1frevenue{x=1}", "ser\x1forders\x1frevenue{x=2}"]
    assert again.stats["restore.unreadable"] == 2
