"""Topic administration: create the service's own topics when missing, read partition counts.

NFR-008: every topic the service creates gets ``kafka.replication_factor`` (by default -1: the
cluster's ``default.replication.factor``, so Confluent Cloud and MSK get their 3) and the
configs of ``kafka.topic_config`` (e.g. ``min.insync.replicas``), under the topic's own configs
(``cleanup.policy=compact`` for state topics wins).

aiokafka's admin client cannot ask for the default: its ``NewTopic`` refuses -1 and it speaks
CreateTopics only up to v3, while -1 ("use the broker's default") is defined from v4 on
(KIP-464, Kafka 2.4). So the request is built here, as v4 when the broker offers it (v4 has
v3's layout) and as v0-v3 otherwise; -1 against a broker older than 2.4 is refused with an
error naming the option. The broker's answer is checked per topic: an existing topic is fine,
an error that may pass is raised for the caller to retry, and one that never will (not
authorised, an invalid replication factor or config, a policy) stops the service with the
topic, partitions and configs to create by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import IncompatibleBrokerVersion, for_code
from aiokafka.protocol.admin import (
    CreateTopicsRequest_v0,
    CreateTopicsRequest_v1,
    CreateTopicsRequest_v2,
    CreateTopicsRequest_v3,
    CreateTopicsResponse_v3,
)
from aiokafka.protocol.api import Request, RequestStruct, Response

from dq_monitor.config import KafkaConfig
from dq_monitor.errors import TopicSetupError
from dq_monitor.kafka.clients import common_kwargs

log = logging.getLogger(__name__)

COMPACT = {"cleanup.policy": "compact"}
#: "Use the cluster's default" in CreateTopics v4+.
CLUSTER_DEFAULT = -1
_TOPIC_ALREADY_EXISTS = 36


class CreateTopicsResponse_v4(Response):  # type: ignore[misc]  # noqa: N801
    API_KEY = 19
    API_VERSION = 4
    SCHEMA = CreateTopicsResponse_v3.SCHEMA


class CreateTopicsRequest_v4(RequestStruct):  # type: ignore[misc]  # noqa: N801
    """v3's layout; v4 lets ``num_partitions`` / ``replication_factor`` be -1 (KIP-464)."""

    API_KEY = 19
    API_VERSION = 4
    RESPONSE_TYPE = CreateTopicsResponse_v4
    SCHEMA = CreateTopicsRequest_v3.SCHEMA


#: The versions offered, in order (aiokafka reads them from the generic argument).
_Struct: Any = (CreateTopicsRequest_v0 | CreateTopicsRequest_v1 | CreateTopicsRequest_v2
           | CreateTopicsRequest_v3 | CreateTopicsRequest_v4)


class CreateTopics(Request[_Struct]):  # type: ignore[misc]
    """CreateTopics at the highest version both sides speak (up to v4)."""

    API_KEY = 19

    def __init__(self, topics: list[tuple[Any, ...]], timeout_ms: int) -> None:
        self.topics = topics
        self.timeout_ms = timeout_ms

    def build(self, request_struct_class: Any) -> Any:
        version = request_struct_class.API_VERSION
        if version < 4 and any(t[2] == CLUSTER_DEFAULT for t in self.topics):
            raise IncompatibleBrokerVersion(
                f"the broker speaks CreateTopics up to v{version}, too old to apply its "
                "default replication factor (Kafka 2.4+ needed)")
        if version == 0:
            return request_struct_class(create_topic_requests=self.topics,
                                        timeout=self.timeout_ms)
        return request_struct_class(create_topic_requests=self.topics,
                                    timeout=self.timeout_ms, validate_only=False)


def topic_configs(cfg: KafkaConfig, own: dict[str, str]) -> dict[str, str]:
    """``kafka.topic_config`` with the topic's own configs on top (they are what it needs)."""
    return {**cfg.topic_config, **own}


async def partition_counts(cfg: KafkaConfig, topics: list[str]) -> dict[str, int]:
    """Partition count of each topic that exists; absent topics are left out (never created)."""
    admin = AIOKafkaAdminClient(**common_kwargs(cfg))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        present = [t for t in topics if t in existing]
        described = await admin.describe_topics(present) if present else []
        return {d["topic"]: len(d["partitions"]) for d in described if not d["error_code"]}
    finally:
        await admin.close()


async def ensure_topics(
    cfg: KafkaConfig,
    topics: dict[str, tuple[int, dict[str, str]]],
) -> None:
    """Create each ``name → (partitions, configs)`` that does not exist yet; keep existing ones.

    Raises ``TopicSetupError`` when the cluster refuses for good, ``KafkaError`` when it may
    accept later (the caller retries)."""
    admin = AIOKafkaAdminClient(**common_kwargs(cfg))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = {name: (parts, topic_configs(cfg, own))
                   for name, (parts, own) in topics.items() if name not in existing}
        if not missing:
            return
        request = CreateTopics(
            [(name, parts, cfg.replication_factor, [], list(configs.items()))
             for name, (parts, configs) in missing.items()],
            timeout_ms=30_000)
        try:
            response = await admin._send_to_controller(request)
        except IncompatibleBrokerVersion as exc:
            raise TopicSetupError(
                f"kafka.replication_factor: {exc}; set it explicitly (e.g. 3)") from None
        created = _check(response, missing, cfg.replication_factor)
        if created:
            log.info("created topics %s (replication factor %s%s)", ", ".join(created),
                     "cluster default" if cfg.replication_factor == CLUSTER_DEFAULT
                     else cfg.replication_factor,
                     f", configs {cfg.topic_config}" if cfg.topic_config else "")
    finally:
        await admin.close()


def _check(response: Any, wanted: dict[str, tuple[int, dict[str, str]]],
           replication: int) -> list[str]:
    """The topics created; raise on the first refusal (``TopicSetupError`` when final)."""
    created: list[str] = []
    for topic, code, *rest in response.topic_errors:
        if code == 0:
            created.append(topic)
            continue
        if code == _TOPIC_ALREADY_EXISTS:  # another instance won the race
            continue
        error = for_code(code)
        message = rest[0] if rest and rest[0] else error.__name__
        if error.retriable:
            raise error(f"creating topic {topic!r}: {message}")
        parts, configs = wanted.get(topic, (0, {}))
        rf = "the cluster's default" if replication == CLUSTER_DEFAULT else str(replication)
        raise TopicSetupError(
            f"kafka: the cluster refused to create topic {topic!r} ({error.__name__}: "
            f"{message}); check kafka.replication_factor and kafka.topic_config, or create "
            f"it beforehand with {parts} partition(s), replication factor {rf} and configs "
            f"{configs or 'none'}")
    return created

