"""Alerts as the monitor would write them, for channel and router tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from dq_monitor.events import Alert


def make_alert(severity: Literal["WARN", "FAIL"] = "FAIL",
               status: Literal["firing", "resolved"] = "firing", fp: str = "ab" * 16,
               observed: float = 0.25, alert_id: str = "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
               ) -> Alert:
    """A completeness alert on ``warehouse.orders.customer_id``; every field can be varied
    that the router and channels look at."""
    return Alert(
        alert_id=alert_id, fingerprint=fp, check="completeness",
        source="warehouse.orders", subject="customer_id", severity=severity,
        status=status, observed=observed, expected=0.01,
        detail="warehouse.orders.customer_id null rate 25% is above the limit 1%",
        requirement="FR-004", event_time=datetime(2026, 6, 26, 11, 58, tzinfo=UTC),
        detected_at=datetime(2026, 6, 26, 11, 58, 1, tzinfo=UTC),
    )
