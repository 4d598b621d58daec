"""The per-fingerprint alert state machine (FR-006 transitions, FR-015 damping), sans I/O.

One ``AlertMachine`` follows one (check, source, subject). It is fed every non-``PENDING``
verdict and the instant it applies to; it never reads a clock, so the service, the backtest and
the tests drive it identically. ``observe`` returns the ``Transition`` to publish, if any.

Transitions (with damping off):

* OK → WARN or FAIL: ``firing`` at that severity.
* WARN → FAIL while firing WARN: ``firing`` FAIL (an escalation).
* FAIL → WARN while firing FAIL: **nothing**. The alert stays at FAIL until the condition clears
  entirely. A page is never downgraded silently, and a lower-severity firing event would route to
  fewer channels, so the on-call who was paged would not hear how it ends; the ``resolved``
  event, carrying FAIL, goes where the page went. A later return to FAIL is not re-announced.
* anything firing → OK: ``resolved`` carrying the severity that was firing.
* the same firing severity again: nothing (reminders are the router's job); ``PENDING``: nothing,
  and no state changes.

Damping (FR-015), from the check's ``Damping`` options:

* ``for``: a severity fires only once the condition at or above it has held for ``for_`` seconds
  without a break (an OK verdict breaks it; PENDING does not). An escalation to FAIL while firing
  WARN waits ``for_`` from when FAIL began. A condition that clears before then emits nothing.
* ``resolve_after``: while firing, the condition must be clear (OK) that long before ``resolved``
  (0 = the first OK verdict resolves).
* flap damping (``max_flaps`` flips in the trailing ``flap_window``, a flip being an emitted
  firing-after-resolved or resolved-after-firing): a resolve that would exceed the limit is held —
  the alert stays firing and one ``firing`` transition with ``flapping=True`` (same severity,
  caused by the clearing verdict) announces the hold, so the alert topic says why nothing resolves.
  A new firing is never held back, since that would hide an incident; one that exceeds the limit
  carries ``flapping=True`` and holds the alert the same way. While held, escalations carry
  ``flapping=True``; once the flips in the window fall below ``max_flaps`` and the condition is
  clear (for ``resolve_after``), the alert resolves normally. ``max_flaps=None`` disables this.

``next_due`` tells the scheduler when a pending ``for``, ``resolve_after`` or flap-hold timer
completes, so the last verdict can be re-observed then.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from dq_monitor.checks.verdict import FAIL, PENDING, WARN, Severity, Verdict
from dq_monitor.config import Damping
from dq_monitor.errors import DqMonitorError

_STATE_VERSION = 1


class AlertStateError(DqMonitorError):
    """A checkpointed machine state cannot be restored; the message names the field."""


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert event to publish, before it gets an id and timestamps (see ``alerts.build``)."""

    status: Literal["firing", "resolved"]
    #: WARN or FAIL; for ``resolved``, the severity that was firing.
    severity: Severity
    #: The verdict that caused it (for a flap hold, the clearing verdict).
    verdict: Verdict
    #: When the condition behind this transition began (>= severity for firing, OK for resolved).
    since: datetime
    flapping: bool = False
    #: Flips in the trailing flap window, counting this one (meaningful when ``flapping``).
    flips: int = 0
    #: Length of the flap window in seconds (meaningful when ``flapping``).
    flap_window: float = 0.0


class AlertMachine:
    """Alert state of one fingerprint; small, since one exists per non-OK subject."""

    __slots__ = ("_clear_since", "_damping", "_fail_since", "_firing", "_flips", "_held",
                 "_warn_since")

    def __init__(self, damping: Damping) -> None:
        self._damping = damping
        #: Severity currently firing (emitted and not resolved), or None.
        self._firing: Severity | None = None
        #: Start of the unbroken stretch of verdicts >= WARN / == FAIL / == OK.
        self._warn_since: datetime | None = None
        self._fail_since: datetime | None = None
        self._clear_since: datetime | None = None
        #: Instants of emitted flips; None when flap damping is off.
        self._flips: deque[datetime] | None = (
            None if damping.max_flaps is None else deque(maxlen=damping.max_flaps + 1)
        )
        #: Firing held by flap damping (a resolve was, or would have been, suppressed).
        self._held = False

    # ------------------------------------------------------------------ queries

    @property
    def firing(self) -> Severity | None:
        """The severity currently firing, or ``None``."""
        return self._firing

    @property
    def flapping(self) -> bool:
        """Whether flap damping is holding the alert firing."""
        return self._held

    @property
    def idle(self) -> bool:
        """Nothing firing, pending or remembered: the caller may drop this machine.

        Flip history keeps a machine alive until it leaves the window (it is pruned on
        ``observe``), so dropping and re-creating machines cannot defeat flap damping.
        """
        return self._firing is None and self._warn_since is None and not self._flips

    def next_due(self, now: datetime) -> datetime | None:
        """When a pending timer completes if no new verdict arrives, or ``None``.

        After ``observe(v, now)`` with a non-PENDING ``v`` the result is always after ``now``;
        re-observing the last verdict at that instant lets the timer take effect.
        """
        d = self._damping
        due: list[datetime] = []
        for_ = timedelta(seconds=d.for_)
        if self._firing is None and self._warn_since is not None:
            due.append(self._warn_since + for_)
        elif self._firing is WARN and self._fail_since is not None:
            due.append(self._fail_since + for_)
        if self._firing is not None and self._clear_since is not None:
            at = self._clear_since + timedelta(seconds=d.resolve_after)
            release = self._release_at(now)
            due.append(at if release is None else max(at, release))
        return min(due, default=None)

    # ------------------------------------------------------------------ the machine

    def observe(self, verdict: Verdict, now: datetime) -> Transition | None:
        """Apply one verdict at ``now``; return the transition to publish, if any."""
        level = verdict.severity
        if level is PENDING:
            return None
        self._track(level, now)
        self._prune(now)
        if self._held and not self._over_limit():
            self._held = False  # the flip rate fell back below the limit
        if self._firing is None:
            ready = self._ready(now)
            return None if ready is None else self._fire(ready, verdict, now)
        if level.firing:
            if self._firing is WARN and self._ready(now) is FAIL:
                assert self._fail_since is not None
                self._firing = FAIL
                return self._transition("firing", FAIL, verdict, self._fail_since,
                                        flapping=self._held, flips=self._flip_count())
            return None  # same severity, or a de-escalation (see the module docstring)
        assert self._clear_since is not None
        if now - self._clear_since < timedelta(seconds=self._damping.resolve_after):
            return None
        if self._over_limit():
            if self._held:
                return None  # already announced
            self._held = True
            return self._transition("firing", self._firing, verdict, self._clear_since,
                                    flapping=True, flips=self._flip_count() + 1)
        severity, self._firing, self._held = self._firing, None, False
        self._record_flip(now)
        return self._transition("resolved", severity, verdict, self._clear_since)

    def retire(self, verdict: Verdict, now: datetime) -> Transition | None:
        """The subject is gone (NFR-008: its series was evicted): resolve what fires, at once.

        No condition is left to wait for, so neither ``resolve_after`` nor a flap hold delays
        it; ``verdict`` says why (it is the resolved event's cause). The machine is left idle,
        for the caller to drop. Returns None if nothing was firing.
        """
        severity = self._firing
        self._firing = self._warn_since = self._fail_since = self._clear_since = None
        self._held = False
        if self._flips is not None:
            self._flips.clear()
        if severity is None:
            return None
        return self._transition("resolved", severity, verdict, now)

    def _track(self, level: Severity, now: datetime) -> None:
        if level.firing:
            if self._warn_since is None:
                self._warn_since = now
            self._clear_since = None
        else:
            self._warn_since = None
            if self._clear_since is None:
                self._clear_since = now
        if level is FAIL:
            if self._fail_since is None:
                self._fail_since = now
        else:
            self._fail_since = None

    def _ready(self, now: datetime) -> Severity | None:
        """The highest severity whose condition has held for ``for``."""
        for_ = timedelta(seconds=self._damping.for_)
        if self._fail_since is not None and now - self._fail_since >= for_:
            return FAIL
        if self._warn_since is not None and now - self._warn_since >= for_:
            return WARN
        return None

    def _fire(self, severity: Severity, verdict: Verdict, now: datetime) -> Transition:
        exceeds = self._over_limit()
        self._record_flip(now)
        self._firing = severity
        self._held = exceeds
        since = self._fail_since if severity is FAIL else self._warn_since
        assert since is not None
        return self._transition("firing", severity, verdict, since, flapping=exceeds,
                                flips=self._flip_count())

    def _transition(
        self, status: Literal["firing", "resolved"], severity: Severity, verdict: Verdict,
        since: datetime, *, flapping: bool = False, flips: int = 0,
    ) -> Transition:
        window = self._damping.flap_window if flapping else 0.0
        return Transition(status, severity, verdict, since, flapping, flips if flapping else 0,
                          window)

    # ------------------------------------------------------------------ flip accounting

    def _prune(self, now: datetime) -> None:
        if self._flips:
            oldest = now - timedelta(seconds=self._damping.flap_window)
            while self._flips and self._flips[0] <= oldest:
                self._flips.popleft()

    def _record_flip(self, now: datetime) -> None:
        if self._flips is not None:
            self._flips.append(now)

    def _flip_count(self) -> int:
        return len(self._flips) if self._flips is not None else 0

    def _over_limit(self) -> bool:
        """One more flip now would exceed ``max_flaps`` in the window."""
        limit = self._damping.max_flaps
        return limit is not None and self._flip_count() >= limit

    def _release_at(self, now: datetime) -> datetime | None:
        """When enough flips leave the window for a resolve to fit, if one does not now."""
        limit = self._damping.max_flaps
        if self._flips is None or limit is None:
            return None
        window = timedelta(seconds=self._damping.flap_window)
        live = [t for t in self._flips if t + window > now]
        if len(live) < limit:
            return None
        return live[len(live) - limit] + window

    # ------------------------------------------------------------------ checkpoints

    def to_state(self) -> dict[str, Any]:
        """JSON-friendly snapshot for the changelog (damping options are not included)."""

        def ts(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "v": _STATE_VERSION,
            "firing": None if self._firing is None else self._firing.value,
            "warn_since": ts(self._warn_since),
            "fail_since": ts(self._fail_since),
            "clear_since": ts(self._clear_since),
            "flips": [t.isoformat() for t in self._flips or ()],
            "held": self._held,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], damping: Damping) -> AlertMachine:
        """Rebuild from ``to_state`` under the current damping options (which may have changed)."""
        if not isinstance(state, dict) or state.get("v") != _STATE_VERSION:
            found = state.get("v") if isinstance(state, dict) else type(state).__name__
            raise AlertStateError(f"alert machine state: v: unsupported version {found!r}")
        machine = cls(damping)
        firing = state.get("firing")
        if firing not in (None, "WARN", "FAIL"):
            raise AlertStateError(f"alert machine state: firing: invalid severity {firing!r}")
        machine._firing = None if firing is None else Severity(firing)
        machine._warn_since = _instant(state, "warn_since")
        machine._fail_since = _instant(state, "fail_since")
        machine._clear_since = _instant(state, "clear_since")
        flips = state.get("flips", [])
        if not isinstance(flips, list):
            raise AlertStateError("alert machine state: flips: must be a list")
        if machine._flips is not None:
            machine._flips.extend(_parse(v, "flips") for v in flips)
        machine._held = bool(state.get("held", False)) and machine._flips is not None
        return machine


def _instant(state: dict[str, Any], key: str) -> datetime | None:
    value = state.get(key)
    return None if value is None else _parse(value, key)


def _parse(value: object, key: str) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    raise AlertStateError(f"alert machine state: {key}: not a timestamp with an offset")
