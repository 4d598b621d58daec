"""FR-028 from outside: a third-party producer (Debian's ``kcat``, librdkafka, CRC32
partitioning) writes JSON orders to a 3-partition topic that two dq-monitor instances observe
with no instrumentation; what happens to the stream reaches the alert topic once."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import confluent_kafka
import orjson
import pytest

from tests.integration.conftest import Kafka, config_for, running
from tests.tools import require_tool

pytestmark = pytest.mark.integration

WINDOW_S = 2.0
SOURCES = """
  - name: stream.orders
    freshness: {max_staleness: 10s}
    completeness: {columns: {customer_id: {max_null_rate: 0.1}}}
    thresholds: {records: {fail_below: 20}}
"""


def observe_yaml(kafka: Kafka) -> str:
    return f"""
observe:
  - topic: {kafka.topic("orders")}
    source: stream.orders
    window: 2s
    grace: 500ms
    fields: [order_id, customer_id, amount]
"""


def librdkafka_dir(tmp: Path) -> Path:
    """A directory holding ``librdkafka.so.1`` from the confluent-kafka wheel (a test extra).

    Debian bookworm's kcat links librdkafka 2.0.2, which cannot read the embedded broker's
    ApiVersions v3 response (a tagged field it misparses: "Read underflow"); against Apache
    Kafka it works as installed. The same kcat binary on a current librdkafka is still a
    third-party librdkafka producer with CRC32 partitioning, which is what this test needs."""
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    [lib] = libs.glob("librdkafka*.so*")
    tmp.mkdir(parents=True, exist_ok=True)
    link = tmp / "librdkafka.so.1"
    if not link.exists():
        link.symlink_to(lib)
    return tmp


class Kcat:
    """One ``kcat -P`` process fed line by line (key, tab, value), as a pipeline writes."""

    def __init__(self, bootstrap: str, topic: str, libdir: Path) -> None:
        self.proc = subprocess.Popen(
            [require_tool("kcat"), "-P", "-b", bootstrap, "-t", topic, "-K", "\t",
             "-X", "linger.ms=5"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, "LD_LIBRARY_PATH": str(libdir)})
        self.sent = 0

    def write(self, records: list[tuple[str, bytes]]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"".join(k.encode() + b"\t" + v + b"\n" for k, v in records))
        self.proc.stdin.flush()
        self.sent += len(records)

    def close(self) -> str:
        _, err = self.proc.communicate(timeout=20)  # closes stdin: kcat flushes and exits
        assert self.proc.returncode == 0, err.decode(errors="replace")
        return err.decode(errors="replace")


@contextlib.contextmanager
def kcat(bootstrap: str, topic: str, libdir: Path) -> Iterator[Kcat]:
    writer = Kcat(bootstrap, topic, libdir)
    try:
        yield writer
    finally:
        if writer.proc.poll() is None:
            writer.close()


def order(i: int, *, null_customer: bool = False, amount_text: bool = False) -> tuple[str,
                                                                                     bytes]:
    amount: Any = f"{10 + i % 7}.5" if amount_text else 10 + i % 7 + 0.5
    return f"o{i}", orjson.dumps({"order_id": i, "customer_id": None if null_customer else
                                  f"c{i % 50}", "amount": amount,
                                  "shipping": {"country": "FR"}})


async def stream(writer: Kcat, seconds: float, per_window: int, start: int, *,
                 garbage: int = 0, **kinds: bool) -> int:
    """Write ``per_window`` orders per window for ``seconds``, ten writes per window; with
    ``null_customer``, 4 orders in 10 have no customer; ``garbage`` non-JSON records at once
    early in a window (so they all land in one)."""
    ticks = round(seconds / WINDOW_S * 10)
    per_tick = per_window / 10
    due, i = 0.0, start
    for _ in range(ticks):
        if garbage and time.time() % WINDOW_S < 0.3:
            writer.write([(f"x{n}", b"this is not JSON") for n in range(garbage)])
            garbage = 0
        due += per_tick
        batch = []
        while i - start < int(due):
            null = kinds.get("null_customer", False) and i % 10 < 4
            batch.append(order(i, null_customer=null,
                               amount_text=kinds.get("amount_text", False)))
            i += 1
        if batch:
            writer.write(batch)
        await anyio.sleep(WINDOW_S / 10)
    return i


async def after_window_start() -> None:
    """Sleep until 0.1 s into the next window."""
    now = time.time()
    await anyio.sleep(WINDOW_S - now % WINDOW_S + 0.1)


def firing(alerts: list[dict[str, Any]]) -> Counter[tuple[str, str | None, str]]:
    return Counter((a["check"], a["subject"], a["severity"]) for a in alerts
                   if a["status"] == "firing" and a["source"] == "stream.orders")


@pytest.mark.req("FR-028", "FR-016", "FR-003", "FR-004", "FR-023", "FR-026")
async def test_two_instances_observe_a_kcat_stream_and_alert_once(kafka: Kafka,
                                                                 tmp_path: Path) -> None:
    orders = kafka.topic("orders")
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"), partitions=2)
    await kafka.create(orders, partitions=3)
    cfg = config_for(kafka, SOURCES, observe_yaml(kafka))
    async with running(cfg) as a, running(cfg) as b:
        with anyio.fail_after(40):
            while not (a.monitor.owned and b.monitor.owned and a.observer.reading
                       and b.observer.reading):
                await anyio.sleep(0.1)
        assert {tp.partition for tp in [*a.observer.reading, *b.observer.reading]} == {0, 1, 2}
        with kcat(kafka.bootstrap, orders, librdkafka_dir(tmp_path / "lib")) as writer:
            await after_window_start()  # no short first window
            i = await stream(writer, 8, 60, 0, garbage=3)  # healthy: 60 orders a window
            i = await stream(writer, 4, 60, i, null_customer=True)  # 40% null customers
            i = await stream(writer, 4, 60, i)
            i = await stream(writer, 4, 60, i, amount_text=True)  # amount: number → string
            i = await stream(writer, 6, 6, i, amount_text=True)  # a tenth of the rate
        # the stream stops: freshness fails 10 s after the newest record
        alerts = await kafka.read(
            kafka.topic("alerts"),
            lambda xs: firing(xs)[("freshness", None, "FAIL")] > 0, timeout=40)
        await anyio.sleep(3)  # anything sent twice would arrive by now
        alerts = await kafka.read(kafka.topic("alerts"), lambda xs: len(xs) >= len(alerts))
        dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) > 0, timeout=5)
    fired = firing(alerts)
    for key in (("completeness", "customer_id", "FAIL"), ("schema", None, "WARN"),
                ("threshold", "records", "FAIL"), ("freshness", None, "FAIL")):
        assert fired[key] == 1, (key, fired, alerts)
    schema = next(x for x in alerts if x["check"] == "schema" and x["status"] == "firing")
    assert "amount re-typed number" in schema["detail"]
    # the three non-JSON records: one dead letter for their window, none one by one
    assert [d["kind"] for d in dead] == ["malformed_records"], dead
    assert dead[0]["count"] == 3 and dead[0]["topic"] == orders
    stats = a.stats + b.stats
    assert stats[f"consumed.{orders}"] == i + 3
