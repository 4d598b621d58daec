"""FR-025 ``POST /-/reload`` over real HTTP, with the real reloader reading a real file: a
valid file is applied to the monitor core and the API (routes, tokens), an invalid one is
refused with every error by path and changes nothing, a ``kafka.*`` change needs a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from dq_monitor.api import FiringView, OperatorApi
from dq_monitor.config import Config, read_config
from dq_monitor.events import TableUpdate
from dq_monitor.monitor import Monitor
from dq_monitor.reload import ConfigReloader
from dq_monitor.telemetry import Telemetry

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

CONFIG = """
kafka: {{bootstrap_servers: "127.0.0.1:9", input_topics: [in], alert_topic: a,
        dead_letter_topic: d, group_id: {group}}}
telemetry: {{api_token: {token}}}
sources:
{sources}
"""
KEEP = "  - name: kept\n    completeness: {min_row_count: 1}\n"
GONE = "  - name: gone\n    completeness: {min_row_count: 1}\n"
NEW = "  - name: new\n    freshness: {max_staleness: 1h}\n"


def write(path: Path, sources: str, token: str = "first-Token-123456",
          group: str = "dq") -> None:
    path.write_text(CONFIG.format(sources=sources, token=token, group=group))


class Running:
    def __init__(self, path: Path) -> None:
        config, digest = read_config(path)
        self.telemetry = Telemetry(config.telemetry)
        self.monitor = Monitor(config)
        self.monitor.assign([0], NOW)
        self.resolved: list[str] = []

        async def monitor_part(new: Config) -> None:
            out = self.monitor.reconfigure(new, NOW)
            self.resolved += [e.alert.source for e in out.alerts]

        self.api = OperatorApi(config, self.telemetry, firing=FiringView(),
                               monitor=self.monitor, clock=NOW.timestamp, instance="test-1")
        self.reloader = ConfigReloader(path, config, digest, self.telemetry,
                                       parts=[monitor_part, self.api.reconfigure])
        self.api.reloader = self.reloader


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Running, httpx.AsyncClient, Path]]:
    path = tmp_path / "dq.yaml"
    write(path, KEEP + GONE)
    r = Running(path)
    r.monitor.on_event(TableUpdate(type="table_update", source="gone", updated_at=NOW,
                                   row_count=0), partition=0, kafka_ts=NOW, now=NOW)
    port = await r.api.start(port=0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        yield r, client, path
    await r.api.aclose()


def auth(token: str = "first-Token-123456") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.req("FR-025", "FR-019")
async def test_a_valid_file_is_applied_sources_and_token_alike(
        running: tuple[Running, httpx.AsyncClient, Path]) -> None:
    r, client, path = running
    before = r.reloader.config_hash
    write(path, KEEP + NEW, token="second-Token-654321")
    answer = await client.post("/-/reload", json={}, headers=auth())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["result"] == "ok" and body["config_hash"] != before
    assert r.resolved == ["gone"]
    names = [s["name"] for s in (await client.get("/api/v1/sources")).json()["sources"]]
    assert names == ["kept", "new"]
    # the new token is the one asked for from now on
    assert (await client.post("/-/reload", json={}, headers=auth())).status_code == 401
    assert (await client.post("/-/reload", json={},
                              headers=auth("second-Token-654321"))).status_code == 200
    page = (await client.get("/")).text
    assert f"configuration sha256 {body['config_hash'][:12]}" in page
    metrics = (await client.get("/metrics")).text
    assert 'dq_config_reloads_total{result="ok"} 2.0' in metrics


@pytest.mark.req("FR-025", "FR-011")
async def test_an_invalid_file_is_refused_with_every_error_by_path_and_nothing_changes(
        running: tuple[Running, httpx.AsyncClient, Path]) -> None:
    r, client, path = running
    before = r.reloader.config_hash
    write(path, KEEP + "  - name: bad\n    anomaly: {metrics: [], window: 1}\n    colour: red\n")
    answer = await client.post("/-/reload", json={}, headers=auth())
    assert answer.status_code == 400
    body = answer.json()
    assert "the running configuration stays" in body["error"]
    assert {e.split(":")[0] for e in body["errors"]} == {
        "sources[1].anomaly.metrics", "sources[1].anomaly.window", "sources[1].colour"}
    assert r.reloader.config_hash == before and set(r.monitor.sources) == {"kept", "gone"}
    assert not r.resolved
    assert 'dq_config_reloads_total{result="invalid"} 1.0' in (
        await client.get("/metrics")).text


@pytest.mark.req("FR-025")
async def test_a_kafka_change_needs_a_restart(
        running: tuple[Running, httpx.AsyncClient, Path]) -> None:
    r, client, path = running
    write(path, KEEP, group="other")
    answer = await client.post("/-/reload", json={}, headers=auth())
    assert answer.status_code == 400
    assert answer.json()["errors"] == ["restart needed: kafka.group_id"]
    assert set(r.monitor.sources) == {"kept", "gone"}


@pytest.mark.req("FR-025", "FR-019")
async def test_reload_is_a_write_authorised_like_every_other(
        running: tuple[Running, httpx.AsyncClient, Path]) -> None:
    _, client, _ = running
    assert (await client.post("/-/reload", json={})).status_code == 401
    assert (await client.get("/-/reload", headers=auth())).status_code == 405
    refused = await client.post("/-/reload", content=b"x", headers={
        **auth(), "Content-Type": "text/plain"})
    assert refused.status_code == 415


@pytest.mark.req("FR-025", "NFR-003")
async def test_a_reload_past_the_per_source_metrics_room_says_a_restart_resizes_them(
        running: tuple[Running, httpx.AsyncClient, Path],
        caplog: pytest.LogCaptureFixture) -> None:
    r, client, path = running
    assert r.telemetry.source_room == 2000
    write(path, KEEP + "  - match: 'team.*'\n    max_sources: 5000\n"
                       "    completeness: {min_row_count: 1}\n")
    with caplog.at_level("WARNING", logger="dq_monitor.reload"):
        answer = await client.post("/-/reload", json={}, headers=auth())
    assert answer.status_code == 200, answer.text
    (warning,) = [rec.getMessage() for rec in caplog.records if rec.levelname == "WARNING"]
    assert "can now watch 5001 sources" in warning and "sized at start-up for 2000" in warning
