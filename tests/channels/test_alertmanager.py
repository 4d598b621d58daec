"""The Alertmanager channel against the real Prometheus Alertmanager (Debian's package): the
alert is read back from its v2 API, firing and then resolved."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from dq_monitor.channels.alertmanager import AlertmanagerChannel, am_alert
from dq_monitor.config import AlertmanagerChannel as AlertmanagerConfig
from dq_monitor.embedded import free_port, wait_for_port
from dq_monitor.testing import make_alert
from tests.tools import require_tool

AM_CONFIG = """
route: {receiver: "null", group_wait: 0s}
receivers: [{name: "null"}]
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    binary = require_tool("prometheus-alertmanager")
    (tmp_path / "am.yml").write_text(AM_CONFIG)
    port = free_port()
    with (tmp_path / "am.log").open("wb") as log:
        proc = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'am.yml'}",
             f"--storage.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def config(url: str) -> AlertmanagerConfig:
    return AlertmanagerConfig.model_validate({
        "type": "alertmanager", "url": url, "labels": {"team": "data"},
        "generator_url": "http://dq-monitor.internal/"})


async def active(url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/api/v2/alerts", params={"active": "true"})
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts


@pytest.mark.req("FR-008")
async def test_alert_fires_and_resolves_in_a_real_alertmanager(alertmanager: str) -> None:
    ch = AlertmanagerChannel("am", config(alertmanager))
    await ch.send(make_alert(), repeat=False)
    got: list[dict[str, Any]] = []

    async def fetch() -> bool:
        got[:] = await active(alertmanager)
        return bool(got)

    for _ in range(50):
        if await fetch():
            break
        await anyio.sleep(0.1)
    (alert,) = got
    assert alert["labels"] == {"alertname": "dq_completeness", "check": "completeness",
                               "source": "warehouse.orders", "subject": "customer_id",
                               "severity": "critical", "team": "data"}
    assert alert["annotations"]["fingerprint"] == "ab" * 16
    assert alert["generatorURL"] == "http://dq-monitor.internal/"
    assert alert["status"]["state"] == "active"
    await ch.send(make_alert(status="resolved"), repeat=False)
    await ch.aclose()
    for _ in range(50):
        if not await fetch():
            break
        await anyio.sleep(0.1)
    assert got == []  # resolved: no longer active in Alertmanager


@pytest.mark.req("FR-008")
def test_firing_ends_after_resolve_timeout_and_resolved_at_its_time() -> None:
    from datetime import UTC, datetime

    cfg = config("http://am")
    now = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)
    assert am_alert(make_alert(), cfg, now)["endsAt"] == "2026-06-26T13:00:00.000Z"
    resolved = am_alert(make_alert(status="resolved"), cfg, now)
    assert resolved["endsAt"] == "2026-06-26T11:58:01.000Z"
    assert resolved["startsAt"] == "2026-06-26T11:58:00.000Z"
