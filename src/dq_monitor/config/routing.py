"""The ``routing`` section (FR-007, FR-009, FR-010, FR-018): which alerts go to which channels,
recurring mute windows, dedup and retry; and the alert fields a route matches on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator

from dq_monitor.config.base import _as_list, _Model
from dq_monitor.config.durations import Duration, PositiveDuration
from dq_monitor.config.raw import _dict, _list, _seconds

SeverityName = Literal["WARN", "FAIL"]
CheckKind = Literal[
    "freshness", "completeness", "anomaly", "threshold", "run", "assertion", "schema"]
StatusName = Literal["firing", "resolved"]


def _one_or_many(*values: str) -> WithJsonSchema:
    one = {"type": "string", "enum": list(values)}
    return WithJsonSchema({"anyOf": [one, {"type": "array", "items": one}, {"type": "null"}]})


class Match(_Model):
    """All given fields must match; a list means any of its values; ``source`` and ``owner``
    are globs; ``labels`` match when each given label is equal."""

    severity: Annotated[
        list[SeverityName] | None, BeforeValidator(_as_list), _one_or_many("WARN", "FAIL")
    ] = None
    check: Annotated[
        list[CheckKind] | None,
        BeforeValidator(_as_list),
        _one_or_many(
            "freshness", "completeness", "anomaly", "threshold", "run", "assertion", "schema"),
    ] = None
    source: str | None = None
    #: FR-024: a glob on the owner of the alert's source (an alert without one never matches).
    owner: str | None = None
    #: FR-024: every given label equal to the alert's.
    labels: dict[str, str] | None = None
    status: Annotated[
        list[StatusName] | None, BeforeValidator(_as_list), _one_or_many("firing", "resolved")
    ] = None


#: FR-027: the fields alerts may be grouped by or compared on, besides ``labels.KEY``.
GROUP_FIELDS = ("source", "check", "owner", "severity")


def valid_field(name: str) -> bool:
    """Whether ``name`` is one of ``GROUP_FIELDS`` or ``labels.KEY``."""
    return name in GROUP_FIELDS or (name.startswith("labels.") and len(name) > len("labels."))


def _group_field(name: str) -> str:
    if not valid_field(name):
        raise ValueError(f"unknown field {name!r} (use {', '.join(GROUP_FIELDS)} or labels.KEY)")
    return name


#: FR-027: an alert field a group or an inhibition rule compares.
AlertField = Annotated[
    str, AfterValidator(_group_field),
    WithJsonSchema({"type": "string",
                    "pattern": r"^(source|check|owner|severity|labels\..+)$"})]


class InhibitRule(_Model):
    """FR-027: while an alert matching ``source`` fires, alerts matching ``target`` whose
    ``equal`` fields have the same values are not delivered."""

    source: Match
    target: Match
    equal: list[AlertField] = Field(default_factory=list)


class Route(_Model):
    match: Match = Field(default_factory=Match)
    channels: list[str] = Field(min_length=1)
    continue_: bool = Field(default=False, alias="continue")
    #: FR-018: names of ``routing.mute_windows`` that hold this route's deliveries.
    mute: list[str] = Field(default_factory=list)
    #: FR-027: this route's own grouping (``None``: ``routing.group_by`` and its timing).
    group_by: list[AlertField] | None = None
    group_wait: Duration | None = None
    group_interval: PositiveDuration | None = None


_CLOCK = r"^([01]\d|2[0-3]):[0-5]\d$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _zone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as "
                         "'Europe/Berlin')") from None
    return name


class TimeSpan(_Model):
    """``start``–``end`` as ``HH:MM``; an ``end`` before ``start`` runs past midnight."""

    start: str = Field(pattern=_CLOCK)
    end: str = Field(pattern=_CLOCK)

    @model_validator(mode="after")
    def _not_empty(self) -> TimeSpan:
        if self.start == self.end:
            raise ValueError("start and end are equal: the window would be empty")
        return self


class MuteWindowConfig(_Model):
    """FR-018: a recurring mute window; every day when ``weekdays`` is not given."""

    weekdays: list[Weekday] | None = Field(default=None, min_length=1)
    times: list[TimeSpan] = Field(min_length=1)
    time_zone: Annotated[str, AfterValidator(_zone)] = "UTC"


class RetryConfig(_Model):
    initial: PositiveDuration = "500ms"  # type: ignore[assignment]
    factor: float = Field(default=2.0, ge=1)
    cap: PositiveDuration = "30s"  # type: ignore[assignment]
    max_attempts: int = Field(default=6, ge=1)
    max_elapsed: PositiveDuration = "2m"  # type: ignore[assignment]


class RoutingConfig(_Model):
    dedup_window: PositiveDuration = "5m"  # type: ignore[assignment]
    routes: list[Route] = Field(default_factory=list)
    mute_windows: dict[str, MuteWindowConfig] = Field(default_factory=dict)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    queue_size: int = Field(default=1000, ge=1)
    #: FR-027: one notification per group of alerts with equal values of these fields (per
    #: route and channel); empty: every alert on its own.
    group_by: list[AlertField] = Field(default_factory=list)
    group_wait: Duration = "0s"  # type: ignore[assignment]
    group_interval: PositiveDuration = "1m"  # type: ignore[assignment]
    inhibit: list[InhibitRule] = Field(default_factory=list)
    #: FR-027: a firing freshness or run alert holds the alerts of every source downstream.
    inhibit_downstream: bool = True


# --------------------------------------------------------------------------- cross-checks


def routing_checks(routing: dict[str, Any], channels: dict[str, Any]) -> Iterator[str]:
    """The raw ``routing`` section: a retry that starts within its cap, and routes that name
    mute windows and channels that exist."""
    retry = _dict(routing.get("retry"))
    initial, cap = _seconds(retry.get("initial", "500ms")), _seconds(retry.get("cap", "30s"))
    if initial and cap and initial > cap:
        yield f"routing.retry.initial: must not exceed cap ({initial:g}s > {cap:g}s)"
    windows = _dict(routing.get("mute_windows"))
    for i, route in enumerate(_list(routing.get("routes"))):
        for j, w in enumerate(_list(_dict(route).get("mute"))):
            if isinstance(w, str) and w not in windows:
                known = ", ".join(sorted(windows)) or "none defined"
                yield (f"routing.routes[{i}].mute[{j}]: unknown mute window {w!r} "
                       f"(known: {known})")
        for j, ch in enumerate(_list(_dict(route).get("channels"))):
            if isinstance(ch, str) and ch not in channels:
                known = ", ".join(sorted(channels)) or "none defined"
                yield f"routing.routes[{i}].channels[{j}]: unknown channel {ch!r} (known: {known})"
