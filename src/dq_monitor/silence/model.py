"""FR-018 silences: what an operator asks for, and what is stored and shown.

A silence holds the deliveries of the alerts it matches from ``starts_at`` until ``ends_at``.
Every given matcher must match: ``source`` and ``subject`` are globs (``warehouse.*``), ``check``
and ``severity`` exact. A silence matches no alert before it starts or once it has ended, so it
expires by itself. Expiring one early stores it again with ``expired_at`` set: that state, not a
comparison of clocks, ends it on every instance that reads the record (NFR-008), so an instance
whose clock is behind the creator's still expires it for everyone.

A request's times are bounded so that every record stored can be read back (NFR-006): a
duration is at most 8784h (the config's bound on every duration), and a silence must end before
9000-01-01, the end of the accepted timestamp range.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from dq_monitor.config import MAX_DURATION_S, CheckKind, SeverityName, parse_duration
from dq_monitor.events import MAX_TIME, Alert, Timestamp, format_rfc3339

SilenceState = Literal["pending", "active", "expired"]

#: The longest a silence may run (8784h, the bound of every duration in the config): longer is a
#: config change (a route or mute window), not a silence someone will remember to lift.
MAX_SILENCE = timedelta(seconds=MAX_DURATION_S)
_HOURS = f"{MAX_DURATION_S / 3600:g}h"


def _before_max_time(end: datetime) -> None:
    """A silence ending at or after ``MAX_TIME`` would be a record no instance can read back."""
    if end >= MAX_TIME:
        raise ValueError(f"the silence would end at or after {format_rfc3339(MAX_TIME)}, the end "
                         "of the accepted timestamp range")


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

    @field_validator("duration")
    @classmethod
    def _bounded(cls, duration: str | None, info: ValidationInfo) -> str | None:
        """Positive, at most ``MAX_SILENCE``, and (with ``starts_at``) ending in range."""
        if duration is None:
            return None
        seconds = parse_duration(duration)
        if seconds <= 0:
            raise ValueError("must be longer than 0s")
        if seconds > MAX_DURATION_S:
            raise ValueError(f"too long: a silence may last at most {_HOURS} "
                             f"({MAX_SILENCE.days} days)")
        start = info.data.get("starts_at")
        if isinstance(start, datetime):
            _before_max_time(start + timedelta(seconds=seconds))
        return duration

    @model_validator(mode="after")
    def _one_end(self) -> Self:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give exactly one of ends_at and duration")
        if self.starts_at is not None and self.ends_at is not None:
            if self.ends_at <= self.starts_at:
                raise ValueError("ends_at must be after starts_at")
            if self.ends_at - self.starts_at > MAX_SILENCE:
                raise ValueError(f"a silence may last at most {_HOURS} "
                                 f"({MAX_SILENCE.days} days) from starts_at to ends_at")
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
            raise ValueError(f"a silence may last at most {_HOURS} ({MAX_SILENCE.days} days)")
        _before_max_time(end)
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
    #: When this record was written, by the writer's clock: shown, never compared (the topic's
    #: order decides which record of a silence is current).
    updated_at: Timestamp
    #: Set when an operator expired it early (by the clock of the instance asked): from then on
    #: it holds nothing and is ``expired`` on every instance, whatever their clocks say.
    expired_at: Timestamp | None = None

    def state_at(self, now: datetime) -> SilenceState:
        if self.expired_at is not None:
            return "expired"
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def silences(self, alert: Alert, now: datetime) -> bool:
        return (self.expired_at is None and self.starts_at <= now < self.ends_at
                and self.matches(alert))

    @property
    def ended_at(self) -> datetime:
        """When it stopped holding (or will): its end, or its early expiry if that came first;
        expired silences are listed, then forgotten, counting from here."""
        return self.ends_at if self.expired_at is None else min(self.ends_at, self.expired_at)

    def expire(self, now: datetime) -> Silence:
        """This silence, expired early at ``now``; unchanged if it already was.

        The record is written even when ``now`` is past ``ends_at`` by this instance's clock: an
        instance whose clock is behind still reads it as expired. ``ends_at`` moves to ``now``
        (never before ``starts_at``, never later than it was) so listings show when it ended.
        """
        if self.expired_at is not None:
            return self
        return self.model_copy(update={
            "ends_at": min(self.ends_at, max(now, self.starts_at)), "updated_at": now,
            "expired_at": now})

    def to_json(self) -> bytes:
        """The record value; ``expired_at`` only once set, so an instance of a version without
        the field still reads every record but an early expiry (which it skips as unreadable)."""
        return self.model_dump_json(exclude={"expired_at"} if self.expired_at is None
                                    else None).encode()


class SilenceView(Silence):
    """A silence as the API shows it: with its state at the time of asking."""

    state: SilenceState

    @classmethod
    def of(cls, silence: Silence, now: datetime) -> SilenceView:
        return cls(**silence.model_dump(), state=silence.state_at(now))
