"""FR-007 routing: which channels a firing alert goes to."""

from __future__ import annotations

from collections.abc import Sequence

from dq_monitor.config import Route
from dq_monitor.events import Alert


def route_channels(routes: Sequence[Route], alert: Alert) -> list[str]:
    """Routes in order; the first match wins unless it says ``continue``. No channel twice."""
    out: list[str] = []
    for route in routes:
        if route.match.matches(severity=alert.severity, check=alert.check, source=alert.source,
                               status=alert.status):
            out += [c for c in route.channels if c not in out]
            if not route.continue_:
                break
    return out
