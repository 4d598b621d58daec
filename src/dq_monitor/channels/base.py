"""The one Protocol every channel implements, and the text every channel shows.

``send`` either returns (the channel accepted the alert) or raises ``DeliveryError`` saying
whether trying again may help. Channels hold no routing, dedup or retry rules.
"""

from __future__ import annotations

from typing import Any, Protocol

from dq_monitor.events import Alert


class Channel(Protocol):
    name: str

    async def send(self, alert: Alert, *, repeat: bool) -> None: ...

    async def aclose(self) -> None: ...


def alert_payload(alert: Alert, repeat: bool) -> dict[str, Any]:
    """The alert event as on the alert topic, plus ``repeat`` (true for reminders)."""
    return {**alert.model_dump(mode="json"), "repeat": repeat}


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def title(alert: Alert, repeat: bool = False) -> str:
    """``[FAIL] completeness warehouse.orders customer_id`` (+ resolved / reminder marks)."""
    status = "RESOLVED " if alert.status == "resolved" else ""
    again = " (reminder: still firing)" if repeat else ""
    subject = f" {alert.subject}" if alert.subject else ""
    return f"{status}[{alert.severity}] {alert.check} {alert.source}{subject}{again}"


def fields(alert: Alert) -> list[tuple[str, str]]:
    """The facts an on-call reader needs, in reading order."""
    return [
        ("Severity", alert.severity),
        ("Status", alert.status),
        ("Check", f"{alert.check} ({alert.requirement})"),
        ("Source", alert.source),
        ("Subject", alert.subject or "—"),
        ("Observed", _num(alert.observed)),
        ("Expected", _num(alert.expected)),
        ("Event time", alert.model_dump(mode="json")["event_time"]),
        ("Fingerprint", alert.fingerprint),
    ]


def render_text(alert: Alert, repeat: bool = False) -> str:
    lines = [title(alert, repeat), "", alert.detail, ""]
    lines += [f"{k}: {v}" for k, v in fields(alert)]
    return "\n".join(lines) + "\n"
