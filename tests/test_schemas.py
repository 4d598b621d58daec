"""Committed JSON Schemas match the models, and the contract's examples validate against them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml

from dq_monitor.schemas import OPENAPI, all_schemas, render, render_openapi
from tests.traceability import UPSTREAM_SPEC

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((SCHEMAS / name).read_bytes())
    return loaded


@pytest.mark.req("FR-011")
@pytest.mark.parametrize("name", sorted(all_schemas()))
def test_committed_schema_matches_the_models(name: str) -> None:
    assert (SCHEMAS / name).read_bytes() == render(all_schemas()[name]), (
        f"schemas/{name} is stale: run `dq-monitor schemas`"
    )


@pytest.mark.req("FR-019", "NFR-008")
def test_committed_openapi_document_matches_the_models() -> None:
    assert (SCHEMAS / OPENAPI).read_bytes() == render_openapi(), (
        f"schemas/{OPENAPI} is stale: run `dq-monitor schemas`"
    )
    doc = schema(OPENAPI)
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/", "/metrics", "/healthz", "/readyz", "/api/v1/alerts",
                                 "/api/v1/sources", "/api/v1/silences", "/api/v1/silences/{id}",
                                 "/api/v1/alerts/{fingerprint}/ack", "/-/reload",
                                 "/api/v1/lineage"}
    body = doc["paths"]["/api/v1/silences"]["post"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SilenceRequest"}
    # the bodies are the same schemas as the per-body files
    assert doc["components"]["schemas"]["ApiError"]["properties"] == \
        schema("api-error.schema.json")["properties"]


@pytest.mark.req("FR-011")
def test_example_config_validates_against_the_config_schema() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "config.yaml").read_text())
    jsonschema.validate(doc, schema("config.schema.json"))


@pytest.mark.req("FR-001", "FR-002")
def test_event_examples_validate() -> None:
    jsonschema.validate(
        {"type": "table_update", "source": "warehouse.orders",
         "updated_at": "2026-06-26T11:58:00Z", "row_count": 120345,
         "null_counts": {"customer_id": 12, "amount": 0}, "event_id": "optional"},
        schema("table_update.schema.json"),
    )
    jsonschema.validate(
        {"type": "metric", "source": "warehouse.orders", "metric": "revenue_usd",
         "value": 1234.5, "ts": "2026-06-26T11:58:00Z", "tags": {"region": "eu"}},
        schema("metric.schema.json"),
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"type": "metric", "source": "s"}, schema("metric.schema.json"))


@pytest.mark.skipif(not UPSTREAM_SPEC.exists(), reason="upstream contract not beside the repo")
@pytest.mark.req("FR-001", "FR-002", "FR-011")
def test_upstream_contract_examples_validate() -> None:
    text = UPSTREAM_SPEC.read_text()
    blocks = re.findall(r"```(json|yaml)\n(.*?)```", text, re.S)
    seen = set()
    for kind, body in blocks:
        if kind == "yaml" and "config" in seen:
            continue  # later YAML blocks are fragments of one section each, not whole files
        if kind == "yaml":
            jsonschema.validate(yaml.safe_load(body), schema("config.schema.json"))
            assert body.strip() in (ROOT / "examples" / "config.yaml").read_text(), (
                "examples/config.yaml drifted from the contract's example"
            )
            seen.add("config")
            continue
        doc = orjson.loads(body)
        if doc.get("type") in ("table_update", "metric"):
            jsonschema.validate(doc, schema(f"{doc['type']}.schema.json"))
            seen.add(doc["type"])
        elif "alert_id" in doc:
            assert set(doc) == set(schema("alert.schema.json")["properties"])
            seen.add("alert")
    assert seen == {"config", "table_update", "metric", "alert"}
