"""Which Kafka errors may pass with time and which never will (NFR-008), in one place.

Every writer asks ``classify`` what a failed write means:

* ``RETRY``: the cluster may accept the same record later (a broker down, a leader moving, a
  timeout, too few in-sync replicas for now). The write is repeated with backoff, as before.
* ``RECORD``: this record can never be written (too large for the producer's
  ``max_request_size`` or the brokers' ``message.max.bytes``, corrupt, a timestamp the topic
  refuses). Other records to the same topic are fine.
* ``TOPIC``: no record can be written to this topic as things are (not authorised, an invalid
  topic name, a version or message format the broker does not support). Only an operator can
  change that; until a write to the topic succeeds again the service reports not ready.

Errors not named here are retried: an unknown error is treated like an outage, never as a loss.
"""

from __future__ import annotations

import base64
import re
from enum import Enum
from typing import Any

from aiokafka import errors as ke

#: The record itself is refused, whatever the broker's state.
_RECORD_ERRORS: tuple[type[BaseException], ...] = (
    ke.MessageSizeTooLargeError,  # client's max_request_size, or the broker's message.max.bytes
    ke.RecordTooLargeError,
    ke.RecordListTooLargeError,
    ke.CorruptRecordException,
    ke.InvalidTimestampError,
)
#: Every record to the topic is refused until an operator acts.
_TOPIC_ERRORS: tuple[type[BaseException], ...] = (
    ke.TopicAuthorizationFailedError,
    ke.ClusterAuthorizationFailedError,
    ke.TransactionalIdAuthorizationFailed,
    ke.InvalidTopicError,
    ke.UnsupportedVersionError,
    ke.UnsupportedForMessageFormatError,
    ke.InvalidRequiredAcksError,
    ke.PolicyViolationError,
)


class Verdict(Enum):
    RETRY = "retry"
    RECORD = "record"
    TOPIC = "topic"

    @property
    def final(self) -> bool:
        """Whether writing the same record again can never succeed."""
        return self is not Verdict.RETRY


def classify(exc: BaseException) -> Verdict:
    """What a failed write means (see the module docstring)."""
    if isinstance(exc, _RECORD_ERRORS):
        return Verdict.RECORD
    if isinstance(exc, _TOPIC_ERRORS):
        return Verdict.TOPIC
    return Verdict.RETRY


def reason(exc: BaseException) -> str:
    """One line for logs and dead letters: the error's name and aiokafka's text, if any."""
    text = re.sub(r"^\[Error -?\d+\]\s*", "", str(exc).strip())
    name = type(exc).__name__
    if not text or text == name:
        return name
    return (text if text.startswith(name) else f"{name}: {text}")[:500]


class WriteHealth:
    """Topics no record can be written to now (a ``TOPIC`` refusal), until a write to them
    succeeds again: the ``/readyz`` check of a writer. Plain state, no I/O."""

    def __init__(self) -> None:
        #: topic -> the reason of its last refusal
        self.refused: dict[str, str] = {}

    def failed(self, topic: str, exc: BaseException) -> Verdict:
        """Note a failed write to ``topic``; returns what it means."""
        verdict = classify(exc)
        if verdict is Verdict.TOPIC:
            self.refused[topic] = reason(exc)
        return verdict

    def written(self, topic: str) -> None:
        if self.refused:
            self.refused.pop(topic, None)

    def ready(self) -> bool:
        return not self.refused


#: The most of a refused record's key and value a dead letter carries.
MAX_KEPT_BYTES = 64 * 1024


def _clip(data: bytes | None, limit: int) -> tuple[str | None, str, bool]:
    if data is None:
        return None, "utf-8", False
    kept = data[:limit]
    try:
        return kept.decode("utf-8"), "utf-8", len(data) > limit
    except UnicodeDecodeError as exc:
        if len(data) > limit and exc.start >= len(kept) - 3:  # cut mid-character
            return kept[:exc.start].decode("utf-8"), "utf-8", True
        return base64.b64encode(kept).decode("ascii"), "base64", len(data) > limit


def unwritable_record(topic: str, partition: int | None, key: bytes | None,
                      value: bytes | None, exc: BaseException, *,
                      max_request_size: int) -> dict[str, Any]:
    """The ``unwritable_record`` dead letter of a record refused for good: the reason, where it
    was going, and its key and value cut short enough that the dead letter itself fits."""
    limit = min(MAX_KEPT_BYTES, max_request_size // 4)
    key_text, key_encoding, key_cut = _clip(key, 1024)
    text, encoding, cut = _clip(value, limit)
    return {
        "kind": "unwritable_record",
        "reason": reason(exc),
        "topic": topic,
        "partition": partition,
        "key": key_text,
        "key_encoding": key_encoding,
        "key_truncated": key_cut,
        "value": text,
        "value_encoding": encoding,
        "value_truncated": cut,
        "value_bytes": None if value is None else len(value),
    }
