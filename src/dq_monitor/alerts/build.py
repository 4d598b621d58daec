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


def span(seconds: float) -> str:
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
        text += f" (flapping: {t.flips} state changes in {span(t.flap_window)}; held firing)"
    return text


#: Namespace of the name-based (UUID5) alert ids.
ALERT_ID_NAMESPACE = uuid.UUID("6f1c3e2a-9b7d-5c4e-8a1f-3d2b7e9c0a51")


def alert_id_for(fp: str, severity: str, status: str, event_time: datetime,
                 observed: float | None) -> str:
    """The same transition gives the same id: replaying input after a crash re-creates alerts
    the router already delivered, and with equal ids it knows them for copies (FR-009)."""
    name = f"{fp}|{severity}|{status}|{event_time.isoformat()}|{observed!r}"
    return str(uuid.uuid5(ALERT_ID_NAMESPACE, name))


def build_alert(
    t: Transition, *, event_time: datetime, detected_at: datetime, alert_id: str | None = None,
    labels: dict[str, str] | None = None, owner: str | None = None,
    runbook_url: str | None = None,
) -> Alert:
    """The alert event for ``t``; ``alert_id`` defaults to ``alert_id_for`` the transition.
    ``owner``, ``labels`` and ``runbook_url`` are its source's (FR-024), absent when None."""
    v = t.verdict
    if t.severity is Severity.FAIL:
        severity: Literal["WARN", "FAIL"] = "FAIL"
    elif t.severity is Severity.WARN:
        severity = "WARN"
    else:
        raise ValueError(f"{v.check} alert for {v.source}: a transition cannot be {t.severity}")
    fp = fingerprint(v.check, v.source, v.subject)
    return Alert(
        alert_id=alert_id if alert_id is not None else alert_id_for(
            fp, severity, t.status, event_time, v.observed),
        fingerprint=fp,
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
        labels=labels,
        owner=owner,
        runbook_url=runbook_url,
    )
