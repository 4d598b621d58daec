"""FR-028: a partition's report of closed windows, as written to the repartition topic.

Keyed by source like any re-homed record, with the ``dq-format: observe`` header; the value
names the observed topic, partition and partition count, the partition's ``closed_to`` and the
partials of the windows it closed (by window start, ms).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from dq_monitor.errors import MalformedEvent
from dq_monitor.observe.partition import Closed
from dq_monitor.observe.profile import Profile

#: The format name in the header of re-homed reports.
FORMAT = "observe"


@dataclass(frozen=True, slots=True)
class Report:
    """A report read back: ``Closed`` plus the source and partition count it was sent for."""

    source: str
    topic: str
    partition: int
    partitions: int
    closed_to: int
    partials: dict[int, Profile]


def encode(source: str, partitions: int, closed: Closed) -> bytes:
    return orjson.dumps({
        "source": source, "topic": closed.topic, "partition": closed.partition,
        "partitions": partitions, "closed_to": closed.closed_to,
        "partials": {str(start): p.to_json() for start, p in closed.partials},
    })


def decode(raw: bytes | None) -> Report:
    """A report, or ``MalformedEvent`` naming what is wrong (a damaged record is refused whole,
    never half applied: NFR-006)."""
    try:
        value = orjson.loads(raw or b"null")
        if not isinstance(value, dict):
            raise ValueError("not an object")
        source, topic = value.get("source"), value.get("topic")
        partition, partitions = value.get("partition"), value.get("partitions")
        closed_to, partials = value.get("closed_to"), value.get("partials")
        if not (isinstance(source, str) and isinstance(topic, str) and type(partition) is int
                and type(partitions) is int and 0 <= partition < partitions
                and type(closed_to) is int and isinstance(partials, dict)):
            raise ValueError("missing or mistyped fields")
        read = {int(start): Profile.from_json(p) for start, p in partials.items()}
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise MalformedEvent(f"observe report: {exc}") from None
    return Report(source, topic, partition, partitions, closed_to, read)
