"""Alert routing: which channels, dedup, retries (pure), and the Kafka router loop."""

from __future__ import annotations

from dq_monitor.routing.dedup import Decision, DeliveryLog
from dq_monitor.routing.match import route_channels
from dq_monitor.routing.retry import DeliveryOutcome, RetryPolicy, deliver_with_retry

__all__ = [
    "Decision",
    "DeliveryLog",
    "DeliveryOutcome",
    "RetryPolicy",
    "deliver_with_retry",
    "route_channels",
]
