"""OpenLineage events from openlineage-python's own client and Kafka transport, configured
only as its documentation says (an ``openlineage.yml`` named by ``OPENLINEAGE_CONFIG``), through
a real broker into the service (FR-022, FR-023); malformed ones are dead letters with reasons
(NFR-006, FR-012)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.generated import (
    data_quality_metrics_dataset,
    output_statistics_output_dataset,
    schema_dataset,
)

from tests.integration.conftest import Kafka, config_for, running

pytestmark = pytest.mark.integration

NS = "duckdb://warehouse"
SOURCES = """
  - name: shop.main.orders
    freshness: {max_staleness: 1h}
    completeness: {columns: {customer_id: {max_null_rate: 0.01}}}
  - name: shop.main.customers
"""


def client_for(kafka: Kafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpenLineageClient:
    """The client as its documentation configures it: a YAML file, found through the
    ``OPENLINEAGE_CONFIG`` environment variable."""
    path = tmp_path / "openlineage.yml"
    path.write_text(f"""
transport:
  type: kafka
  topic: {kafka.topic("openlineage")}
  config:
    bootstrap.servers: "{kafka.bootstrap}"
    acks: all
  flush: true
""")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(path))
    return OpenLineageClient()


def now() -> str:
    return datetime.now(UTC).isoformat()


def orders(nulls: int | None = None, rows: int = 1000) -> OutputDataset:
    facets: dict[str, Any] = {"schema": schema_dataset.SchemaDatasetFacet(fields=[
        schema_dataset.SchemaDatasetFacetFields(name="id", type="INTEGER"),
        schema_dataset.SchemaDatasetFacetFields(name="customer_id", type="INTEGER")])}
    if nulls is not None:
        facets["dataQualityMetrics"] = data_quality_metrics_dataset.DataQualityMetricsDatasetFacet(
            rowCount=rows, columnMetrics={
                "customer_id": data_quality_metrics_dataset.ColumnMetrics(nullCount=nulls)})
    return OutputDataset(namespace=NS, name="shop.main.orders", facets=facets, outputFacets={
        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows)})


def customers() -> OutputDataset:
    return OutputDataset(namespace=NS, name="shop.main.customers")


def run_event(state: RunState, run_id: str, outputs: list[OutputDataset]) -> RunEvent:
    return RunEvent(eventType=state, eventTime=now(), run=Run(runId=run_id),
                    job=Job(namespace="dbt", name="shop.build"),
                    inputs=[InputDataset(namespace=NS, name="shop.raw.orders")], outputs=outputs)


def summary(alerts: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str, str]]:
    return sorted((a["check"], a["source"], a["subject"], a["severity"], a["status"])
                  for a in alerts)


@pytest.mark.req("FR-022", "FR-023")
async def test_the_openlineage_client_drives_completeness_and_run_checks(
    kafka: Kafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = kafka.topic("openlineage")
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"), partitions=4)
    await kafka.create(topic, partitions=2)
    config = config_for(kafka, SOURCES, openlineage=("openlineage",))
    client = client_for(kafka, tmp_path, monkeypatch)
    first, failed, fixed = (str(uuid.uuid4()) for _ in range(3))
    async with running(config) as service:

        async def emit(event: Any) -> None:
            await anyio.to_thread.run_sync(client.emit, event)

        # Neither a START, a JobEvent nor a DatasetEvent is a dead letter.
        await emit(run_event(RunState.START, first, [orders(), customers()]))
        await emit(JobEvent(eventTime=now(), job=Job(namespace="dbt", name="shop.build"),
                            inputs=[], outputs=[customers()]))
        await emit(DatasetEvent(eventTime=now(), dataset=StaticDataset(
            namespace=NS, name="shop.main.orders")))
        # Null counts from dataQualityMetrics: 5% nulls > 1% → completeness FAIL.
        await emit(run_event(RunState.COMPLETE, first, [orders(nulls=50), customers()]))
        # A failed run alerts on every monitored dataset it names.
        await emit(run_event(RunState.START, failed, [orders(), customers()]))
        await emit(run_event(RunState.FAIL, failed, [orders(), customers()]))
        fired = await kafka.read(kafka.topic("alerts"), lambda xs: len(xs) >= 3)
        assert summary(fired) == [
            ("completeness", "shop.main.orders", "customer_id", "FAIL", "firing"),
            ("run", "shop.main.customers", "dbt/shop.build", "FAIL", "firing"),
            ("run", "shop.main.orders", "dbt/shop.build", "FAIL", "firing")]
        assert {a["labels"]["namespace"] for a in fired} == {NS}
        assert all(a["requirement"] == "FR-023" for a in fired if a["check"] == "run")
        # The job's next COMPLETE, with clean data, resolves all three.
        await emit(run_event(RunState.START, fixed, [orders(), customers()]))
        await emit(run_event(RunState.COMPLETE, fixed, [orders(nulls=0), customers()]))
        alerts = await kafka.read(kafka.topic("alerts"), lambda xs: len(xs) >= 6)
        stats = dict(service.monitor.stats)
        rerouted = service.stats["events.rerouted"]
    resolved = [a for a in alerts if a["status"] == "resolved"]
    assert summary(resolved) == [
        ("completeness", "shop.main.orders", "customer_id", "FAIL", "resolved"),
        ("run", "shop.main.customers", "dbt/shop.build", "FAIL", "resolved"),
        ("run", "shop.main.orders", "dbt/shop.build", "FAIL", "resolved")]
    assert len(alerts) == 6
    dead = await kafka.read(kafka.topic("dead"), lambda xs: False, timeout=1.5)
    assert dead == []
    assert stats["events.openlineage"] == 8
    assert stats["events.openlineage.no_dataset"] == 2  # the JobEvent and the DatasetEvent
    assert stats["alerts.completeness.FAIL.firing"] == 1
    # Keyed by job, the records land on partition 0 of the OpenLineage topic; the two sources
    # live on partitions 3 and 2: each of the 6 RunEvents went once to each home.
    assert rerouted == 12


@pytest.mark.req("FR-022", "NFR-006", "FR-012")
async def test_malformed_openlineage_records_are_dead_letters_with_reasons(
    kafka: Kafka,
) -> None:
    topic = kafka.topic("openlineage")
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"), topic)
    config = config_for(kafka, SOURCES, "openlineage: {source_name: name}\n",
                        openlineage=("openlineage",))
    good: dict[str, Any] = {
        "eventType": "COMPLETE", "eventTime": now(), "run": {"runId": "r"},
        "job": {"namespace": "dbt", "name": "j"}, "inputs": [],
        "outputs": [{"namespace": NS, "name": "shop.main.orders"}]}
    no_time = {k: v for k, v in good.items() if k != "eventTime"}
    wide = {**good, "outputs": [{"namespace": NS, "name": "shop.main.orders", "facets": {
        "schema": {"fields": [{"name": f"c{i}", "type": "INT"} for i in range(10_000)]}}}]}
    huge = b'{"eventType": "COMPLETE", "padding": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    async with running(config):
        for body in (b"not json at all", orjson.dumps(no_time), orjson.dumps(wide)):
            await kafka.send(topic, body, key="run:dbt/j")
        # The 10 MB record goes through a producer allowed to send it.
        large = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap,
                                 max_request_size=16 * 1024 * 1024)
        await large.start()
        try:
            await large.send_and_wait(topic, huge, key=b"run:dbt/j")
        finally:
            await large.stop()
        await kafka.send(topic, orjson.dumps(good), key="run:dbt/j")
        dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= 4, timeout=30)
    reasons = [d["reason"] for d in dead]
    assert [d["kind"] for d in dead] == ["malformed_event"] * 4, reasons
    assert "not valid JSON" in reasons[0]
    assert reasons[1] == "openlineage: field 'eventTime': missing"
    assert "outputs[0].facets.schema.fields" in reasons[2]
    assert "over the 1048576-byte limit" in reasons[3]


@pytest.mark.req("FR-022", "FR-016")
async def test_one_run_event_naming_sources_of_two_instances_alerts_once_on_each(
    kafka: Kafka,
) -> None:
    """Two instances share the partitions; a FAIL run keyed by its job names a dataset homed on
    each: each instance judges its own, once."""
    topic = kafka.topic("openlineage")
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"), topic, partitions=2)
    cfg = config_for(kafka, "  - name: src0\n  - name: src1\n", openlineage=("openlineage",))
    event: dict[str, Any] = {
        "eventType": "FAIL", "eventTime": now(), "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "spark", "name": "nightly"}, "inputs": [],
        "outputs": [{"namespace": "s3://lake", "name": "src0"},
                    {"namespace": "s3://lake", "name": "src1"}],
        "producer": "test", "schemaURL": "x"}
    async with running(cfg) as a, running(cfg) as b:
        with anyio.fail_after(40):
            while not (a.monitor.owned and b.monitor.owned and a.is_ready() and b.is_ready()):
                await anyio.sleep(0.1)
        await kafka.send(topic, orjson.dumps(event), key="run:spark/nightly")
        alerts = await kafka.read(kafka.topic("alerts"), lambda xs: len(xs) >= 2)
        await anyio.sleep(1.0)  # nothing more comes
        alerts = await kafka.read(kafka.topic("alerts"), lambda xs: False, timeout=1.0)
    assert summary(alerts) == [("run", "src0", "spark/nightly", "FAIL", "firing"),
                               ("run", "src1", "spark/nightly", "FAIL", "firing")]
    assert a.monitor.stats["alerts.run.FAIL.firing"] == 1
    assert b.monitor.stats["alerts.run.FAIL.firing"] == 1
