"""JSON Schemas of the wire formats, the config file and the operator API's bodies, and the
API's OpenAPI document, generated from the pydantic models.

The committed copies under ``schemas/`` are for producers and editors that validate without
Python; a test fails when they drift from the models (regenerate with ``dq-monitor schemas``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter

from dq_monitor.api.openapi import openapi_document
from dq_monitor.api.views import (
    AlertsResponse,
    ApiError,
    LineageResponse,
    SilencesResponse,
    SourcesResponse,
)
from dq_monitor.config import config_schema
from dq_monitor.events import Alert, Metric, TableUpdate
from dq_monitor.silence import SilenceRequest, SilenceView


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name → schema."""
    return {
        "table_update.schema.json": TypeAdapter(TableUpdate).json_schema(),
        "metric.schema.json": TypeAdapter(Metric).json_schema(),
        "alert.schema.json": TypeAdapter(Alert).json_schema(mode="serialization"),
        "config.schema.json": config_schema(),
        # FR-019: the operator API's bodies
        "api-alerts.schema.json": AlertsResponse.model_json_schema(mode="serialization"),
        "api-sources.schema.json": SourcesResponse.model_json_schema(mode="serialization"),
        "api-lineage.schema.json": LineageResponse.model_json_schema(mode="serialization"),
        "api-silences.schema.json": SilencesResponse.model_json_schema(mode="serialization"),
        "api-silence.schema.json": SilenceView.model_json_schema(mode="serialization"),
        "api-silence-request.schema.json": SilenceRequest.model_json_schema(),
        "api-error.schema.json": ApiError.model_json_schema(),
    }


def render(schema: dict[str, Any]) -> bytes:
    body = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


#: FR-019: the operator API as one OpenAPI document (the bodies are the schemas above).
OPENAPI = "openapi.json"


def render_openapi() -> bytes:
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    return orjson.dumps(openapi_document(), option=options) + b"\n"


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in all_schemas().items():
        path = directory / name
        path.write_bytes(render(schema))
        written.append(path)
    path = directory / OPENAPI
    path.write_bytes(render_openapi())
    written.append(path)
    return written
