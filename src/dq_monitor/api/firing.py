"""FR-019: what is firing across the deployment, folded from the alert topic; plain code.

The alert topic is the record of every transition, whichever instance wrote it, so each instance
reads all of it (``kafka.tail``) and keeps, per fingerprint, the newest alert: firing ones are
listed, a ``resolved`` removes its fingerprint. Every instance therefore answers alike. The view
reaches back as far as the topic's retention: an alert firing since before the oldest record
kept is not in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from dq_monitor.events import Alert

_RANK = {"FAIL": 0, "WARN": 1}


@dataclass(frozen=True, slots=True)
class Firing:
    alert: Alert
    #: When this episode began firing (an escalation from WARN to FAIL keeps it).
    since: datetime


class FiringView:
    def __init__(self) -> None:
        self._by_fp: dict[str, Firing] = {}
        self.unreadable = 0

    def __len__(self) -> int:
        return len(self._by_fp)

    def apply(self, alert: Alert) -> None:
        if alert.status == "resolved":
            self._by_fp.pop(alert.fingerprint, None)
            return
        old = self._by_fp.get(alert.fingerprint)
        since = alert.event_time if old is None else min(old.since, alert.event_time)
        self._by_fp[alert.fingerprint] = Firing(alert, since)

    def apply_record(self, value: bytes | None) -> None:
        """One record of the alert topic; one that is not an alert is counted and skipped (the
        router dead-letters it)."""
        try:
            self.apply(Alert.from_json(value or b""))
        except (ValidationError, ValueError, TypeError):
            self.unreadable += 1

    def firing(self) -> list[Firing]:
        """FAIL before WARN, then oldest first."""
        return sorted(self._by_fp.values(),
                      key=lambda f: (_RANK[f.alert.severity], f.since, f.alert.fingerprint))
