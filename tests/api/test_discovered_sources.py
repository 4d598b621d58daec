"""FR-024: sources discovered by a pattern are listed by ``/api/v1/sources`` and the status
page beside the named ones, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from dq_monitor.api import FiringView, OperatorApi
from dq_monitor.config import parse_config
from dq_monitor.events import TableUpdate
from dq_monitor.monitor import Monitor
from dq_monitor.telemetry import Telemetry
from tests.api.test_operator import conforms

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

CONFIG = """
kafka: {bootstrap_servers: "127.0.0.1:9", input_topics: [in], alert_topic: a,
        dead_letter_topic: d}
sources:
  - name: warehouse.orders
    freshness: {max_staleness: 1h}
  - match: "shop.*"
    completeness: {min_row_count: 1}
    thresholds: {latency_ms: {fail_above: 500}}
"""


@pytest.mark.req("FR-024", "FR-019")
async def test_discovered_sources_are_listed_with_their_checks() -> None:
    cfg = parse_config(CONFIG, env={})
    core = Monitor(cfg)
    core.assign([0], NOW)
    for name in ("shop.b", "shop.a"):
        core.on_event(TableUpdate(type="table_update", source=name, updated_at=NOW,
                                  row_count=0 if name == "shop.a" else 5),
                      partition=0, kafka_ts=NOW, now=NOW)
    api = OperatorApi(cfg, Telemetry(cfg.telemetry), firing=FiringView(), monitor=core,
                      clock=NOW.timestamp, instance="test-1")
    port = await api.start(port=0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            body = conforms((await client.get("/api/v1/sources")).json(), "sources")
            page = (await client.get("/")).text
    finally:
        await api.aclose()
    listed = {s["name"]: s for s in body["sources"]}
    assert list(listed) == ["warehouse.orders", "shop.a", "shop.b"]
    assert {(c["check"], c["verdict"]) for c in listed["shop.a"]["checks"]} == {
        ("completeness", "FAIL"), ("threshold", "OK")}
    assert {(c["check"], c["verdict"]) for c in listed["shop.b"]["checks"]} == {
        ("completeness", "OK"), ("threshold", "OK")}
    assert 'data-source="shop.a"' in page and 'data-source="shop.b"' in page
