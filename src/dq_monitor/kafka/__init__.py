"""Kafka plumbing shared by the monitor, the router and the Kafka channel: clients and access."""

from __future__ import annotations

from dq_monitor.kafka.access import check_access
from dq_monitor.kafka.clients import (
    common_kwargs,
    consumer_kwargs,
    producer_kwargs,
    security_kwargs,
    ssl_context,
)

__all__ = [
    "check_access",
    "common_kwargs",
    "consumer_kwargs",
    "producer_kwargs",
    "security_kwargs",
    "ssl_context",
]
