"""Record headers dq-monitor writes and reads across its own topics."""

from __future__ import annotations

from typing import Any

#: On an alert record: epoch milliseconds of the Kafka timestamp of the event that triggered it
#: (or the freshness deadline), the start of the NFR-002 latency.
TRIGGERED_HEADER = "dq-triggered-at"
#: On a record re-homed to the repartition topic: the input format of its value when it is not
#: the native one (FR-022), e.g. ``openlineage``.
FORMAT_HEADER = "dq-format"


def header_ms(headers: Any, name: str) -> float | None:
    """Epoch seconds from a header holding epoch milliseconds; ``None`` if absent or bad."""
    for key, value in headers or ():
        if key == name and value:
            try:
                return int(value) / 1000
            except ValueError:
                return None
    return None
