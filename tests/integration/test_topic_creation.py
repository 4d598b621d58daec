"""NFR-008: every topic the service creates carries the configured replication factor and
topic configs, read back from a real broker (metadata and DescribeConfigs)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from dq_monitor.config import Config
from dq_monitor.ingest.service import MonitorService
from dq_monitor.routing.router import AlertRouter
from tests.integration.conftest import Kafka, config_for

pytestmark = pytest.mark.integration

SOURCES = """
  - name: orders
    freshness: {max_staleness: 1h}
"""


def created_topics(kafka: Kafka) -> dict[str, str]:
    """Each topic the monitor and the router create, with the cleanup policy it must have."""
    return {
        kafka.topic("alerts"): "",
        kafka.topic("dead"): "",
        f"{kafka.prefix}-monitor.changelog": "compact",
        f"{kafka.prefix}-monitor.repartition": "",
        f"{kafka.topic('alerts')}.delivery-log": "compact",
        f"{kafka.topic('alerts')}.silences": "compact",
    }


async def run_both(config: Config) -> None:
    """Start the monitor and the router (which follows the silences) until both are ready."""
    monitor, router = MonitorService(config), AlertRouter(config)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(monitor.run, stop)
        tg.start_soon(router.run, stop)
        with anyio.fail_after(40):
            await monitor.ready.wait()
            await router.ready.wait()
        stop.set()


async def describe(kafka: Kafka, topics: list[str]) -> tuple[dict[str, list[int]],
                                                              dict[str, dict[str, str]]]:
    """Replica count of each partition, and the configs, of each topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        meta = await admin.describe_topics(topics)
        replicas = {t["topic"]: [len(p["replicas"]) for p in t["partitions"]] for t in meta}
        answers = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    finally:
        await admin.close()
    configs: dict[str, dict[str, str]] = {}
    for answer in answers:
        for resource in answer.resources:
            entries: list[Any] = resource[4]
            configs[resource[3]] = {e[0]: e[1] for e in entries}
    return replicas, configs


@pytest.mark.req("NFR-008", "FR-016", "FR-018")
async def test_created_topics_carry_the_replication_factor_and_topic_configs(
    kafka: Kafka,
) -> None:
    await kafka.create(kafka.topic("updates"), partitions=2)
    base = config_for(kafka, SOURCES, """
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/never"}
""", inputs=("updates",))
    config = base.model_copy(update={"kafka": base.kafka.model_copy(update={
        "replication_factor": 3,
        "topic_config": {"min.insync.replicas": "2", "retention.ms": "604800000",
                         "cleanup.policy": "delete"}})})
    await run_both(config)
    topics = created_topics(kafka)
    replicas, configs = await describe(kafka, list(topics))
    assert set(replicas) == set(topics)
    for topic, policy in topics.items():
        assert replicas[topic] and all(n == 3 for n in replicas[topic]), (topic, replicas)
        assert configs[topic]["min.insync.replicas"] == "2", topic
        assert configs[topic]["retention.ms"] == "604800000", topic
        # a state topic's own policy wins over the one given for every topic
        assert configs[topic]["cleanup.policy"] == (policy or "delete"), topic
    assert len(replicas[f"{kafka.prefix}-monitor.changelog"]) == 2  # input partitions


@pytest.mark.req("NFR-008")
async def test_by_default_the_cluster_chooses_the_replication_factor(kafka: Kafka) -> None:
    """-1 in CreateTopics v4: the embedded broker's default is one replica."""
    await kafka.create(kafka.topic("updates"))
    config = config_for(kafka, SOURCES, inputs=("updates",))
    assert config.kafka.replication_factor == -1
    service = MonitorService(config)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(service.run, stop)
        with anyio.fail_after(30):
            await service.ready.wait()
        stop.set()
    replicas, configs = await describe(kafka, [kafka.topic("alerts"),
                                               f"{kafka.prefix}-monitor.changelog"])
    assert replicas[kafka.topic("alerts")] == [1]
    assert configs[f"{kafka.prefix}-monitor.changelog"] == {"cleanup.policy": "compact"}
