"""NFR-008/FR-019: the operator API of a live instance on a real broker, asked as a browser and
as a property-based client would: cross-site writes refused, the operator's own JSON write
stored, and every answer to generated requests conforming to ``schemas/openapi.json``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    CheckFunction,
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case
from schemathesis.schemas import APIOperation

from dq_monitor.api import OperatorApi
from dq_monitor.config import parse_config
from dq_monitor.silence import SilenceBook
from dq_monitor.telemetry import Telemetry
from tests.integration.conftest import Kafka

pytestmark = pytest.mark.integration

OPENAPI = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"
TOKEN = "integration-token-0123456789"
SILENCE = {"source": "warehouse.*", "created_by": "ana", "comment": "backfill",
           "duration": "2h"}


@dataclass
class Live:
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def live_api(kafka: Kafka) -> AsyncIterator[Live]:
    """An operator API on a free loopback port, with a token, following real topics."""
    alerts = kafka.topic("alerts")
    await kafka.create(alerts)
    cfg = parse_config(f"""
kafka: {{bootstrap_servers: "{kafka.bootstrap}", input_topics: [{kafka.topic("in")}],
        alert_topic: {alerts}, dead_letter_topic: {kafka.topic("dead")}}}
telemetry: {{http_host: 127.0.0.1, api_token: "${{TOKEN}}"}}
sources:
  - name: warehouse.orders
    freshness: {{max_staleness: 10m}}
""", env={"TOKEN": TOKEN})
    telemetry = Telemetry(cfg.telemetry)
    book = SilenceBook(cfg.kafka)
    telemetry.ready_checks["silences"] = book.loaded.is_set
    api = OperatorApi(cfg, telemetry, silences=book)
    port = await api.start(port=0)
    stop = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(book.run, stop)
            tg.start_soon(api.run, stop)
            with anyio.fail_after(30):
                while True:  # both topics read
                    async with httpx.AsyncClient() as client:
                        if (await client.get(f"http://127.0.0.1:{port}/api/v1/silences")
                                ).status_code == 200 and \
                                (await client.get(f"http://127.0.0.1:{port}/api/v1/alerts")
                                 ).status_code == 200:
                            break
                    await anyio.sleep(0.2)
            try:
                yield Live(port)
            finally:
                stop.set()
    finally:
        await api.aclose()
        await telemetry.aclose()


@pytest.mark.req("NFR-008", "FR-019")
async def test_cross_site_writes_are_refused_and_the_operators_json_write_is_stored(
        kafka: Kafka) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with live_api(kafka) as live, \
            httpx.AsyncClient(base_url=live.url, headers=auth) as client:
        refused = {
            "form": await client.post("/api/v1/silences", data=SILENCE),
            "text/plain": await client.post(
                "/api/v1/silences", content=orjson.dumps(SILENCE),
                headers={"Content-Type": "text/plain; x=application/json"}),
            "foreign Origin": await client.post(
                "/api/v1/silences", json=SILENCE, headers={"Origin": "https://evil.example"}),
            "foreign Host": await client.post(
                "/api/v1/silences", json=SILENCE,
                headers={"Host": f"rebound.evil.example:{live.port}"}),
        }
        for what, answer in refused.items():
            assert 400 <= answer.status_code < 500, what
            assert answer.json()["error"], what
        assert (await client.get("/api/v1/silences")).json()["silences"] == []

        stored = await client.post("/api/v1/silences", json=SILENCE,
                                   headers={"Origin": live.url})
        assert stored.status_code == 201, stored.text
        listed = (await client.get("/api/v1/silences")).json()["silences"]
        assert [s["id"] for s in listed] == [stored.json()["id"]]
        expired = await client.delete(f"/api/v1/silences/{stored.json()['id']}")
        assert expired.status_code == 200 and expired.json()["state"] == "expired"


CHECKS: list[CheckFunction] = [not_a_server_error, status_code_conformance,
                               content_type_conformance, response_headers_conformance,
                               response_schema_conformance]


#: Operations asked, one entry per generated request.
CALLS: list[str] = []


def conformance_run(url: str, silence_id: str) -> list[str]:
    """Generated requests for every operation (a bounded number each); the failures found,
    each with the request that reproduces it. Beside made-up bodies and ids, valid silences
    and an existing id are sent, so success answers are checked too."""
    schema = schemathesis.openapi.from_path(str(OPENAPI))
    failures: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"schemas/openapi.json: {result.err()}"
        operation = result.ok()
        try:
            fuzz(operation, url, silence_id)
        except Exception as exc:
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    return failures


def fuzz(operation: APIOperation[Any, Any, Any, Any], url: str, silence_id: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    strategy = operation.as_strategy()
    if operation.label == "POST /api/v1/silences":
        strategy |= operation.as_strategy(body=SILENCE)
    elif "{id}" in operation.label:
        strategy |= operation.as_strategy(path_parameters={"id": silence_id})

    @settings(max_examples=25, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Case[Any]) -> None:
        CALLS.append(operation.label)
        case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=10)

    run()


@pytest.mark.req("NFR-008", "FR-019")
async def test_every_answer_to_generated_requests_conforms_to_the_openapi_document(
        kafka: Kafka) -> None:
    async with live_api(kafka) as live:
        # a silence to list, show and expire, beside the ids the generator makes up
        async with httpx.AsyncClient(base_url=live.url,
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            created = await client.post("/api/v1/silences", json=SILENCE)
            assert created.status_code == 201
        with anyio.fail_after(50):
            failures = await anyio.to_thread.run_sync(conformance_run, live.url,
                                                      created.json()["id"])
    assert failures == [], "\n".join(failures)
    assert len(set(CALLS)) == 13 and len(CALLS) >= 50  # every operation, several times each
