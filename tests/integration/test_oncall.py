"""For the people on call, from outside: ``dq-monitor`` processes, the CLI against their
operator API, a Slack-shaped receiver, and the status page in a real headless Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from dq_monitor.embedded import free_port
from dq_monitor.testing import HttpReceiver, eventually
from tests.faults.harness import Service, services
from tests.integration.conftest import HEARTBEAT, SESSION_TIMEOUT, Kafka, now_rfc3339
from tests.tools import require_tool

pytestmark = pytest.mark.integration


def config_text(kafka: Kafka, port: int, sources: Sequence[str], channels: str = "") -> str:
    listed = "\n".join(
        f"  - name: {name}\n    completeness: {{columns: {{customer_id: {{max_null_rate: 0.1}}}}}}"
        for name in sources)
    return f"""
kafka:
  bootstrap_servers: "{kafka.bootstrap}"
  group_id: {kafka.prefix}-mon
  input_topics: [{kafka.topic("updates")}]
  alert_topic: {kafka.topic("alerts")}
  dead_letter_topic: {kafka.topic("dead")}
  session_timeout: {SESSION_TIMEOUT}
  heartbeat_interval: {HEARTBEAT}
telemetry: {{http_port: {port}}}
sources:
{listed}
{channels}
"""


def cli(*args: str) -> str:
    """Run ``dq-monitor ARGS`` as an operator would; its stdout (fails on a non-zero exit)."""
    done = subprocess.run([sys.executable, "-m", "dq_monitor.cli", *args], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def cli_json(*args: str) -> Any:
    return orjson.loads(cli(*args, "--output", "json"))


def update(source: str, nulls: int) -> dict[str, Any]:
    return {"type": "table_update", "source": source, "updated_at": now_rfc3339(),
            "row_count": 100, "null_counts": {"customer_id": nulls}}


async def delivered(port: int, outcome: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    return sum(float(m.group(1)) for m in re.finditer(
        rf'dq_deliveries_total{{[^}}]*outcome="{outcome}"[^}}]*}} (\S+)', text))


def dump_dom(url: str) -> str:
    """The page as headless Chromium rendered it."""
    browser = require_tool("chromium-headless-shell")
    done = subprocess.run([browser, "--no-sandbox", "--disable-gpu", "--dump-dom", url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.req("FR-018", "FR-019")
async def test_a_silence_holds_pages_survives_a_restart_and_its_expiry_delivers_once(
        kafka: Kafka, tmp_path: Path) -> None:
    await kafka.create(kafka.topic("updates"), kafka.topic("alerts"))
    slack = HttpReceiver()
    hook = await slack.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = tmp_path / "config.yaml"
    config.write_text(config_text(kafka, port, ["warehouse.orders", "sales.daily"], f"""
routing:
  routes: [{{channels: [slack]}}]
channels:
  slack: {{type: slack, webhook_url: "{hook}/slack"}}
"""))
    service = Service(config, tmp_path / "service.log").start()
    with services(service):
        await service.wait_for("router ready")
        await service.wait_for("assigned partitions")
        silence_id = cli("silence", "add", "--url", url, "--source", "warehouse.*",
                         "--check", "completeness", "--for", "2h", "--comment", "backfill",
                         "--author", "ana").strip()
        for source in ("warehouse.orders", "sales.daily"):
            await kafka.send(kafka.topic("updates"), update(source, 40), key=source)
        # the unsilenced source pages; the silenced one is on the alert topic, not in Slack
        await eventually(lambda: len(slack.requests) >= 1)
        alerts = await kafka.read(kafka.topic("alerts"), lambda v: len(v) >= 2)
        assert {(a["source"], a["status"]) for a in alerts} == {
            ("warehouse.orders", "firing"), ("sales.daily", "firing")}
        assert await delivered(port, "silenced") == 1
        firing = cli_json("alerts", "--url", url)["alerts"]
        assert {(a["source"], tuple(a["silenced_by"])) for a in firing} == {
            ("warehouse.orders", (silence_id,)), ("sales.daily", ())}
        table = cli("alerts", "--url", url)
        assert "2 firing" in table and "warehouse.orders" in table and silence_id[:8] in table

        # the status page, rendered by a real browser
        dom = dump_dom(url + "/")
        assert "2 alerts firing" in dom
        assert re.search(r'class="alert" data-fingerprint="[0-9a-f]+"><td class="sev FAIL">'
                         r"FAIL</td><td>completeness</td><td>warehouse\.orders</td>", dom)
        assert f"silenced by {silence_id}" in dom
        assert 'data-source="sales.daily"' in dom and f'data-id="{silence_id}"' in dom

        service.stop()  # a restart keeps the silence, and the hold (from the delivery log)
        service.start()
        await service.wait_for("router ready")
        assert "1 held)" in service.text()  # restored, not re-read: its offset was committed
        listed = cli_json("silence", "list", "--url", url)["silences"]
        assert [(s["id"], s["state"], s["source"]) for s in listed] == [
            (silence_id, "active", "warehouse.*")]
        await anyio.sleep(2.5)  # release checks run every second: the silence still holds it
        assert [r.json()["text"] for r in slack.requests if "warehouse" in r.json()["text"]] == []

        assert cli("silence", "expire", "--url", url, silence_id).strip() == \
            f"expired {silence_id}"
        await eventually(lambda: any("warehouse.orders" in r.json()["text"]
                                     for r in slack.requests))
        await anyio.sleep(2.5)  # release checks run every second: no second delivery
        pages = [r.json()["text"] for r in slack.requests]
        assert len([p for p in pages if "warehouse.orders" in p]) == 1
        assert len([p for p in pages if "sales.daily" in p]) == 1
        assert cli_json("silence", "list", "--url", url)["silences"] == []
        expired = cli_json("silence", "list", "--url", url, "--expired")["silences"]
        assert [s["state"] for s in expired] == ["expired"]
    await slack.stop()


@pytest.mark.req("FR-019")
async def test_either_instance_of_a_deployment_lists_exactly_what_fires(
        kafka: Kafka, tmp_path: Path) -> None:
    await kafka.create(kafka.topic("updates"), kafka.topic("alerts"), partitions=2)
    sources = [f"s{i}" for i in range(8)]
    ports = [free_port(), free_port()]
    instances = []
    for i, port in enumerate(ports):
        config = tmp_path / f"config-{i}.yaml"
        config.write_text(config_text(kafka, port, sources))
        instances.append(Service(config, tmp_path / f"service-{i}.log"))
    with services(*instances):
        for s in instances:
            s.start()
        with anyio.fail_after(60):  # the group has settled: each source owned exactly once
            while True:
                owned = [await owned_sources(p) for p in ports]
                if all(owned) and sorted(owned[0] + owned[1]) == sources:
                    break
                await anyio.sleep(0.5)
        for source in sources[:5]:
            await kafka.send(kafka.topic("updates"), update(source, 40), key=source)
        for source in sources[3:5]:  # two recover again
            await kafka.send(kafka.topic("updates"), update(source, 0), key=source)
        await kafka.read(kafka.topic("alerts"), lambda v: len(v) >= 7, timeout=30)
        expected = {"s0", "s1", "s2"}
        for port in ports:
            url = f"http://127.0.0.1:{port}"
            with anyio.fail_after(20):
                while {a["source"] for a in cli_json("alerts", "--url", url)["alerts"]} \
                        != expected:
                    await anyio.sleep(0.3)
            listed = cli_json("alerts", "--url", url)["alerts"]
            assert sorted(a["source"] for a in listed) == sorted(expected)  # once each


async def owned_sources(port: int) -> list[str]:
    try:
        async with httpx.AsyncClient() as client:
            body = (await client.get(f"http://127.0.0.1:{port}/api/v1/sources")).json()
    except httpx.HTTPError:
        return []  # not serving yet
    return [s["name"] for s in body["sources"] if s["owned"]]
