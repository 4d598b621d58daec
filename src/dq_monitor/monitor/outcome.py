"""What the core hands the adapter: alerts to write, and dead letters it decided on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dq_monitor.checks.anomaly import AnomalyResult
from dq_monitor.events import Alert

if TYPE_CHECKING:
    from opentelemetry.context import Context


@dataclass(frozen=True, slots=True)
class Emitted:
    """An alert to write, the partition whose state caused it, and when its cause happened."""

    alert: Alert
    partition: int
    #: Kafka timestamp of the triggering event, or the freshness deadline (NFR-002 latency start).
    triggered_at: datetime
    #: The triggering record's trace context, set by the adapter (opaque to the core).
    trace: Context | None = None


@dataclass(slots=True)
class Outcome:
    alerts: list[Emitted] = field(default_factory=list)
    #: Records for the dead-letter topic decided by the core (series past ``max_series``).
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    #: (subject, result) of each anomaly evaluation, only when ``Monitor.trace_anomaly`` is on.
    anomaly: list[tuple[str, AnomalyResult]] = field(default_factory=list)
