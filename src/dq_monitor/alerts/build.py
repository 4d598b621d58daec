"""A ``Transition`` becomes the spec's alert event: id, fingerprint, figures and a sentence.

Observed/expected always come from the verdict that caused the transition, so a ``resolved``
event shows the healthy figures that ended the alert, and a flap hold shows the figures that
would have resolved it had the alert not been flapping.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from dq_monitor.alerts.fingerprint import fingerprint
from dq_monitor.alerts.machine import Transition
from dq_monitor.checks.verdict import Severity
from dq_monitor.events import Alert


def _span(seconds: float) -> str:
    """A window length the way it is written in the config: ``10m``, ``1h``, ``90s``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


def describe(t: Transition) -> str:
    """The alert's ``detail`` sentence."""
    v = t.verdict
    if t.status == "resolved":
        text = f"Resolved: {v.detail}"
    elif not v.severity.firing:
        text = f"Condition cleared, but the {t.severity.value} alert is held: {v.detail}"
    else:
        text = v.detail
    if t.flapping:
        text += f" (flapping: {t.flips} state changes in {_span(t.flap_window)}; held firing)"
    return text


def build_alert(
    t: Transition, *, event_time: datetime, detected_at: datetime, alert_id: str | None = None
) -> Alert:
    """The alert event for ``t``; ``alert_id`` defaults to a fresh UUID4."""
    v = t.verdict
    if t.severity is Severity.FAIL:
        severity: Literal["WARN", "FAIL"] = "FAIL"
    elif t.severity is Severity.WARN:
        severity = "WARN"
    else:
        raise ValueError(f"{v.check} alert for {v.source}: a transition cannot be {t.severity}")
    return Alert(
        alert_id=alert_id if alert_id is not None else str(uuid.uuid4()),
        fingerprint=fingerprint(v.check, v.source, v.subject),
        check=v.check,
        source=v.source,
        subject=v.subject,
        severity=severity,
        status=t.status,
        observed=v.observed,
        expected=v.expected,
        detail=describe(t),
        requirement=v.requirement,
        event_time=event_time,
        detected_at=detected_at,
    )
