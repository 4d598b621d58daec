"""The operator API over real HTTP, without Kafka: auth, errors, and the views it serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import jsonschema
import orjson
import pytest

from dq_monitor.api import FiringView, OperatorApi
from dq_monitor.config import parse_config
from dq_monitor.events import TableUpdate
from dq_monitor.monitor import Monitor
from dq_monitor.silence import SilenceBook, SilenceRequest
from dq_monitor.telemetry import Telemetry
from dq_monitor.testing import make_alert

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
TOKEN = "s3cret-0123456789abcdef"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def conforms(body: Any, name: str) -> Any:
    """``body``, after checking it against the committed ``schemas/api-NAME.schema.json``."""
    jsonschema.validate(body, orjson.loads((SCHEMAS / f"api-{name}.schema.json").read_bytes()))
    return body

CONFIG = """
kafka: {{bootstrap_servers: "127.0.0.1:9", input_topics: [in], alert_topic: a,
        dead_letter_topic: d}}
telemetry: {{http_host: "{host}", api_token: {token}}}
sources:
  - name: warehouse.orders
    freshness: {{max_staleness: 10m}}
    completeness: {{columns: {{customer_id: {{max_null_rate: 0.1}}}}}}
  - name: sales.daily
    freshness: {{max_staleness: 1h}}
"""


async def api_client(host: str = "127.0.0.1", token: str = "null",
                     monitor: bool = False) -> tuple[OperatorApi, httpx.AsyncClient]:
    cfg = parse_config(CONFIG.format(host=host, token=token), env={"TOKEN": TOKEN})
    firing = FiringView()
    firing.apply(make_alert(fp="0a" * 16))
    book = SilenceBook(cfg.kafka)
    book.loaded.set()  # nothing on the (absent) topic
    book.set.put(SilenceRequest(source="warehouse.*", created_by="ana", comment="backfill",
                                duration="2h").create(NOW - timedelta(minutes=5)))
    core = None
    if monitor:
        core = Monitor(cfg)
        core.assign([0], NOW - timedelta(minutes=30))
        core.on_event(TableUpdate(type="table_update", source="warehouse.orders",
                                  updated_at=NOW - timedelta(minutes=3), row_count=100,
                                  null_counts={"customer_id": 40}),
                      partition=0, kafka_ts=NOW - timedelta(minutes=3),
                      now=NOW - timedelta(minutes=3))
    api = OperatorApi(cfg, Telemetry(cfg.telemetry), silences=book, firing=firing,
                      monitor=core, clock=NOW.timestamp, instance="test-1")
    port = await api.start(port=0)
    return api, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")


@pytest.fixture
async def loopback() -> AsyncIterator[httpx.AsyncClient]:
    api, client = await api_client(monitor=True)
    async with client:
        yield client
    await api.aclose()


@pytest.mark.req("FR-019")
async def test_firing_alerts_show_which_silence_holds_them(loopback: httpx.AsyncClient) -> None:
    body = conforms((await loopback.get("/api/v1/alerts")).json(), "alerts")
    assert body["instance"] == "test-1"
    [alert] = body["alerts"]
    assert alert["fingerprint"] == "0a" * 16 and alert["severity"] == "FAIL"
    assert alert["since"] == "2026-06-26T11:58:00.000Z"
    listed = conforms((await loopback.get("/api/v1/silences")).json(), "silences")["silences"]
    one = (await loopback.get(f"/api/v1/silences/{listed[0]['id']}")).json()
    assert conforms(one, "silence") == listed[0]
    assert [s["state"] for s in listed] == ["active"]
    assert alert["silenced_by"] == [listed[0]["id"]]


@pytest.mark.req("FR-019")
async def test_sources_show_staleness_and_check_states_of_owned_and_other_sources(
        loopback: httpx.AsyncClient) -> None:
    body = conforms((await loopback.get("/api/v1/sources")).json(), "sources")
    assert body["partitions"] == [0]
    by_name = {s["name"]: s for s in body["sources"]}
    orders = by_name["warehouse.orders"]
    assert orders["owned"] is True and orders["staleness_s"] == 180.0
    assert orders["max_staleness_s"] == 600.0
    assert orders["last_update"] == "2026-12-03T08:57:00.000Z"
    states = {(c["check"], c["subject"]): (c["verdict"], c["firing"]) for c in orders["checks"]}
    assert states[("completeness", "customer_id")] == ("FAIL", "FAIL")
    assert states[("freshness", None)] == ("OK", None)
    daily = by_name["sales.daily"]
    assert daily["owned"] is True and daily["last_update"] is None


@pytest.mark.req("FR-019")
@pytest.mark.parametrize(("method", "path", "body", "status", "reason"), [
    ("GET", "/api/v1/nothing", None, 404, "no such endpoint"),
    ("PUT", "/api/v1/alerts", b"{}", 405, "PUT is not allowed"),
    ("POST", "/api/v1/silences", b"{broken", 400, "Invalid JSON"),
    ("POST", "/api/v1/silences", b'{"comment": "x", "created_by": "y", "duration": "1h"}',
     400, "at least one of source"),
    ("POST", "/api/v1/silences", b'{"source": "a", "comment": "x", "duration": "1h"}',
     400, "created_by: Field required"),
    ("POST", "/api/v1/silences",
     b'{"source": "a", "comment": "x", "created_by": "y", "ends_at": "2020-01-01T00:00:00Z"}',
     400, "in the past"),
    ("DELETE", "/api/v1/silences/no-such-id", None, 404, "no such silence"),
    ("GET", "/api/v1/silences/no-such-id", None, 404, "no such silence"),
])
async def test_bad_requests_get_a_4xx_with_a_reason(
        loopback: httpx.AsyncClient, method: str, path: str, body: bytes | None, status: int,
        reason: str) -> None:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    response = await loopback.request(method, path, content=body, headers=headers)
    assert response.status_code == status
    assert reason in conforms(response.json(), "error")["error"]
    assert "Traceback" not in response.text


@pytest.mark.req("FR-019")
async def test_a_malformed_or_oversized_request_is_answered_not_dropped(
        loopback: httpx.AsyncClient) -> None:
    too_big = await loopback.post("/api/v1/silences", content=b"x" * 70_000)
    assert too_big.status_code == 413 and "too large" in too_big.json()["error"]
    port = loopback.base_url.port
    assert port is not None
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(b"NONSENSE\r\n\r\n")
        answer = await stream.receive()
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.0 400"))
    assert b"malformed request line" in answer


@pytest.mark.req("FR-019")
async def test_writes_need_the_bearer_token_when_one_is_configured() -> None:
    api, client = await api_client(token='"${TOKEN}"')
    try:
        async with client:
            silence_id = (await client.get("/api/v1/silences")).json()["silences"][0]["id"]
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                refused = await client.delete(f"/api/v1/silences/{silence_id}", headers=headers)
                assert refused.status_code == 401
                assert refused.headers["www-authenticate"].startswith("Bearer")
                assert TOKEN not in refused.text
            # reads need no token
            assert (await client.get("/api/v1/alerts")).status_code == 200
    finally:
        await api.aclose()


@pytest.mark.req("FR-019")
async def test_without_a_token_writes_are_refused_unless_bound_to_loopback() -> None:
    api, client = await api_client(host="0.0.0.0")
    try:
        async with client:
            refused = await client.post("/api/v1/silences", json={"source": "a"})
    finally:
        await api.aclose()
    assert refused.status_code == 403 and "telemetry.api_token" in refused.json()["error"]


@pytest.mark.req("FR-019")
async def test_views_wait_for_the_topics_to_be_read() -> None:
    cfg = parse_config(CONFIG.format(host="127.0.0.1", token="null"), env={})
    api = OperatorApi(cfg, Telemetry(cfg.telemetry), silences=SilenceBook(cfg.kafka),
                      firing_loaded=lambda: False)
    port = await api.start(port=0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            busy = await client.get("/api/v1/alerts")
            health = await client.get("/healthz")
    finally:
        await api.aclose()
    assert busy.status_code == 503 and "still reading the alert topic" in busy.json()["error"]
    assert busy.headers["retry-after"] == "2" and health.status_code == 200


@pytest.mark.req("FR-018", "FR-019")
async def test_a_silence_the_broker_did_not_take_is_a_503_and_changes_nothing(
        loopback: httpx.AsyncClient) -> None:
    before = (await loopback.get("/api/v1/silences")).json()
    refused = await loopback.post("/api/v1/silences", json={
        "source": "sales.*", "created_by": "ana", "comment": "load test", "duration": "1h"})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert "the silence was not stored" in refused.json()["error"]
    assert (await loopback.get("/api/v1/silences")).json() == before


@pytest.mark.req("NFR-008", "FR-018", "FR-019")
@pytest.mark.parametrize(("bounds", "reason"), [
    ({"duration": "99999999999h"}, "duration: Value error, too long: a silence may last at most "
                                   "8784h"),
    ({"starts_at": "8999-12-31T23:00:00Z", "duration": "2h"},
     "duration: Value error, the silence would end at or after 9000-01-01T00:00:00.000Z"),
    ({"starts_at": "9000-06-01T00:00:00Z", "duration": "1h"},
     "starts_at: Value error, is outside the accepted range"),
])
async def test_a_silence_out_of_bounds_is_a_400_naming_the_field_and_nothing_is_stored(
        loopback: httpx.AsyncClient, bounds: dict[str, str], reason: str) -> None:
    before = (await loopback.get("/api/v1/silences")).json()
    refused = await loopback.post("/api/v1/silences", json={
        "source": "sales.*", "created_by": "ana", "comment": "far away", **bounds})
    assert refused.status_code == 400
    assert reason in conforms(refused.json(), "error")["error"]
    assert (await loopback.get("/api/v1/silences")).json() == before
