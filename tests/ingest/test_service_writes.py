"""NFR-008 / NFR-004: the monitor's write path when the cluster refuses for good, with a
producer that refuses on demand (tests/integration/test_write_failures.py drives the real
broker; authorisation refusals cannot be provoked there, the embedded broker has no ACLs)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from aiokafka import errors as ke

from dq_monitor.config import parse_config
from dq_monitor.ingest.service import MonitorService, Record
from dq_monitor.telemetry import Telemetry

CONFIG = """
kafka: {bootstrap_servers: "x:9092", input_topics: [in], alert_topic: alerts,
        dead_letter_topic: dead, group_id: g}
sources: [{name: orders, freshness: {max_staleness: 1h}}]
"""


class Producer:
    """Acknowledges every record, except: topics in ``refused`` are not authorised, and the
    next ``timeouts`` acknowledgements time out."""

    def __init__(self) -> None:
        self.refused: set[str] = set()
        self.timeouts = 0
        self.sent: list[tuple[str, bytes | None]] = []

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                   partition: int | None = None, headers: Any = None,
                   timestamp_ms: int | None = None) -> asyncio.Future[Any]:
        if topic in self.refused:
            raise ke.TopicAuthorizationFailedError(topic)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.timeouts:
            self.timeouts -= 1
            fut.set_exception(ke.KafkaTimeoutError())
        else:
            self.sent.append((topic, value))
            fut.set_result(None)
        return fut


def service() -> tuple[MonitorService, Producer, Telemetry]:
    telemetry = Telemetry(parse_config(CONFIG, env={}).telemetry)
    svc = MonitorService(parse_config(CONFIG, env={}), telemetry=telemetry)
    producer = Producer()
    svc._producer = producer
    return svc, producer, telemetry


def alert(n: int) -> Record:
    return ("alerts", f"fp{n}".encode(), orjson.dumps({"n": n}), None, [])


@pytest.mark.req("NFR-008", "NFR-006")
async def test_a_topic_refused_for_good_is_dead_lettered_and_not_ready_until_it_takes_writes(
) -> None:
    svc, producer, telemetry = service()
    producer.refused.add("alerts")
    records = [alert(1), ("g.changelog", b"src", b"{}", 0, [])]
    refused = await svc._write_all(records)
    assert [i for i, _ in refused] == [0]
    assert telemetry.readiness() == (False, {"monitor": False, "monitor.writes": False})
    assert svc.writes.refused == {"alerts": "TopicAuthorizationFailedError: alerts"}
    await svc._refused(records, refused)
    [value] = [v for t, v in producer.sent if t == "dead"]
    letter = orjson.loads(value or b"")
    assert letter["kind"] == "unwritable_record" and letter["topic"] == "alerts"
    assert letter["reason"] == "TopicAuthorizationFailedError: alerts"
    assert letter["value"] == '{"n":1}' and letter["key"] == "fp1"
    assert svc.stats["unwritable.dead_lettered"] == 1 and svc.stats["dead_lettered"] == 1
    text = telemetry.metrics_text().decode()
    assert ('dq_unwritable_records_total{action="dead_lettered",'
            'error="TopicAuthorizationFailedError",topic="alerts"} 1.0') in text
    # the ACL is fixed: the next alert is written and the service is ready again
    producer.refused.clear()
    assert await svc._write_all([alert(2)]) == []
    assert svc.writes.ready()
    await telemetry.aclose()


@pytest.mark.req("NFR-008", "NFR-006")
async def test_state_refused_for_good_is_skipped_and_a_lost_dead_letter_is_counted() -> None:
    svc, producer, telemetry = service()
    producer.refused |= {"g.changelog", "dead"}
    records = [("g.changelog", b"src", b"{}", 0, []), alert(1)]
    refused = await svc._write_all(records)
    assert [i for i, _ in refused] == [0]
    await svc._refused(records, refused)
    assert svc.stats["unwritable.skipped"] == 1
    assert ("alerts", orjson.dumps({"n": 1})) in producer.sent
    # an alert refused while the dead-letter topic is refused too: dropped, counted, no stall
    producer.refused.add("alerts")
    refused = await asyncio.wait_for(svc._write_all([alert(2)]), 5)
    await asyncio.wait_for(svc._refused([alert(2)], refused), 5)
    assert svc.stats["unwritable.dropped"] == 1
    assert not svc.writes.ready()
    await telemetry.aclose()


@pytest.mark.req("NFR-008", "NFR-004")
async def test_an_outage_is_retried_resending_everything_in_order_but_the_refused() -> None:
    svc, producer, telemetry = service()
    producer.refused.add("g.repartition")
    producer.timeouts = 1  # the first acknowledgement times out: retried, not refused
    records = [alert(1), ("g.repartition", b"orders", b"{}", 0, []), alert(2)]
    refused = await asyncio.wait_for(svc._write_all(records), 10)
    assert [i for i, _ in refused] == [1]
    # the first round's second alert and then both alerts again, in order: a duplicate is
    # allowed (same fingerprint), a firing written after its resolve is not
    assert [orjson.loads(v or b"")["n"] for _, v in producer.sent] == [2, 1, 2]
    await telemetry.aclose()
