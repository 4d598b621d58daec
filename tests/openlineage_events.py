"""OpenLineage RunEvents as the OpenLineage clients write them, for tests (FR-022, FR-023)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

T0 = datetime(2026, 6, 26, 12, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    """``eventTime`` as openlineage-python writes it (``isoformat`` with ``+00:00``)."""
    return (T0 + timedelta(seconds=seconds)).isoformat()


def dataset(name: str, namespace: str = "duckdb://shop", *, rows: int | None = None,
            nulls: dict[str, int] | None = None, schema: list[tuple[str, str]] | None = None,
            assertions: list[dict[str, Any]] | None = None, stats_rows: int | None = None,
            input_side: bool = False) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    side: dict[str, Any] = {}
    if schema is not None:
        facets["schema"] = {"_producer": "test", "_schemaURL": "x",
                            "fields": [{"name": n, "type": t} for n, t in schema]}
    if rows is not None or nulls is not None:
        metrics: dict[str, Any] = {"_producer": "test", "_schemaURL": "x",
                                   "columnMetrics": {c: {"nullCount": n, "distinctCount": 3}
                                                     for c, n in (nulls or {}).items()}}
        if rows is not None:
            metrics["rowCount"] = rows
        (side if input_side else facets)["dataQualityMetrics"] = metrics
    if assertions is not None:
        (side if input_side else facets)["dataQualityAssertions"] = {
            "_producer": "test", "_schemaURL": "x", "assertions": assertions}
    facets["unknownFacet"] = {"anything": [1, {"nested": True}]}
    out: dict[str, Any] = {"namespace": namespace, "name": name, "facets": facets}
    if input_side:
        out["inputFacets"] = side
    if stats_rows is not None:
        out["outputFacets"] = {"outputStatistics": {"rowCount": stats_rows, "size": 10}}
    return out


def run_event(kind: str, t: float, *, job: str = "shop.orders", run_id: str = "r-1",
              inputs: list[dict[str, Any]] | None = None,
              outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "eventType": kind, "eventTime": stamp(t),
        "run": {"runId": run_id, "facets": {}},
        "job": {"namespace": "dbt", "name": job, "facets": {}},
        "inputs": inputs or [], "outputs": outputs or [],
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/dbt",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }


def raw(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)
