"""NFR-008: which Kafka errors are retried and which never succeed, what a refusal does to
readiness, and the dead letter of a refused record (no broker needed)."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import errors as ke
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from dq_monitor.kafka.failures import Verdict, WriteHealth, classify, reason, unwritable_record


@pytest.mark.req("NFR-008")
@pytest.mark.parametrize(("error", "verdict"), [
    (ke.MessageSizeTooLargeError("The message is 2000000 bytes"), Verdict.RECORD),
    (ke.RecordListTooLargeError(), Verdict.RECORD),
    (ke.CorruptRecordException(), Verdict.RECORD),
    (ke.InvalidTimestampError(), Verdict.RECORD),
    (ke.TopicAuthorizationFailedError("dq.alerts"), Verdict.TOPIC),
    (ke.ClusterAuthorizationFailedError(), Verdict.TOPIC),
    (ke.InvalidTopicError(), Verdict.TOPIC),
    (ke.UnsupportedVersionError(), Verdict.TOPIC),
    (ke.UnsupportedForMessageFormatError(), Verdict.TOPIC),
    (ke.PolicyViolationError(), Verdict.TOPIC),
    # outages and moving leaders pass: retried, as before
    (ke.KafkaTimeoutError(), Verdict.RETRY),
    (ke.KafkaConnectionError(), Verdict.RETRY),
    (ke.RequestTimedOutError(), Verdict.RETRY),
    (ke.NotLeaderForPartitionError(), Verdict.RETRY),
    (ke.LeaderNotAvailableError(), Verdict.RETRY),
    (ke.NotEnoughReplicasError(), Verdict.RETRY),
    (ke.NotEnoughReplicasAfterAppendError(), Verdict.RETRY),
    (ke.UnknownTopicOrPartitionError(), Verdict.RETRY),
    (ke.KafkaStorageError(), Verdict.RETRY),
    (ke.NodeNotReadyError(), Verdict.RETRY),
    # an error not known to be final is treated as an outage, never as a loss
    (ke.UnknownError(), Verdict.RETRY),
    (ke.KafkaError("Unexpected error during batch delivery"), Verdict.RETRY),
])
def test_errors_are_classified_once_for_every_writer(error: ke.KafkaError,
                                                     verdict: Verdict) -> None:
    assert classify(error) is verdict
    assert verdict.final is (verdict is not Verdict.RETRY)


@pytest.mark.req("NFR-008")
def test_reason_is_one_clean_line() -> None:
    assert reason(ke.MessageSizeTooLargeError("The message is 5 bytes")) == (
        "MessageSizeTooLargeError: The message is 5 bytes")
    assert reason(ke.TopicAuthorizationFailedError("dq.alerts")) == (
        "TopicAuthorizationFailedError: dq.alerts")
    assert reason(ke.KafkaTimeoutError()) == "KafkaTimeoutError"


@pytest.mark.req("NFR-008", "NFR-006")
def test_a_refused_topic_is_not_ready_until_a_write_to_it_succeeds() -> None:
    health = WriteHealth()
    assert health.ready()
    # one record too large says nothing about the topic
    assert health.failed("dq.alerts", ke.MessageSizeTooLargeError()) is Verdict.RECORD
    assert health.ready()
    # an outage is retried, not reported here
    assert health.failed("dq.alerts", ke.KafkaTimeoutError()) is Verdict.RETRY
    assert health.ready()
    assert health.failed("dq.alerts", ke.TopicAuthorizationFailedError("dq.alerts")) is (
        Verdict.TOPIC)
    assert health.failed("dq.state", ke.TopicAuthorizationFailedError("dq.state")) is (
        Verdict.TOPIC)
    assert not health.ready()
    assert health.refused == {"dq.alerts": "TopicAuthorizationFailedError: dq.alerts",
                              "dq.state": "TopicAuthorizationFailedError: dq.state"}
    health.written("dq.alerts")
    assert not health.ready()
    health.written("dq.state")
    assert health.ready()


@pytest.mark.req("NFR-008")
@pytest.mark.parametrize("max_request_size", [4096, 1024 * 1024])
def test_the_dead_letter_of_a_refused_record_fits_where_the_record_did_not(
    max_request_size: int,
) -> None:
    value = orjson.dumps({"source": "é" * 3_000_000})
    letter = unwritable_record("dq.alerts", None, b"f" * 5000, value,
                               ke.MessageSizeTooLargeError("The message is too big"),
                               max_request_size=max_request_size)
    assert letter["kind"] == "unwritable_record" and letter["topic"] == "dq.alerts"
    assert letter["reason"] == "MessageSizeTooLargeError: The message is too big"
    assert letter["value_truncated"] and letter["value_bytes"] == len(value)
    assert letter["value_encoding"] == "utf-8"  # cut between characters, not inside one
    assert letter["value"].startswith('{"source":"éé')
    assert letter["key_truncated"] and letter["key"] == "f" * 1024
    size = DefaultRecordBatchBuilder.estimate_size_in_bytes(None, orjson.dumps(letter), [])
    assert size < max_request_size


@pytest.mark.req("NFR-008")
def test_a_binary_value_is_kept_as_base64() -> None:
    letter = unwritable_record("t", 3, None, b"\xff\xfe" * 10, ke.CorruptRecordException(),
                               max_request_size=4096)
    assert letter["value_encoding"] == "base64" and not letter["value_truncated"]
    assert letter["partition"] == 3 and letter["key"] is None
