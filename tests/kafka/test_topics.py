"""NFR-008: the CreateTopics request the service sends and how it reads the answer (no broker
needed; tests/integration/test_topics.py reads real topics back)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiokafka.errors import IncompatibleBrokerVersion, NotControllerError

from dq_monitor.config import KafkaConfig, parse_config
from dq_monitor.errors import TopicSetupError
from dq_monitor.kafka.topics import COMPACT, CreateTopics, _check, topic_configs

TOPIC: tuple[object, ...] = ("dq.changelog", 6, -1, [], [("cleanup.policy", "compact")])


def kafka_config(extra: str = "") -> KafkaConfig:
    return parse_config(f"""
kafka: {{bootstrap_servers: "x:9092", input_topics: [in], alert_topic: a,
         dead_letter_topic: d{extra}}}
sources: [{{name: s}}]
""", env={}).kafka


@pytest.mark.req("NFR-008")
def test_the_cluster_default_replication_is_asked_for_with_create_topics_v4() -> None:
    # the broker offers v0..v7: v4 is the highest this client speaks, and the first with -1
    request = CreateTopics([TOPIC], timeout_ms=30_000).prepare({19: (0, 7)})
    assert request.API_VERSION == 4
    assert request.to_object()["create_topic_requests"][0]["replication_factor"] == -1
    # an explicit factor goes at any version
    old = CreateTopics([("t", 1, 3, [], [])], timeout_ms=1).prepare({19: (0, 3)})
    assert old.API_VERSION == 3
    # -1 before v4 would mean nothing defined: refused, naming what to do
    with pytest.raises(IncompatibleBrokerVersion, match=r"Kafka 2\.4"):
        CreateTopics([TOPIC], timeout_ms=1).prepare({19: (0, 3)})


@pytest.mark.req("NFR-008")
def test_topic_configs_are_merged_and_the_topics_own_win() -> None:
    cfg = kafka_config(", topic_config: {min.insync.replicas: 2, cleanup.policy: delete}")
    assert topic_configs(cfg, COMPACT) == {"min.insync.replicas": "2",
                                           "cleanup.policy": "compact"}
    assert topic_configs(cfg, {}) == {"min.insync.replicas": "2",
                                      "cleanup.policy": "delete"}


def answer(*errors: tuple[str, int, str | None]) -> SimpleNamespace:
    return SimpleNamespace(topic_errors=list(errors))


@pytest.mark.req("NFR-008")
def test_the_answer_is_checked_per_topic() -> None:
    wanted = {"a": (1, {}), "b": (6, {"cleanup.policy": "compact"})}
    assert _check(answer(("a", 0, None), ("b", 36, "exists")), wanted, -1) == ["a"]
    with pytest.raises(NotControllerError):  # may pass: the caller retries
        _check(answer(("a", 41, "not the controller")), wanted, -1)
    with pytest.raises(TopicSetupError) as info:  # never passes: a clear stop
        _check(answer(("a", 0, None), ("b", 38, "Replication factor: 3 larger than "
                                             "available brokers: 1.")), wanted, 3)
    text = str(info.value)
    assert "refused to create topic 'b' (InvalidReplicationFactorError: Replication factor" in (
        text)
    assert "create it beforehand with 6 partition(s), replication factor 3 and configs " \
           "{'cleanup.policy': 'compact'}" in text
    with pytest.raises(TopicSetupError, match="TopicAuthorizationFailedError"):
        _check(answer(("a", 29, None)), wanted, -1)
