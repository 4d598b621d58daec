"""The one Protocol every channel implements, and the wording every channel shows.

``send`` either returns (the channel accepted the alert) or raises ``DeliveryError`` saying
whether trying again may help and, when the receiver said so, how long to wait. Channels hold
no routing, dedup or retry rules: those live in ``dq_monitor.routing`` and are the same for all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from dq_monitor.events import Alert

#: One colour per state, shared by Slack attachments and the HTML email.
COLOURS = {"FAIL": "#d32f2f", "WARN": "#f9a825", "resolved": "#2e7d32"}


@dataclass(frozen=True, slots=True)
class Undelivered:
    """What ``send`` returns when the channel accepted the alert for some recipients only:
    sending it again to everyone would duplicate it for the others. ``recipients`` were refused
    for good (dead-lettered); ``later`` were refused for now (an SMTP 4xx, e.g. a rate limit),
    and a ``Readdressable`` channel is asked again for them alone."""

    recipients: tuple[str, ...]
    reason: str
    later: tuple[str, ...] = ()
    later_reason: str = ""
    #: ``later`` were refused by a rate limit (see ``DeliveryError.rate_limited``).
    later_rate_limited: bool = False


class Channel(Protocol):
    """A delivery adapter. ``send`` raises ``DeliveryError`` only, and returns ``Undelivered``
    for recipients that were refused while others were reached; ``aclose`` frees its pool."""

    name: str

    async def send(self, alert: Alert, *, repeat: bool) -> Undelivered | None: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Readdressable(Protocol):
    """A channel that can send an alert again to some of its recipients only (email)."""

    async def send_to(self, alert: Alert, *, repeat: bool,
                      recipients: tuple[str, ...]) -> Undelivered | None: ...


def alert_payload(alert: Alert, repeat: bool) -> dict[str, Any]:
    """The alert event exactly as on the alert topic, plus ``repeat`` (true for reminders)."""
    return {**alert.wire(), "repeat": repeat}


def colour(alert: Alert) -> str:
    return COLOURS["resolved"] if alert.status == "resolved" else COLOURS[alert.severity]


def number(value: float | None) -> str:
    """Six significant digits: enough to compare, short enough for a phone screen."""
    return "—" if value is None else f"{value:.6g}"


def title(alert: Alert, repeat: bool = False) -> str:
    """``[FAIL] completeness warehouse.orders customer_id``; ``RESOLVED``/``REMINDER`` in front.

    It is the email subject and the Slack notification text, so it leads with what matters.
    """
    mark = "RESOLVED " if alert.status == "resolved" else "REMINDER " if repeat else ""
    subject = f" {alert.subject}" if alert.subject else ""
    return f"{mark}[{alert.severity}] {alert.check} {alert.source}{subject}"


def fields(alert: Alert) -> list[tuple[str, str]]:
    """The facts an on-call reader needs, in reading order; the source's owner, labels and
    runbook (FR-024) when it has them."""
    out = [
        ("Severity", alert.severity),
        ("Status", alert.status),
        ("Check", f"{alert.check} ({alert.requirement})"),
        ("Source", alert.source),
    ]
    if alert.owner is not None:
        out.append(("Owner", alert.owner))
    out += [
        ("Subject", alert.subject or "—"),
        ("Observed", number(alert.observed)),
        ("Expected", number(alert.expected)),
        ("Event time", alert.wire()["event_time"]),
        ("Fingerprint", alert.fingerprint),
    ]
    if alert.labels:
        out.append(("Labels", labels_text(alert.labels)))
    if alert.runbook_url is not None:
        out.append(("Runbook", alert.runbook_url))
    return out


def labels_text(labels: dict[str, str]) -> str:
    """``domain=sales, tier=gold``: the labels sorted by name, for text media."""
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def render_text(alert: Alert, repeat: bool = False) -> str:
    """Plain-text body: title, the detail sentence, observed vs expected, then every fact."""
    lines = [title(alert, repeat), ""]
    if repeat and alert.status == "firing":
        lines += ["Still firing: this is a reminder, sent once per dedup window.", ""]
    lines += [
        alert.detail,
        f"Observed {number(alert.observed)} vs expected {number(alert.expected)}.",
        "",
    ]
    lines += [f"{k}: {v}" for k, v in fields(alert)]
    return "\n".join(lines) + "\n"
