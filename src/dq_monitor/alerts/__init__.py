"""Alert state: one machine per fingerprint turns verdicts into alert events (FR-006, FR-015)."""

from __future__ import annotations

from dq_monitor.alerts.build import build_alert
from dq_monitor.alerts.fingerprint import fingerprint
from dq_monitor.alerts.machine import AlertMachine, AlertStateError, Transition

__all__ = ["AlertMachine", "AlertStateError", "Transition", "build_alert", "fingerprint"]
