"""FR-018 silences: what an operator asks for, and what is stored and shown.

A silence holds the deliveries of the alerts it matches from ``starts_at`` until ``ends_at``.
Every given matcher must match: ``source`` and ``subject`` are globs (``warehouse.*``), ``check``
and ``severity`` exact. A silence matches no alert before it starts or once it has ended, so it
expires by itself; expiring one early stores it again with ``ends_at`` set to that moment.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dq_monitor.config import CheckKind, SeverityName, parse_duration
from dq_monitor.events import Alert, Timestamp

SilenceState = Literal["pending", "active", "expired"]

#: The longest a silence may run: longer is a config change (a route or mute window), not a
#: silence someone will remember to lift.
MAX_SILENCE = timedelta(days=366)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Matchers(_Strict):
    """Which alerts a silence holds; at least one matcher must be given."""

    source: str | None = Field(default=None, min_length=1, max_length=512)
    check: CheckKind | None = None
    subject: str | None = Field(default=None, min_length=1, max_length=512)
    severity: SeverityName | None = None

    @model_validator(mode="after")
    def _some(self) -> Self:
        if all(v is None for v in (self.source, self.check, self.subject, self.severity)):
            raise ValueError("give at least one of source, check, subject, severity "
                             "(a silence of everything would hide every page)")
        return self

    def matches(self, alert: Alert) -> bool:
        return ((self.source is None or fnmatchcase(alert.source, self.source))
                and (self.check is None or alert.check == self.check)
                and (self.subject is None
                     or fnmatchcase(alert.subject or "", self.subject))
                and (self.severity is None or alert.severity == self.severity))


class SilenceRequest(Matchers):
    """The body of ``POST /api/v1/silences``: matchers, when, who and why."""

    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    #: How long from ``starts_at`` (or now), e.g. ``"2h"``; instead of ``ends_at``.
    duration: str | None = None
    created_by: str = Field(min_length=1, max_length=256)
    comment: str = Field(min_length=1, max_length=2048)

    @model_validator(mode="after")
    def _one_end(self) -> Self:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give exactly one of ends_at and duration")
        if self.duration is not None and parse_duration(self.duration) <= 0:
            raise ValueError("duration must be positive")
        return self

    def create(self, now: datetime) -> Silence:
        """The silence this request asks for, made at ``now`` (raises ValueError when bad)."""
        start = self.starts_at or now
        if self.ends_at is not None:
            end = self.ends_at
        else:
            assert self.duration is not None
            end = start + timedelta(seconds=parse_duration(self.duration))
        if end <= now:
            raise ValueError("ends_at is in the past: the silence would never hold anything")
        if end <= start:
            raise ValueError("ends_at must be after starts_at")
        if end - start > MAX_SILENCE:
            raise ValueError(f"a silence may last at most {MAX_SILENCE.days} days")
        return Silence(
            id=str(uuid.uuid4()), source=self.source, check=self.check, subject=self.subject,
            severity=self.severity, starts_at=start, ends_at=end, created_by=self.created_by,
            comment=self.comment, updated_at=now)


class Silence(Matchers):
    """A stored silence: the record value on the silences topic (key = ``id``)."""

    id: str = Field(min_length=1, max_length=64)
    starts_at: Timestamp
    ends_at: Timestamp
    created_by: str
    comment: str
    updated_at: Timestamp

    def state_at(self, now: datetime) -> SilenceState:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def silences(self, alert: Alert, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at and self.matches(alert)

    def expired_at(self, now: datetime) -> Silence:
        """This silence ended at ``now`` (an early expiry); unchanged if it already ended."""
        if now >= self.ends_at:
            return self
        return self.model_copy(update={"ends_at": max(now, self.starts_at), "updated_at": now})

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class SilenceView(Silence):
    """A silence as the API shows it: with its state at the time of asking."""

    state: SilenceState

    @classmethod
    def of(cls, silence: Silence, now: datetime) -> SilenceView:
        return cls(**silence.model_dump(), state=silence.state_at(now))
