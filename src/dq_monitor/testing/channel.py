"""A channel that records what it was asked to send, and fails when told to."""

from __future__ import annotations

from dataclasses import dataclass, field

from dq_monitor.channels.base import Undelivered
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert


@dataclass
class RecordingChannel:
    """Implements the ``Channel`` protocol. ``failures`` are raised by the next sends, in
    order (then it accepts); ``sent`` holds (alert, repeat) of the accepted ones."""

    name: str = "recording"
    failures: list[DeliveryError] = field(default_factory=list)
    sent: list[tuple[Alert, bool]] = field(default_factory=list)
    attempts: int = 0
    closed: bool = False

    async def send(self, alert: Alert, *, repeat: bool) -> Undelivered | None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((alert, repeat))
        return None

    async def aclose(self) -> None:
        self.closed = True
