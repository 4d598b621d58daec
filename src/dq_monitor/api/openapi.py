"""FR-019/NFR-008: the OpenAPI 3.1 document of the operator API, built from its pydantic models.

The bodies are the models of ``api.views`` and ``silence.model`` (the same ones the endpoints
serialize), so the document cannot drift from the answers; ``dq-monitor schemas`` writes it to
``schemas/openapi.json`` and a test checks the committed copy. Every refusal is ``ApiError``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from dq_monitor import __version__
from dq_monitor.acks import Ack, AckRequest
from dq_monitor.api.views import (
    AlertsResponse,
    ApiError,
    LineageResponse,
    ReloadDone,
    ReloadRefused,
    SilencesResponse,
    SourcesResponse,
)
from dq_monitor.silence import SilenceRequest, SilenceView

_REF = "#/components/schemas/{model}"
_MODELS: list[tuple[type[BaseModel], JsonSchemaMode]] = [
    (AlertsResponse, "serialization"), (SourcesResponse, "serialization"),
    (SilencesResponse, "serialization"), (LineageResponse, "serialization"),
    (SilenceView, "serialization"),
    (SilenceRequest, "validation"), (ApiError, "serialization"),
    (ReloadDone, "serialization"), (ReloadRefused, "serialization"),
    (AckRequest, "validation"), (Ack, "serialization")]

#: Why each refusal can happen, per status (the reason itself is in ``error``).
_REFUSALS = {
    "400": "malformed request or invalid body (every bad field named)",
    "401": "the bearer token is missing or wrong (when telemetry.api_token is set)",
    "403": "a write not addressed to this server, from a foreign origin, or with writes "
           "disabled (not on loopback and no token)",
    "404": "no such endpoint, silence or firing alert, or this process keeps no silences",
    "405": "method not allowed on this path",
    "408": "the body did not arrive in time",
    "411": "a chunked body",
    "413": "body larger than 64 KiB",
    "415": "a write whose body is not application/json",
    "431": "request head too large",
    "503": "still reading the alert or silences topic, the broker did not take a write, or "
           "too many connections (see Retry-After)",
}
_READ_REFUSALS = ("400", "404", "431", "503")
_WRITE_REFUSALS = tuple(_REFUSALS)


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": _REF.format(model=model.__name__)}}}}


def _text(media: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {media: {"schema": {"type": "string"}}}}


def _refusals(statuses: tuple[str, ...]) -> dict[str, Any]:
    return {s: _json(ApiError, _REFUSALS[s]) for s in statuses}


def _get(summary: str, ok: dict[str, Any], *, refusals: tuple[str, ...] = _READ_REFUSALS,
         **extra: Any) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": ok, **_refusals(refusals)},
                    **extra}}


_SILENCE_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
_WRITE: dict[str, Any] = {"security": [{"bearer": []}, {}]}


def openapi_document() -> dict[str, Any]:
    _, defs = models_json_schema(_MODELS, ref_template=_REF)
    silence = _json(SilenceView, "the silence")
    paths: dict[str, Any] = {
        "/": _get("Status page: firing alerts, sources, silences (HTML, no scripts)",
                  _text("text/html", "the page")),
        "/metrics": _get("Prometheus metrics", _text("text/plain", "exposition format")),
        "/healthz": _get("Alive", _text("text/plain", "ok")),
        "/readyz": {"get": {"summary": "Ready: partitions assigned and router running",
                            "responses": {"200": _text("text/plain", "every check ok"),
                                          "503": _text("text/plain", "a check not ready"),
                                          **_refusals(("400", "431"))}}},
        "/api/v1/alerts": _get("Every alert firing in the deployment",
                               _json(AlertsResponse, "firing alerts, FAIL first")),
        "/api/v1/sources": _get("Every configured source and its checks",
                                _json(SourcesResponse, "per-source state")),
        "/api/v1/lineage": _get("Inputs → outputs edges learned from OpenLineage runs (FR-022), "
                                "for the sources this instance owns",
                                _json(LineageResponse, "the edges")),
        "/api/v1/silences": {
            **_get("Pending and active silences",
                   _json(SilencesResponse, "silences, each with its state"), parameters=[
                       {"name": "expired", "in": "query", "required": False,
                        "description": "also list those that ended in the last week",
                        "schema": {"type": "boolean"}}]),
            "post": {"summary": "Create a silence", **_WRITE,
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": _REF.format(model=SilenceRequest.__name__)}}}},
                     "responses": {"201": _json(SilenceView, "the stored silence"),
                                   **_refusals(_WRITE_REFUSALS)}},
        },
        "/api/v1/alerts/{fingerprint}/ack": {
            "parameters": [{"name": "fingerprint", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "post": {"summary": "Acknowledge a firing alert: its reminders (or its group's) "
                                "stop until it resolves or escalates (FR-027)", **_WRITE,
                     "requestBody": {"required": False, "content": {"application/json": {
                         "schema": {"$ref": _REF.format(model=AckRequest.__name__)}}}},
                     "responses": {"201": _json(Ack, "the stored acknowledgement"),
                                   **_refusals(_WRITE_REFUSALS)}},
        },
        "/-/reload": {
            "post": {"summary": "Re-read, validate and apply the configuration file (FR-025)",
                     **_WRITE,
                     "requestBody": {"required": False, "content": {"application/json": {
                         "schema": {"type": "object"}}}},
                     "responses": {
                         "200": _json(ReloadDone, "applied"),
                         **_refusals(_WRITE_REFUSALS),
                         "400": _json(ReloadRefused, "invalid, or a change that needs a "
                                      "restart: the running configuration stays")}},
        },
        "/api/v1/silences/{id}": {
            "parameters": _SILENCE_ID,
            **_get("One silence", silence),
            "delete": {"summary": "Expire a silence now", **_WRITE,
                       "responses": {"200": _json(SilenceView, "the expired silence"),
                                     **_refusals(_WRITE_REFUSALS)}},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "dq-monitor operator API", "version": __version__,
                 "description": "Served on the telemetry port (telemetry.http_host:http_port). "
                                "Writes need the bearer token when telemetry.api_token is set "
                                "(else the port must be bound to loopback), a Host naming the "
                                "server, no foreign Origin, and a JSON body."},
        "paths": paths,
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "telemetry.api_token"}},
        },
    }
