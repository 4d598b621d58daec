"""Odd but schema-valid records, then SIGKILL: the restarted process is ready and still alerts
(NFR-006), seen from outside."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from tests.integration.conftest import Kafka, now_rfc3339
from tests.integration.test_process import start, wait_for_line, write_config

pytestmark = pytest.mark.integration


def metric(value: float, ts: str | None = None) -> bytes:
    return orjson.dumps({"type": "metric", "source": "orders", "metric": "revenue",
                         "value": value, "ts": ts or now_rfc3339()})


POISON: list[tuple[str, bytes]] = [
    ("orders", metric(1.7e308)),
    ("orders", metric(-1.7e308)),
    ("orders", metric(100.0, "0001-01-01T00:00:00+01:00")),
    ("orders", metric(100.0, "9999-12-31T23:59:59-01:00")),
]


@pytest.mark.req("NFR-006")
async def test_poison_then_sigkill_restarts_ready_and_still_flags_a_spike(
    kafka: Kafka, tmp_path: Path,
) -> None:
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"))
    config = write_config(tmp_path, kafka)
    proc = start(config, kafka)
    try:
        await wait_for_line(proc, "assigned partitions")
        for i in range(30):
            await kafka.send(kafka.topic("metrics"), metric(100.0 + i % 3), key="orders")
        for key, raw in POISON:
            await kafka.send(kafka.topic("metrics"), raw, key=key)
        # keyed by another source: still judged as the payload's source says
        await kafka.send(kafka.topic("metrics"), metric(101.0), key="somebody-else")
        dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= len(POISON))
        await anyio.sleep(1.0)  # let the batch's checkpoint land
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc = start(config, kafka)
        await wait_for_line(proc, "assigned partitions")
        await kafka.send(kafka.topic("metrics"), metric(10_000.0), key="orders")
        alerts = await kafka.read(kafka.topic("alerts"), lambda xs: len(xs) >= 1, timeout=20)
    finally:
        proc.kill()
        rest = proc.stdout.read() if proc.stdout else ""
    assert "Traceback" not in rest
    reasons: list[Any] = sorted(d["reason"] for d in dead)
    assert [d["kind"] for d in dead] == ["malformed_event"] * len(POISON), reasons
    assert sum("field 'value'" in r for r in reasons) == 2
    assert sum("field 'ts'" in r for r in reasons) == 2
    assert [(a["check"], a["severity"], a["status"], a["observed"]) for a in alerts] == [
        ("anomaly", "FAIL", "firing", 10_000.0)]
