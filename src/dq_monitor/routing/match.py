"""FR-007 routing: which channels an alert goes to, from the ordered ``routing.routes``.

A route's ``match`` fields must all hold (a list means any of its values; ``source`` and
``owner`` are globs; ``labels`` must each be equal). Routes are tried in order; the first
match wins unless it says ``continue``.

``status`` decides where recoveries go. A resolved alert goes to the channels its firing alert
reached (``DeliveryLog.firing_channels``) that a route still admits for ``resolved``: a route
with ``status: firing`` keeps recoveries off its channels, a route without ``status`` admits
both. A route that names ``status: resolved`` explicitly also sends recoveries to its channels
when the firing alert did not go there (a "recoveries" channel).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

from dq_monitor.config import Match, Route
from dq_monitor.events import Alert


def matches(match: Match, alert: Alert) -> bool:
    """All given fields of ``match`` hold for ``alert``."""
    return (
        (match.severity is None or alert.severity in match.severity)
        and (match.check is None or alert.check in match.check)
        and (match.source is None or fnmatch.fnmatchcase(alert.source, match.source))
        and (match.status is None or alert.status in match.status)
        and (match.owner is None
             or (alert.owner is not None and fnmatch.fnmatchcase(alert.owner, match.owner)))
        and (not match.labels or _has_labels(alert.labels, match.labels))
    )


def _has_labels(labels: dict[str, str] | None, wanted: dict[str, str]) -> bool:
    """FR-024: every wanted label is on the alert with the same value."""
    return labels is not None and all(labels.get(k) == v for k, v in wanted.items())


def matching(routes: Sequence[Route], alert: Alert) -> list[Route]:
    """The routes ``alert`` takes, in order (the first match ends the list unless it says
    ``continue``); the functions below derive channels and mutes from this one list."""
    out = []
    for route in routes:
        if matches(route.match, alert):
            out.append(route)
            if not route.continue_:
                break
    return out


def channels_of(routes: Iterable[Route]) -> list[str]:
    out: dict[str, None] = {}
    for route in routes:
        out.update(dict.fromkeys(route.channels))
    return list(out)


def route_channels(routes: Sequence[Route], alert: Alert) -> list[str]:
    """Channels of the matching routes, each once, in the order first named."""
    return channels_of(matching(routes, alert))


def resolved_channels(matched: Sequence[Route], firing: Iterable[str]) -> list[str]:
    """Where a resolved alert that took the ``matched`` routes goes, given the channels its
    firing alert reached."""
    admitted = set(channels_of(matched))
    explicit = channels_of(r for r in matched
                         if r.match.status is not None and "resolved" in r.match.status)
    return sorted({c for c in firing if c in admitted} | set(explicit))


def mute_sets(matched: Sequence[Route]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Per channel, the ``mute`` lists of the ``matched`` routes that name it (FR-018): a channel
    is held only while every one of them has an active window, so a channel also reached by an
    unmuted route is never held."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for route in matched:
        for channel in route.channels:
            out.setdefault(channel, []).append(tuple(route.mute))
    return {c: tuple(sets) for c, sets in out.items() if all(sets)}
