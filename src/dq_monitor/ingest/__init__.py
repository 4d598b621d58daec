"""Kafka in: the monitor service loop, dead letters, changelog checkpoints, topic admin."""

from __future__ import annotations

from dq_monitor.ingest.deadletter import malformed_event
from dq_monitor.ingest.service import MonitorService

__all__ = ["MonitorService", "malformed_event"]
