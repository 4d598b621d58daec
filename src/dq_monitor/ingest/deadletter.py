"""Dead-letter records: what could not be processed, why, and enough to find or replay it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from dq_monitor.events import format_rfc3339

#: Raw payloads are kept up to this size in a dead-letter record.
MAX_RAW_BYTES = 64 * 1024


def malformed_event(
    *,
    reason: str,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    raw: bytes | None,
) -> dict[str, Any]:
    """The ``malformed_event`` record: ``raw`` as text, or base64 when it is not UTF-8."""
    body = raw or b""
    clipped = body[:MAX_RAW_BYTES]
    try:
        text, encoding = clipped.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(clipped) - 3 and len(body) > MAX_RAW_BYTES:
            text, encoding = clipped[: exc.start].decode("utf-8"), "utf-8"  # cut mid-character
        else:
            text, encoding = base64.b64encode(clipped).decode("ascii"), "base64"
    ts = None
    if timestamp_ms is not None and timestamp_ms >= 0:
        ts = format_rfc3339(datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC))
    return {
        "kind": "malformed_event",
        "reason": reason,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": ts,
        "raw": text,
        "raw_encoding": encoding,
        "raw_truncated": len(body) > MAX_RAW_BYTES,
        "raw_bytes": len(body),
    }
