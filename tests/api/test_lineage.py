"""``GET /api/v1/lineage`` over real HTTP: the edges learned from OpenLineage runs, kept in the
changelog and restored (FR-022, for FR-027)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from dq_monitor.api import FiringView, OperatorApi
from dq_monitor.config import parse_config
from dq_monitor.formats import OpenLineageFormat
from dq_monitor.monitor import Monitor, Outcome
from dq_monitor.silence import SilenceBook
from dq_monitor.state.lineage import MAX_UPSTREAM
from dq_monitor.telemetry import Telemetry
from tests.api.test_operator import NOW, conforms
from tests.openlineage_events import dataset, raw, run_event

CONFIG = """
kafka: {bootstrap_servers: "127.0.0.1:9", input_topics: [in], alert_topic: a,
        dead_letter_topic: d, openlineage_topics: [ol]}
telemetry: {http_host: "127.0.0.1"}
sources:
  - name: shop.main.orders
  - name: shop.main.customers
"""


def fed() -> Monitor:
    cfg = parse_config(CONFIG, env={})
    m = Monitor(cfg)
    m.assign([0], NOW - timedelta(hours=1))
    fmt = OpenLineageFormat(cfg)
    events = [
        run_event("COMPLETE", 10, job="shop.customers", inputs=[dataset("shop.raw.customers")],
                  outputs=[dataset("shop.main.customers")]),
        run_event("START", 20, job="shop.orders", inputs=[
            dataset("shop.raw.orders"), dataset("shop.main.customers")],
                  outputs=[dataset("shop.main.orders")]),
    ]
    for event in events:
        out = Outcome()
        for obs in fmt.decode(raw(event), 1 << 20):
            m.on_dataset(obs, 0, NOW, NOW, out)
    return m


@pytest.mark.req("FR-022")
async def test_lineage_lists_each_runs_inputs_to_outputs_edges() -> None:
    cfg = parse_config(CONFIG, env={})
    book = SilenceBook(cfg.kafka)
    book.loaded.set()
    api = OperatorApi(cfg, Telemetry(cfg.telemetry), silences=book, firing=FiringView(),
                      monitor=fed(), clock=NOW.timestamp, instance="test-1")
    port = await api.start(port=0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            body = conforms((await client.get("/api/v1/lineage")).json(), "lineage")
    finally:
        await api.aclose()
    assert body["partitions"] == [0]
    assert [(e["upstream"], e["downstream"], e["job"]) for e in body["edges"]] == [
        ("shop.raw.customers", "shop.main.customers", "dbt/shop.customers"),
        ("shop.main.customers", "shop.main.orders", "dbt/shop.orders"),
        ("shop.raw.orders", "shop.main.orders", "dbt/shop.orders")]
    assert body["edges"][0]["last_seen"] == "2026-06-26T12:00:10.000Z"


@pytest.mark.req("FR-022", "NFR-004")
def test_lineage_is_checkpointed_restored_and_bounded() -> None:
    m = fed()
    restored = Monitor(m.config)
    for p, key, value in m.take_dirty():
        restored.restore(p, key, value, NOW)
    assert {n: sorted(s.upstream) for n, s in restored.sources.items()} == {
        "shop.main.customers": ["shop.raw.customers"],
        "shop.main.orders": ["shop.main.customers", "shop.raw.orders"]}
    fmt = OpenLineageFormat(m.config)
    wide = run_event("COMPLETE", 30, inputs=[dataset(f"raw.t{i}") for i in range(400)],
                     outputs=[dataset("shop.main.orders")])
    for obs in fmt.decode(raw(wide), 1 << 20):
        m.on_dataset(obs, 0, NOW, NOW, Outcome())
    assert len(m.sources["shop.main.orders"].upstream) == MAX_UPSTREAM
