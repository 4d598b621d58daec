"""FR-007 routing: which channels an alert goes to, from the ordered ``routing.routes``.

The router applies this to firing alerts; a resolved alert goes to the channels that received
its firing alert (``DeliveryLog.firing_channels``), whatever the routes say by then.
"""

from __future__ import annotations

from collections.abc import Sequence

from dq_monitor.config import Route
from dq_monitor.events import Alert


def route_channels(routes: Sequence[Route], alert: Alert) -> list[str]:
    """Routes in order; the first match wins unless it says ``continue``. Each channel once,
    in the order first named."""
    out: dict[str, None] = {}
    for route in routes:
        if route.match.matches(severity=alert.severity, check=alert.check, source=alert.source,
                               status=alert.status):
            out.update(dict.fromkeys(route.channels))
            if not route.continue_:
                break
    return list(out)
