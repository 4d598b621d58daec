"""One series' state (``SeriesState``), its key, and the FR-017 burst rule that holds a
verdict for the alert machine."""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from dq_monitor.checks.anomaly.stats import (
    _EPOCH,
    _MICROSECOND,
    _PRIORS,
    FAILS,
    RUN,
    RUN_CLIP,
    STATS,
    STATS_V1,
    STATS_V2,
)
from dq_monitor.checks.verdict import PENDING, Severity
from dq_monitor.config import AnomalyConfig
from dq_monitor.errors import DqMonitorError
from dq_monitor.state.baseline import (
    Baseline,
    BaselineStateError,
)
from dq_monitor.state.window import RollingWindow


def series_key(source: str, metric: str, tags: Mapping[str, str] | None) -> str:
    """The series name used as the alert ``subject``: ``metric{k=v,...}`` with sorted tags."""
    if not tags:
        return metric
    if len(tags) == 1:
        for k, v in tags.items():
            return f"{metric}{{{k}={v}}}"
    return metric + "{" + ",".join(f"{k}={tags[k]}" for k in sorted(tags)) + "}"


#: A new series' run array: a zero ring, then the priors (copied: a slice is exact-size).
_FRESH_RUN = array("d", [0.0] * RUN + list(_PRIORS))


class SeriesState(Baseline):
    """One series: its window (rolling) or its robust model, then its flagged streak and burst.

    A robust series *is* its baseline (``baseline`` returns the series itself): one object per
    series rather than two (NFR-005: with the learning rate and ``min_samples`` read from the
    config, 64 bytes less each). A rolling series leaves the model's fields unset, and
    ``baseline`` is None.
    """

    __slots__ = ("burst", "dirty_in", "last", "quiet", "run", "run_i", "run_sum", "seen",
                 "streak", "streak_sign", "window")

    def __init__(self, window: RollingWindow | None = None,
                 seasonality: str | None = None) -> None:
        """Rolling with a ``window``, or robust with a ``seasonality`` (``Baseline``'s)."""
        self.window = window
        if seasonality is not None:
            Baseline.__init__(self, seasonality)
        #: The flagged values of the current streak (None outside one: most series never have
        #: one, and an empty array would cost each of them 80 bytes, NFR-005).
        self.streak: array[float] | None = None
        self.streak_sign = 0
        #: The partition whose checkpoint already lists this series as changed, -1 if none
        #: (the owner's bookkeeping: spares a set insertion per value).
        self.dirty_in = -1
        #: Highest severity of the current burst (None outside one) and normal values since
        #: its last flagged value (the ``cooldown`` count).
        self.burst: Severity | None = None
        self.quiet = 0
        #: The run ring (``RUN`` clipped z), then the ``STATS`` statistics of the robust
        #: baseline (built from a list: an array built from bytes is over-allocated, NFR-005).
        self.run = _FRESH_RUN[:] if seasonality is not None else None
        self.run_i = 0
        self.run_sum = 0.0
        #: When the owner last handed it a value, by the owner's processing clock (None until
        #: it does): what ``series_ttl`` eviction measures idleness from. A reference to the
        #: caller's instant, shared by every series of one batch: no allocation per value.
        self.seen: datetime | None = None
        #: The previous value (robust): a value equal to it is a repeat (stuck values).
        self.last = math.nan

    def nbytes(self) -> int:
        """Memory held by this series (NFR-005: O(window) with a small constant)."""
        total = 0
        if self.streak is not None:
            total += sys.getsizeof(self.streak)
        if self.window is not None:
            return total + sys.getsizeof(self) + self.window.nbytes()
        assert self.run is not None
        return (total + Baseline.nbytes(self) + sys.getsizeof(self.run)
                + sys.getsizeof(self.last))

    @property
    def baseline(self) -> Baseline | None:
        """The robust model (the series itself), or None for a rolling series."""
        return self if self.window is None else None

    def rebaseline(self, cfg: AnomalyConfig) -> None:
        """Start the robust model afresh (its warm-up again), keeping the series' other state."""
        Baseline.__init__(self, cfg.seasonality)

    @property
    def count(self) -> int:
        """Values in the rolling window, or values the robust baseline has learnt from."""
        if self.window is not None:
            return self.window.count
        return self.n

    @classmethod
    def new(cls, cfg: AnomalyConfig) -> SeriesState:
        if cfg.baseline == "rolling":
            return cls(window=RollingWindow(cfg.window))
        return cls(seasonality=cfg.seasonality)

    def clear_run(self) -> None:
        run = self.run
        if run is not None:
            for i in range(RUN):
                run[i] = 0.0
        self.run_i = 0
        self.run_sum = 0.0

    def seen_us(self) -> int | None:
        """``seen`` as checkpointed: whole microseconds since the Unix epoch, or None."""
        return None if self.seen is None else (self.seen - _EPOCH) // _MICROSECOND

    def reset_stats(self, first: int = FAILS, end: int = RUN + STATS) -> None:
        """The series' statistics ``first`` to ``end`` (excluded) back to their priors."""
        run = self.run
        if run is not None:
            for i in range(first, end):
                run[i] = _PRIORS[i - RUN]

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"streak": list(self.streak or ()), "sign": self.streak_sign,
                                 "burst": None if self.burst is None else self.burst.value,
                                 "quiet": self.quiet}
        seen = self.seen_us()
        if seen is not None:
            state["seen"] = seen
        if self.window is not None:
            state["window"] = self.window.values()
        else:
            state["baseline"] = self.model_state()
            assert self.run is not None
            state["run"] = list(self.run[:RUN])
            state["run_i"] = self.run_i
            state["stats"] = list(self.run[RUN:])
            state["last"] = self.last if math.isfinite(self.last) else None
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any], cfg: AnomalyConfig) -> SeriesState:
        """Rebuild from ``to_state`` under the current config; a saved state of the other
        baseline kind starts afresh. Out-of-shape state raises ``SeriesStateError``."""
        try:
            return cls._from_state(state, cfg)
        except (TypeError, ValueError, OverflowError, BaselineStateError) as exc:
            raise SeriesStateError(f"anomaly series state: {exc}") from None

    @classmethod
    def _from_state(cls, state: dict[str, Any], cfg: AnomalyConfig) -> SeriesState:
        if not isinstance(state, dict):
            raise TypeError("must be a mapping")
        series = cls.new(cfg)
        seen = state.get("seen")
        if seen is not None:
            if isinstance(seen, bool) or not isinstance(seen, int):
                raise TypeError("seen: must be microseconds since the epoch")
            series.seen = _EPOCH + timedelta(microseconds=seen)  # OverflowError past 9999
        if cfg.baseline == "rolling" and "window" in state:
            assert series.window is not None
            series.window.reset(_finite_list(state["window"], "window"))
        elif cfg.baseline == "robust" and "baseline" in state:
            series.load_model_state(state["baseline"])
            run = _finite_list(state.get("run", [0.0] * RUN), "run")
            if len(run) != RUN:
                raise ValueError(f"run: must hold {RUN} numbers")
            # A state saved before the statistics existed starts them from their priors.
            stats = _finite_list(state.get("stats", list(_PRIORS)), "stats")
            if len(stats) in (STATS_V1, STATS_V2):
                # saved before the fast tails: they start from their priors
                stats += _PRIORS[len(stats):]
            if len(stats) != STATS:
                raise ValueError(f"stats: must hold {STATS} numbers")
            series.run = array("d", [max(-RUN_CLIP, min(RUN_CLIP, v)) for v in run] + stats)
            series.run_i = int(state.get("run_i", 0)) % RUN
            series.run_sum = math.fsum(series.run[:RUN])
            last = state.get("last")
            if last is not None:
                series.last = float(last)
                if not math.isfinite(series.last):
                    raise ValueError("last: not a finite number")
        else:
            return series
        streak = _finite_list(state.get("streak", []), "streak")[: cfg.rebaseline_after]
        series.streak = array("d", streak) if streak else None
        series.streak_sign = max(-1, min(1, int(state.get("sign", 0))))
        burst = state.get("burst")
        series.burst = None if burst is None else Severity(burst)
        if series.burst is not None and not series.burst.firing:
            raise ValueError(f"burst: {burst!r} is not WARN or FAIL")
        series.quiet = max(0, int(state.get("quiet", 0)))
        return series


class SeriesStateError(DqMonitorError):
    """A checkpointed series state cannot be restored; the message names the field."""


def _finite_list(values: Any, key: str) -> list[float]:
    if not isinstance(values, list):
        raise TypeError(f"{key}: must be a list")
    out = [float(v) for v in values]
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{key}: holds a value that is not a finite number")
    return out


def _episode(state: SeriesState, severity: Severity, cfg: AnomalyConfig) -> Severity | None:
    """FR-017 burst rule: the severity held for the alert machine after this value."""
    burst = state.burst
    if severity.firing:
        state.quiet = 0
        if burst is None or severity.rank > burst.rank:
            state.burst = severity
        return state.burst
    if burst is None or severity is PENDING:
        return burst
    state.quiet += 1
    if state.quiet >= cfg.cooldown:
        state.burst = None
        state.quiet = 0
        return None
    return burst
