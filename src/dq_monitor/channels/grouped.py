"""A group's notification (FR-027): what one message to a channel says about a group of alerts.

The router decides what a group's notification holds (``routing.group``); the channels that page
people render it as one message (``GroupChannel``): Slack one message with a line per alert,
email one mail, the webhook one JSON ``{"group_key", "status", "alerts"}``, PagerDuty one
incident whose ``dedup_key`` is the group key. The Kafka and Alertmanager channels are not
``GroupChannel``: they still get every alert (Alertmanager groups by itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from dq_monitor.channels.base import Undelivered, number
from dq_monitor.events import Alert


class Kind(StrEnum):
    FIRST = "first"
    UPDATE = "update"
    RESOLVED = "resolved"
    REMINDER = "reminder"


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification of a group on its channel."""

    group_key: str
    channel: str
    kind: Kind
    #: ``firing`` while an alert of the group fires, else ``resolved``.
    status: str
    #: The group's firing alerts, then those resolved since its last notification.
    alerts: tuple[Alert, ...]
    #: The values of the ``group_by`` fields that name the group.
    values: dict[str, str]
    #: Fingerprints this notification carries for the first time (NFR-002 is measured to it).
    news: tuple[str, ...] = ()
    #: Per fingerprint: what else to say of it (the blast radius of an upstream alert).
    notes: Mapping[str, str] = field(default_factory=dict)

    @property
    def repeat(self) -> bool:
        return self.kind is Kind.REMINDER

    def severity(self) -> str:
        """The highest severity among the group's alerts."""
        return "FAIL" if any(a.severity == "FAIL" for a in self.alerts) else "WARN"

    def wire(self) -> dict[str, Any]:
        """The webhook body of a group: ``{"group_key", "status", "alerts"}`` (plus ``repeat``
        for reminders, and the notes of alerts that have one)."""
        out: dict[str, Any] = {
            "group_key": self.group_key, "status": self.status,
            "alerts": [{**a.wire(), **({"note": self.notes[a.fingerprint]}
                                       if a.fingerprint in self.notes else {})}
                       for a in self.alerts],
            "repeat": self.repeat}
        return out


def group_title(note: Notification) -> str:
    """``[FAIL] 3 alerts: source=warehouse.orders``; ``RESOLVED``/``REMINDER``/``UPDATE``
    in front, like an alert's title."""
    mark = {Kind.RESOLVED: "RESOLVED ", Kind.REMINDER: "REMINDER ",
            Kind.UPDATE: "UPDATE ", Kind.FIRST: ""}[note.kind]
    firing = sum(a.status == "firing" for a in note.alerts)
    what = f"{firing} firing" if note.status == "firing" else f"{len(note.alerts)} resolved"
    if note.status == "firing" and firing != len(note.alerts):
        what += f", {len(note.alerts) - firing} resolved"
    named = ", ".join(f"{k}={v}" for k, v in note.values.items() if v)
    return f"{mark}[{note.severity()}] {what}" + (f": {named}" if named else "")


def alert_line(alert: Alert, note: str | None = None) -> str:
    """One alert of a group on one line: state, check, where, observed vs expected."""
    state = "resolved" if alert.status == "resolved" else alert.severity
    subject = f" {alert.subject}" if alert.subject else ""
    line = (f"[{state}] {alert.check} {alert.source}{subject}: {alert.detail} "
            f"(observed {number(alert.observed)}, expected {number(alert.expected)})")
    return line + (f" — {note}" if note else "")


def group_text(note: Notification) -> str:
    """The plain-text body of a group's notification: the title, then a line per alert."""
    lines = [group_title(note), ""]
    if note.repeat:
        lines += ["Still firing: this is a reminder, sent once per dedup window.", ""]
    lines += [f"- {alert_line(a, note.notes.get(a.fingerprint))}" for a in note.alerts]
    lines += ["", f"Group: {note.group_key}"]
    return "\n".join(lines) + "\n"


@runtime_checkable
class GroupChannel(Protocol):
    """A channel that renders a group's notification as one message."""

    name: str

    async def send_group(self, note: Notification) -> Undelivered | None: ...


@runtime_checkable
class GroupReaddressable(Protocol):
    """A group channel that can send a group's notification to some recipients only."""

    async def send_group_to(self, note: Notification, *,
                            recipients: tuple[str, ...]) -> Undelivered | None: ...


class GroupSend:
    """One group notification as a ``Channel`` the shared retry policy can deliver: the alert
    it is handed is ignored (the notification is the message)."""

    def __init__(self, channel: GroupChannel, note: Notification) -> None:
        self.name = channel.name
        self.channel, self.note = channel, note

    async def send(self, alert: Alert, *, repeat: bool) -> Undelivered | None:
        return await self.channel.send_group(self.note)

    async def send_to(self, alert: Alert, *, repeat: bool,
                      recipients: tuple[str, ...]) -> Undelivered | None:
        if isinstance(self.channel, GroupReaddressable):
            return await self.channel.send_group_to(self.note, recipients=recipients)
        return await self.channel.send_group(self.note)

    async def aclose(self) -> None:
        return None
