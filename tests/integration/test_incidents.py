"""Incidents, not alerts (FR-027), from outside: a real broker, the monitor and the router, real
Slack and webhook receivers."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

from dq_monitor.api.operator import OperatorApi
from dq_monitor.config import Config
from dq_monitor.events import Alert
from dq_monitor.routing.router import AlertRouter
from dq_monitor.telemetry import Telemetry
from dq_monitor.testing import HttpReceiver, make_alert
from tests.integration.conftest import Kafka, config_for, now_rfc3339, running, serving
from tests.integration.test_openlineage import NS, client_for

pytestmark = [pytest.mark.integration, pytest.mark.req("FR-027")]

COLUMNS = ("amount", "customer_id", "email")
SOURCES = """
  - name: warehouse.orders
    completeness:
      columns: {amount: {max_null_rate: 0.1}, customer_id: {max_null_rate: 0.1},
                email: {max_null_rate: 0.1}}
"""


def update(nulls: int) -> dict[str, Any]:
    return {"type": "table_update", "source": "warehouse.orders", "updated_at": now_rfc3339(),
            "row_count": 1000, "null_counts": dict.fromkeys(COLUMNS, nulls)}


async def until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.05)


def slack_lines(req: Any) -> list[str]:
    blocks = req.json()["attachments"][0]["blocks"]
    return list(blocks[1]["text"]["text"].splitlines())


async def test_a_load_failing_three_columns_is_one_slack_post_and_one_group_json(
    kafka: Kafka,
) -> None:
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"), partitions=2)
    slack, hook = HttpReceiver(), HttpReceiver()
    cfg = config_for(kafka, SOURCES, f"""
routing:
  group_by: [source]
  group_interval: 1s
  routes: [{{channels: [slack, hook]}}]
channels:
  slack: {{type: slack, webhook_url: "{await slack.start()}/s"}}
  hook: {{type: webhook, url: "{await hook.start()}/h"}}
""")
    async with running(cfg), serving(AlertRouter(cfg)) as router:
        await kafka.send(kafka.topic("updates"), update(500), key="warehouse.orders")
        await until(lambda: len(slack.requests) >= 1 and len(hook.requests) >= 1)
        await anyio.sleep(2)  # anything sent per alert, or as a second message, is in by now
        assert len(slack.requests) == 1 and len(hook.requests) == 1
        lines = slack_lines(slack.requests[0])
        assert len(lines) == 3
        assert all(any(c in line for line in lines) for c in COLUMNS)
        body = hook.requests[0].json()
        assert body["status"] == "firing" and len(body["alerts"]) == 3
        assert {a["subject"] for a in body["alerts"]} == set(COLUMNS)
        key = body["group_key"]

        await kafka.send(kafka.topic("updates"), update(0), key="warehouse.orders")
        await until(lambda: len(slack.requests) >= 2 and len(hook.requests) >= 2)
        await anyio.sleep(2)
        assert len(slack.requests) == 2 and len(hook.requests) == 2
        assert slack.requests[1].json()["attachments"][0]["blocks"][0]["text"]["text"].startswith(
            "RESOLVED")
        resolved = hook.requests[1].json()
        assert resolved["group_key"] == key and resolved["status"] == "resolved"
        assert sorted(a["status"] for a in resolved["alerts"]) == ["resolved"] * 3
        assert router.stats["slack.ok"] == 2 and router.stats["hook.ok"] == 2
    await slack.stop()
    await hook.stop()


def alert_of(source: str, check: str, fp: str, status: str = "firing") -> Alert:
    return make_alert(fp=fp, status=status,  # type: ignore[arg-type]
                      alert_id=f"{check}-{status}").model_copy(
        update={"source": source, "check": check, "subject": None})


def posted(hook: HttpReceiver) -> list[tuple[str, str]]:
    return [(r.json()["check"], r.json()["status"]) for r in hook.requests
            if not r.json()["repeat"]]


async def test_an_inhibition_rule_holds_an_anomaly_while_its_sources_freshness_fails(
    kafka: Kafka,
) -> None:
    hook = HttpReceiver()
    cfg = config_for(kafka, "  - name: warehouse.orders", f"""
routing:
  inhibit:
    - source: {{check: freshness, severity: FAIL}}
      target: {{check: [anomaly, completeness, threshold]}}
      equal: [source]
  routes: [{{channels: [hook]}}]
channels:
  hook: {{type: webhook, url: "{await hook.start()}/h"}}
""", inputs=("in",), group="mon")
    stale = alert_of("warehouse.orders", "freshness", "0a" * 16)
    anomaly = alert_of("warehouse.orders", "anomaly", "0b" * 16)
    other = alert_of("warehouse.items", "anomaly", "0c" * 16)

    async def publish(a: Alert) -> None:
        await kafka.send(kafka.topic("alerts"), a.to_json(), key=a.fingerprint)

    async with serving(AlertRouter(cfg)) as router:
        await publish(stale)
        await until(lambda: posted(hook) == [("freshness", "firing")])
        await publish(anomaly)
        await publish(other)  # another source: not held (equal: [source])
        await until(lambda: router.stats["hook.inhibited"] >= 1 and len(posted(hook)) >= 2)
        await anyio.sleep(1.5)
        assert posted(hook) == [("freshness", "firing"), ("anomaly", "firing")]
        assert hook.requests[1].json()["source"] == "warehouse.items"
        await publish(alert_of("warehouse.orders", "freshness", "0a" * 16, "resolved"))
        await until(lambda: len(posted(hook)) >= 4)
        await anyio.sleep(2.5)  # released once, never again
    await hook.stop()
    assert posted(hook)[2:] == [("freshness", "resolved"), ("anomaly", "firing")]
    assert hook.requests[3].json()["source"] == "warehouse.orders"
    assert router.stats["hook.inhibited"] == 1


LINEAGE_SOURCES = """
  - name: shop.raw.orders
    freshness: {max_staleness: 6s, warn_ratio: 0.9}
  - name: shop.main.revenue
    freshness: {max_staleness: 9s, warn_ratio: 0.9}
"""


def table_update(source: str) -> dict[str, Any]:
    return {"type": "table_update", "source": source, "updated_at": now_rfc3339()}


@pytest.mark.req("FR-022")
async def test_a_stale_upstream_names_its_downstream_and_holds_its_alert(
    kafka: Kafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lineage learned from a real OpenLineage run (raw.orders → main.revenue); both go stale:
    the upstream's notifications name the downstream, whose alerts are on the alert topic but
    never posted alone; once the upstream recovers, the downstream still stale is posted once."""
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"), partitions=2)
    await kafka.create(kafka.topic("openlineage"), partitions=1)
    hook = HttpReceiver()
    cfg = config_for(kafka, LINEAGE_SOURCES, f"""
scheduler: {{sweep_interval: 1s}}
routing:
  routes: [{{channels: [hook]}}]
channels:
  hook: {{type: webhook, url: "{await hook.start()}/h"}}
""", openlineage=("openlineage",))
    client = client_for(kafka, tmp_path, monkeypatch)
    run = RunEvent(eventType=RunState.COMPLETE, eventTime=datetime.now(UTC).isoformat(),
                   run=Run(runId=str(uuid.uuid4())), job=Job(namespace="dbt", name="revenue"),
                   inputs=[InputDataset(namespace=NS, name="shop.raw.orders")],
                   outputs=[OutputDataset(namespace=NS, name="shop.main.revenue")])

    def sent(source: str) -> list[dict[str, Any]]:
        return [r.json() for r in hook.requests if r.json()["source"] == source]

    async with running(cfg), serving(AlertRouter(cfg)) as router, operator_api(cfg) as url:
        await anyio.to_thread.run_sync(client.emit, run)
        # the router learns the edge from the monitor's changelog
        await until(lambda: "shop.raw.orders" in router.learned.graph().get(
            "shop.main.revenue", ()), 10)
        assert hook.requests == []
        for source in ("shop.raw.orders", "shop.main.revenue"):  # both clocks start now
            await kafka.send(kafka.topic("updates"), table_update(source), key=source)
        await until(lambda: router.stats["hook.inhibited"] >= 2)  # its WARN and its FAIL
        firing = sent("shop.raw.orders")
        assert [a["severity"] for a in firing] == ["WARN", "FAIL"]
        assert all("1 downstream: shop.main.revenue" in a["detail"] for a in firing)
        on_topic = await kafka.read(kafka.topic("alerts"), lambda xs: sum(
            a["source"] == "shop.main.revenue" for a in xs) >= 2)
        assert [(a["severity"], a["status"]) for a in on_topic
                if a["source"] == "shop.main.revenue"] == [("WARN", "firing"), ("FAIL", "firing")]
        listed = await anyio.to_thread.run_sync(lambda: cli_json("alerts", "--url", url))
        by_source = {a["source"]: a for a in listed["alerts"]}
        assert by_source["shop.main.revenue"]["inhibited_by"] == firing[0]["fingerprint"]
        assert by_source["shop.raw.orders"]["inhibited_by"] is None
        await anyio.sleep(1.5)
        assert sent("shop.main.revenue") == []  # held, never posted alone
        await kafka.send(kafka.topic("updates"), table_update("shop.raw.orders"),
                         key="shop.raw.orders")
        await until(lambda: len(sent("shop.main.revenue")) >= 1)
        await anyio.sleep(2.5)  # released once, never again
        assert [a["status"] for a in sent("shop.raw.orders")] == ["firing", "firing", "resolved"]
        (downstream,) = sent("shop.main.revenue")
        assert downstream["status"] == "firing" and downstream["severity"] == "FAIL"
        assert not downstream["repeat"]
    await hook.stop()


def cli_json(*args: str) -> Any:
    """``dq-monitor ARGS --output json`` as an operator runs it."""
    done = subprocess.run([sys.executable, "-m", "dq_monitor.cli", *args, "--output", "json"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)


@contextlib.asynccontextmanager
async def operator_api(cfg: Config) -> AsyncIterator[str]:
    """The operator API of ``cfg`` on a free loopback port, following the real topics."""
    api = OperatorApi(cfg, Telemetry(cfg.telemetry))
    port = await api.start("127.0.0.1", 0)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(api.run, stop)
        await until(lambda: api.firing_loaded() and api.acks.loaded.is_set())
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop.set()
            await api.aclose()


def reminders_of(hook: HttpReceiver, severity: str, after: float = 0.0) -> list[float]:
    return [r.at for r in hook.requests if r.json()["repeat"] and r.at > after
            and r.json()["severity"] == severity]


async def test_ack_stops_reminders_until_an_escalation_pages_again(kafka: Kafka) -> None:
    hook = HttpReceiver()
    cfg = config_for(kafka, "  - name: warehouse.orders", f"""
telemetry: {{http_port: 0}}
routing:
  dedup_window: 1s
  routes: [{{channels: [hook]}}]
channels:
  hook: {{type: webhook, url: "{await hook.start()}/h"}}
""", inputs=("in",), group="mon")
    warn = make_alert(severity="WARN", fp="0d" * 16, alert_id="warn")
    fail = make_alert(severity="FAIL", fp="0d" * 16, alert_id="fail").model_copy(
        update={"detected_at": datetime.now(UTC) + timedelta(seconds=60)})
    async with serving(AlertRouter(cfg)) as router, operator_api(cfg) as url:
        await kafka.send(kafka.topic("alerts"), warn.to_json(), key=warn.fingerprint)
        await until(lambda: len(reminders_of(hook, "WARN")) >= 2)  # reminded every second
        acked = await anyio.to_thread.run_sync(
            lambda: cli_json("ack", warn.fingerprint, "--url", url, "-c", "on it"))
        assert acked["fingerprint"] == warn.fingerprint and acked["comment"] == "on it"
        await until(lambda: warn.fingerprint in router.acks.acks)
        at = time.time() + 1.0  # a reminder already queued may still go out
        listed = await anyio.to_thread.run_sync(lambda: cli_json("alerts", "--url", url))
        (shown,) = listed["alerts"]
        assert shown["acknowledged"]["comment"] == "on it"
        await anyio.sleep(3.5)
        assert reminders_of(hook, "WARN", at) == []  # acknowledged: no reminders
    async with serving(AlertRouter(cfg)) as again:  # the acknowledgement survives a restart
        await until(lambda: warn.fingerprint in again.acks.acks)
        await anyio.sleep(3)
        assert reminders_of(hook, "WARN", at) == []
        await kafka.send(kafka.topic("alerts"), fail.to_json(), key=fail.fingerprint)
        await until(lambda: any(r.json()["severity"] == "FAIL" for r in hook.requests))
        await until(lambda: len(reminders_of(hook, "FAIL")) >= 1)  # escalated: pages again
    await hook.stop()
    firsts = [(r.json()["severity"], r.json()["repeat"]) for r in hook.requests
              if not r.json()["repeat"]]
    assert firsts == [("WARN", False), ("FAIL", False)]


async def committed(kafka: Kafka, group: str, topic: str) -> int:
    """The offsets ``group`` committed on ``topic``, summed over its partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        return sum([await consumer.committed(TopicPartition(topic, p)) or 0 for p in parts])
    finally:
        await consumer.stop()


@pytest.mark.req("NFR-008")
async def test_a_group_waiting_pins_no_offset_and_survives_a_restart(kafka: Kafka) -> None:
    """``group_wait`` holds a group's first notification; meanwhile every offset is committed
    (the group is state on the delivery log), and a restarted router sends it once."""
    hook = HttpReceiver()
    cfg = config_for(kafka, "  - name: warehouse.orders", f"""
routing:
  group_by: [source]
  group_wait: 6s
  routes: [{{channels: [hook]}}]
channels:
  hook: {{type: webhook, url: "{await hook.start()}/h"}}
""", inputs=("in",), group="mon")
    fps = ["0a" * 16, "0b" * 16]
    async with serving(AlertRouter(cfg)) as router:
        for fp in fps:
            alert = make_alert(fp=fp, alert_id=f"a-{fp}")
            await kafka.send(kafka.topic("alerts"), alert.to_json(), key=fp)
        await until(lambda: sum(len(g) for g in router.groups.values()) == 1
                    and router.stats["hook.grouped"] == 2)
        await anyio.sleep(1.5)  # commits run after each batch
    router_group = cfg.kafka.router_group
    assert await committed(kafka, router_group, cfg.kafka.alert_topic) == 2
    assert await committed(kafka, f"{router_group}.groups", cfg.kafka.groups) == 2
    assert hook.requests == []  # still waiting
    async with serving(AlertRouter(cfg)) as again:
        await until(lambda: len(hook.requests) >= 1)
        await anyio.sleep(2)
        assert again.stats["hook.grouped"] == 0  # nothing re-read: the offsets were committed
    await hook.stop()
    (note,) = [r.json() for r in hook.requests]
    assert sorted(a["fingerprint"] for a in note["alerts"]) == sorted(fps)
