"""FR-005 / FR-014 / FR-017 anomaly check: a streaming z-score per series, pure and incremental.

Contract, per value of one series:

* z is the value's deviation from the expected value in units of the series' scale, computed
  against the state *before* the value; until ``min_samples`` values are in, the verdict is
  ``PENDING`` (and the value joins the baseline).
* Two baselines (``baseline``): ``robust`` (default, FR-017; ``state.baseline``: outlier-proof
  level and scale, trend, seasonality, count- and resolution-aware) and ``rolling`` (the plain
  mean and standard deviation of the last ``window`` values, ``state.window``).
* WARN at |z| ≥ ``z_warn``, FAIL at |z| ≥ ``z_fail``; ``direction`` ``up``/``down`` flags one
  side only. With the robust baseline a lasting shift is also flagged before any single value
  is extreme: the mean of the last ``RUN`` values' z (each clipped at ±``RUN_CLIP``), times
  √``RUN`` — a unit-variance figure like z — is held to the same thresholds (``z_run``).
* Zero scale never divides: any move off a perfectly flat baseline is z = ±∞ and equality is
  z = 0; ``min_abs_change`` / ``min_rel_change`` (|value − expected| must reach both) keep tiny
  moves from alerting.
* A FAIL value stays out of the baseline (FR-014), so one incident cannot widen it and mask the
  next. ``rebaseline_after`` consecutive flagged values on the same side are a lasting level
  shift: the baseline restarts at their level and that evaluation is OK (``rebaselined``). With
  the robust baseline a normal value between them breaks the run only if it is back within one
  scale unit of the expected value or on the other side, since a shifted level is noisy too.
* One incident, one episode (FR-017): the verdict handed to the alert machine (``held``) stays at
  the burst's highest severity until ``cooldown`` consecutive normal values have passed, so a
  value flagged again within them continues the same alert instead of paging anew. A rebaseline
  ends the burst at once. ``severity`` is still the value's own verdict (the backtest's column).

Everything here is plain synchronous code: no clock, no I/O. The verdict sentence is built only
when asked for, keeping the per-value cost low.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from typing import Any

from dq_monitor.checks.verdict import FAIL, OK, PENDING, WARN, Severity, Verdict
from dq_monitor.config import AnomalyConfig
from dq_monitor.errors import DqMonitorError
from dq_monitor.state.baseline import (
    RACE_SAMPLE_S,
    WEEKEND_HOUR,
    Baseline,
    BaselineStateError,
    from_model,
)
from dq_monitor.state.window import RollingWindow

_INF = math.inf
#: ``seen`` is checkpointed as whole microseconds since the Unix epoch (exact both ways).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_sqrt = math.sqrt
_NORMAL = NormalDist()
#: The value's time when nothing reads it (NFR-003: the conversion is skipped). NaN, so that
#: the race's "a minute since the last sample?" test is false, as ``race.due`` already said.
_NO_TIME = math.nan
#: Values in the run statistic, and the clip applied to each one's z.
RUN = 4
RUN_CLIP = 4.0
_RUN_NORM = math.sqrt(RUN)

# FR-017 / FR-014: the series' own history of deviations and repeats, kept after the run ring
# in ``SeriesState.run`` (one array: NFR-005). Every rate is an exponentially weighted share of
# values, updated lazily at the values that change it (an *event*: |z| >= EVENT_Z or a value
# equal to the previous one), so an ordinary value costs two comparisons (NFR-003).
#: Index of each statistic in ``SeriesState.run``: values kept out of the model (the value
#: index is ``Baseline.n`` + this), index of the last event, share of values at z >= 2 and at
#: z <= -2, the log of the series' own 1-in-TAIL_REF |z| (a streaming quantile), repeats in
#: the current run of equal values, share of values equal to the previous one, the run length
#: at which the current run of equal values is stuck, the mean z² over about the last
#: 1 / ENERGY_RATE values (the size of a new noise), the share of repeats that continue a
#: run of equal values (repeats come in runs on a slowly moving quantised series), and the
#: fast tail: the decayed count of calm excursions that would page and the log of their size.
FAILS, EVENT, UP, DOWN, TAIL, REPEATS, SAME, STUCK_AT, ENERGY, CONT, BIG, PEAK = range(
    RUN, RUN + 12)
STATS = 12
#: Statistics in a state saved before ``BIG`` and ``PEAK`` existed (restored with their priors).
STATS_V1 = 10
EVENT_Z = 2.0
#: A Gaussian's share of z >= 2 (each side): the prior, so a new series starts as a Gaussian.
P_SIDE = 0.0227501
#: Noise level (a): the share of values beyond 2 scale units on *each* side is weighted over
#: about 1 / NOISE_RATE values; when both sides reach NOISE_ACCEPT (a Gaussian's is 0.023) the
#: noise has lastingly grown and the new scale is accepted, like a level shift.
NOISE_RATE = 1.0 / 100.0
NOISE_ACCEPT = 0.07
#: A rise of the noise by this factor or more pages when accepted (if nothing fired yet); a
#: smaller one is accepted quietly (the scale would have followed it in time anyway).
NOISE_PAGE = 2.0
#: Both sides at this share (a Gaussian's is 0.023): a firing episode is held open (see
#: ``evaluate_robust``).
NOISE_HOLD = 0.5 * NOISE_ACCEPT
#: The mean z² weights about the last 1 / ENERGY_RATE values; a value between events (|z| < 2,
#: not a repeat) counts as a Gaussian's mean z² below 2 (QUIET_Z2), z² counts up to ENERGY_CLIP.
ENERGY_RATE = 1.0 / 16.0
QUIET_Z2 = 0.7737
ENERGY_CLIP = 100.0
#: Heavy tails (b): the series' own 1-in-TAIL_REF |z|, tracked in log by stochastic
#: approximation (each value moves it by TAIL_STEP × (1 if beyond it else 0 − TAIL_REF), never
#: below TAIL_FLOOR), over a Gaussian's (GAUSS_REF) scales the thresholds up (never down, at
#: most CALIBRATION_MAX). It starts at a Gaussian's.
TAIL_REF = 1e-3
TAIL_STEP = 0.1
GAUSS_REF = 3.2905267
TAIL_PRIOR = math.log(GAUSS_REF)
TAIL_FLOOR = math.log(2.5)
CALIBRATION_MAX = 4.0
#: Heavy tails, learnt fast (b): ``BIG`` counts the excursions that would page at the
#: configured thresholds, outside a firing episode (each at its first such value), decayed by
#: e^(-1/BIG_SPAN) per value, and ``PEAK`` is the log of the largest one's score (|z| or the
#: run statistic) while that count stays at BIG_MIN or more (each raises it by at most
#: PEAK_GROW). While it does, the thresholds are raised so that WARN needs PEAK_MARGIN × that
#: score at the medium z_warn (BIG_REF): one burst widens them for about BIG_SPAN × ln(1 /
#: BIG_MIN) values (a series with one rare incident is soon as sensitive as before), each
#: further one for longer, so a series whose bursts are its normal keeps them wide, while the
#: slow tail above learns them for good.
BIG_SPAN = 700.0
BIG_MIN = 0.3
PEAK_GROW = math.log(1.5)
PEAK_MARGIN = 1.5
BIG_REF = 4.5
#: Below this factor the thresholds stay as configured: a Gaussian series' own estimate
#: wanders some 10 % around a Gaussian's, and a calm series keeps its sensitivity.
CALIBRATION_MIN = 1.15
_CALIBRATED = math.log(CALIBRATION_MIN * GAUSS_REF)
#: Stuck values (d): a run of equal values is stuck once a run that long would happen less
#: than once in STUCK_P values (at least STUCK_MIN values): a repeat at the series' share of
#: repeats, then each further one at its share of continued runs. A series that repeats its
#: last value SAME_MAX of the time or more (a flat one), or continues its runs CONT_MAX of the
#: time, never is. Values in a firing episode or a stuck run teach neither share.
SAME_RATE = 1.0 / 256.0
CONT_RATE = 1.0 / 64.0
STUCK_P = 1e-6
STUCK_MIN = 10.0
SAME_MAX = 0.5
CONT_MAX = 0.99
#: ``STUCK_AT`` of a run that can never be stuck (a finite number: the state is checkpointed).
NEVER = 1e18
_NOISE_KEEP = 1.0 - NOISE_RATE
_SAME_KEEP = 1.0 - SAME_RATE
_ENERGY_KEEP = 1.0 - ENERGY_RATE
_TAIL_DRIFT = TAIL_STEP * TAIL_REF
_BIG_KEEP = math.exp(-1.0 / BIG_SPAN)
#: A |z| at which the fast tail's factor is CALIBRATION_MAX already: ``PEAK`` never exceeds it.
_PEAK_CAP = CALIBRATION_MAX * BIG_REF / PEAK_MARGIN
_PRIORS = (0.0, 0.0, P_SIDE, P_SIDE, TAIL_PRIOR, 0.0, 0.0, NEVER, 1.0, 0.0, 0.0, 0.0)
_SEASON_WORDS = {"hour_of_day": "hour-of-day", "day_of_week": "day-of-week",
                 "hour_of_week": "hour-of-week",
                 "weekpart_hour": "hour-of-day weekday/weekend"}


def series_key(source: str, metric: str, tags: Mapping[str, str] | None) -> str:
    """The series name used as the alert ``subject``: ``metric{k=v,...}`` with sorted tags."""
    if not tags:
        return metric
    if len(tags) == 1:
        for k, v in tags.items():
            return f"{metric}{{{k}={v}}}"
    return metric + "{" + ",".join(f"{k}={tags[k]}" for k in sorted(tags)) + "}"


class SeriesState:
    """One series: its baseline (robust) or window (rolling), flagged streak and burst."""

    __slots__ = ("baseline", "burst", "dirty_in", "last", "quiet", "run", "run_i", "run_sum",
                 "seen",
                 "streak", "streak_sign", "window")

    def __init__(self, window: RollingWindow | None = None,
                 baseline: Baseline | None = None) -> None:
        self.window = window
        self.baseline = baseline
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
        self.run = array("d", [0.0] * RUN + list(_PRIORS)) if baseline is not None else None
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
        total = sys.getsizeof(self)
        if self.streak is not None:
            total += sys.getsizeof(self.streak)
        if self.window is not None:
            total += self.window.nbytes()
        if self.baseline is not None:
            total += self.baseline.nbytes()
        if self.run is not None:
            total += sys.getsizeof(self.run) + sys.getsizeof(self.last)
        return total

    @property
    def count(self) -> int:
        """Values in the rolling window, or values the robust baseline has learnt from."""
        if self.window is not None:
            return self.window.count
        assert self.baseline is not None
        return self.baseline.n

    @classmethod
    def new(cls, cfg: AnomalyConfig) -> SeriesState:
        if cfg.baseline == "rolling":
            return cls(window=RollingWindow(cfg.window))
        return cls(baseline=Baseline(cfg.window, cfg.min_samples, cfg.seasonality))

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
        if self.baseline is not None:
            state["baseline"] = self.baseline.to_state()
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
            series.baseline = Baseline.from_state(state["baseline"], cfg.window,
                                                  cfg.min_samples, cfg.seasonality)
            run = _finite_list(state.get("run", [0.0] * RUN), "run")
            if len(run) != RUN:
                raise ValueError(f"run: must hold {RUN} numbers")
            # A state saved before the statistics existed starts them from their priors.
            stats = _finite_list(state.get("stats", list(_PRIORS)), "stats")
            if len(stats) == STATS_V1:
                stats += _PRIORS[STATS_V1:]  # saved before the fast tail: from its priors
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


class AnomalyResult:
    """The outcome of one value: its severity, the verdict held for the episode, z and the
    baseline it was judged against (in the series' units: ``expected`` ± ``scale``)."""

    __slots__ = ("_cfg", "_model", "expected", "held", "note", "rebaselined", "scale",
                 "severity", "source", "subject", "value", "z", "z_run")

    def __init__(self, severity: Severity, z: float | None, expected: float | None,
                 scale: float | None, rebaselined: bool, value: float, cfg: AnomalyConfig,
                 source: str, subject: str, *, held: Severity | None = None,
                 z_run: float | None = None,
                 model: tuple[float, float, bool, str] | None = None,
                 note: tuple[str, float] | None = None) -> None:
        self.severity = severity
        self.held = severity if held is None else held
        self.z = z
        self.z_run = z_run
        self.expected = expected
        self.scale = scale
        self.rebaselined = rebaselined
        self.value = value
        self._cfg = cfg
        self.source = source
        self.subject = subject
        #: (expected, scale, counts, season) in model units, for ``bounds`` (robust only).
        self._model = model
        #: Why the verdict is not the z-score's own (robust only): ``("noise", factor)``, a
        #: lasting change of the noise level accepted (the scale grew by ``factor``);
        #: ``("stuck", values)``, the same value that many times in a row; ``("calibrated",
        #: factor)``, thresholds raised by ``factor`` for a series whose normal is heavy-tailed.
        self.note = note

    # The rolling baseline's names, kept for readers of the plain mean/std.
    @property
    def mean(self) -> float | None:
        return self.expected

    @property
    def std(self) -> float | None:
        return self.scale

    def bounds(self, k: float) -> tuple[float, float] | None:
        """The values that sit exactly ``k`` scale units below and above the expected value."""
        if self.expected is None or self.scale is None:
            return None
        if self._model is None:
            return self.expected - k * self.scale, self.expected + k * self.scale
        pred, scale, counts, _ = self._model
        return from_model(pred - k * scale, counts), from_model(pred + k * scale, counts)

    @property
    def verdict(self) -> Verdict:
        held = self.held
        severity = held if held.firing or self.severity is PENDING else self.severity
        return Verdict("anomaly", self.source, self.subject, severity, self.value,
                       self.expected, self._detail())

    def _detail(self) -> str:
        cfg, name, v = self._cfg, self.subject, self.value
        if self.z is None or self.expected is None:
            if self._model is not None and self._model[3] == "unseen":
                return f"{name} = {v:.6g}: first value in its season bucket, not judged"
            return (f"{name} = {v:.6g}: collecting a baseline "
                    f"(needs {cfg.min_samples} values)")
        note = self.note
        if note is not None and note[0] == "stuck":
            return (f"{name} = {v:.6g}: the same value {note[1]:.0f} times in a row, on a "
                    f"series that normally moves (stuck); FAIL")
        if self.rebaselined and note is not None and note[0] == "noise":
            return (f"{name} = {v:.6g}: lasting change of the noise level accepted (scale "
                    f"×{note[1]:.3g}, now ±{self.scale or 0.0:.4g})")
        if self.rebaselined:
            return (f"{name} = {v:.6g}: level shift accepted as the new baseline after "
                    f"{cfg.rebaseline_after} consecutive flagged values")
        exp = self.expected
        if self._model is None:
            basis = f"the rolling mean {exp:.6g} (±{self.scale or 0.0:.4g} over the window)"
        else:
            season = _SEASON_WORDS.get(self._model[3])
            basis = f"the expected {exp:.6g} (scale ±{self.scale or 0.0:.4g}" + (
                f", {season} baseline)" if season else ")")
        z = self.z
        run = self.z_run
        if run is not None and abs(run) > abs(z) and not math.isinf(z):
            side = "above" if run >= 0 else "below"
            size = (f"{name} = {v:.6g}: the last {RUN} values sit {abs(run):.2f}σ {side} "
                    f"{basis} (this one {z:+.2f}σ)")
        elif math.isinf(z):
            size = f"{name} = {v:.6g} moved off a flat series ({exp:.6g})"
        else:
            side = "above" if z >= 0 else "below"
            size = f"{name} = {v:.6g} is {abs(z):.2f}σ {side} {basis}"
        f = note[1] if note is not None and note[0] == "calibrated" else 1.0
        own = "" if f == 1.0 else " (raised for this series' heavy-tailed normal)"
        if self.severity is FAIL:
            return f"{size}; FAIL at |z| ≥ {_threshold(cfg.z_fail, f)}{own}"
        if self.severity is WARN:
            return f"{size}; WARN at |z| ≥ {_threshold(cfg.z_warn, f)}{own}"
        if self.held.firing:
            return (f"{size}; normal again, the episode resolves after {cfg.cooldown} "
                    f"normal values")
        return f"{size}; within |z| < {_threshold(cfg.z_warn, f)}{own}"


def _threshold(z: float, factor: float) -> str:
    return f"{z:g}" if factor == 1.0 else f"{z * factor:.3g}"


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


def _event(run: array[float], n: int, z: float, repeat: bool, calm: bool,
           loud: float = 0.0) -> bool:
    """Fold an event (a value at |z| >= EVENT_Z, or equal to the previous one) into the
    series' statistics; True when the noise level has lastingly grown (see ``NOISE_ACCEPT``).

    The statistics are exponentially weighted per value; the values between two events only
    decay them, so that decay is applied here at once: the same figures as a per-value update.
    The tail learns only from values outside a firing episode (``calm``), and so from the
    first value of each: a bursty series' bursts, not the body of a level shift or of a
    stretch of wild noise, which would teach it that incidents are normal.
    """
    at = n + run[FAILS]  # this value's index
    gap = at - run[EVENT]
    run[EVENT] = at
    up, down, tail, energy = run[UP], run[DOWN], run[TAIL], run[ENERGY]
    if gap > 0.0:
        keep = _NOISE_KEEP ** gap
        up *= keep
        down *= keep
        tail -= _TAIL_DRIFT * gap
        if tail < TAIL_FLOOR:
            tail = TAIL_FLOOR
        if calm:
            run[SAME] *= _SAME_KEEP ** gap
        if run[BIG] > 0.0:
            run[BIG] *= _BIG_KEEP ** gap
        keep = _ENERGY_KEEP ** (gap - 1.0)
        energy = energy * keep + QUIET_Z2 * (1.0 - keep)
    z2 = z * z
    run[ENERGY] = energy + ENERGY_RATE * ((z2 if z2 < ENERGY_CLIP else ENERGY_CLIP) - energy)
    if repeat:
        going = gap == 1.0 and run[REPEATS] > 0.0
        if going:
            run[REPEATS] += 1.0
        else:
            # A new run of equal values: how long it may grow before it is stuck, from the
            # shares before it.
            run[REPEATS] = 1.0
            run[STUCK_AT] = stuck_after(run[SAME], run[CONT])
        if calm and run[REPEATS] + 1.0 < run[STUCK_AT]:
            run[SAME] += SAME_RATE
            run[CONT] += CONT_RATE * ((1.0 if going else 0.0) - run[CONT])
    else:
        run[REPEATS] = 0.0
    if z >= EVENT_Z:
        up += NOISE_RATE
    elif z <= -EVENT_Z:
        down += NOISE_RATE
    else:
        run[UP], run[DOWN], run[TAIL] = up, down, tail
        return False
    size = z if z > 0.0 else -z
    if calm:
        if size > math.exp(tail):
            tail += TAIL_STEP
        if loud > 0.0:
            # The count was decayed to this value above; a memory that has faded starts anew.
            peak = math.log(loud if loud < _PEAK_CAP else _PEAK_CAP)  # |z| may be ∞
            if run[BIG] >= BIG_MIN:
                held = run[PEAK]
                peak = held if peak <= held else min(peak, held + PEAK_GROW)
            run[PEAK] = peak
            run[BIG] += 1.0
    run[UP], run[DOWN], run[TAIL] = up, down, tail
    return up >= NOISE_ACCEPT and down >= NOISE_ACCEPT


def _noise_rising(run: array[float], n: int) -> bool:
    """Both sides' shares of values beyond 2 scale units, as of value index ``n`` + FAILS, at
    ``NOISE_HOLD`` or more (a burst on one side is not a rising noise)."""
    keep: float = (1.0 - NOISE_RATE) ** (n + run[FAILS] - run[EVENT])
    return run[UP] * keep >= NOISE_HOLD and run[DOWN] * keep >= NOISE_HOLD


def stuck_after(same: float, cont: float) -> float:
    """The length of a run of equal values that is stuck: the shortest run rarer than once in
    ``STUCK_P`` values (``same`` × ``cont`` ^ (length − 2)), at least ``STUCK_MIN``."""
    if same >= SAME_MAX or cont >= CONT_MAX:
        return NEVER
    if same <= 0.0 or cont <= 0.0:
        return STUCK_MIN
    if same <= STUCK_P:
        return STUCK_MIN
    length = 2.0 + math.ceil(math.log(STUCK_P / same) / math.log(cont))
    return length if length > STUCK_MIN else STUCK_MIN


def calibration(run: array[float], n: int, fast: bool = True) -> float:
    """FR-017 (b): the factor (1 to ``CALIBRATION_MAX``) on the thresholds of a series whose
    normal is heavy-tailed: its own 1-in-``TAIL_REF`` |z| (as of value index ``n`` + FAILS)
    over a Gaussian's, from ``CALIBRATION_MIN`` on. A series whose bursts reach z = 8 as often
    as a Gaussian reaches 3.3 needs about 8 / 3.3 ≈ 2.4 times the z. With ``fast``, the fast
    tail's factor (see ``PEAK``) when it is the larger."""
    since = n + run[FAILS] - run[EVENT]
    tail = run[TAIL] - TAIL_STEP * TAIL_REF * since
    f: float = math.exp(tail) / GAUSS_REF if tail > _CALIBRATED else 1.0
    if fast and run[BIG] * _BIG_KEEP ** since >= BIG_MIN:
        by_peak = PEAK_MARGIN * math.exp(run[PEAK]) / BIG_REF
        if by_peak > f and by_peak >= CALIBRATION_MIN:
            f = by_peak
    return CALIBRATION_MAX if f >= CALIBRATION_MAX else f


def noise_factor(run: array[float]) -> float:
    """How much the noise grew: the larger of the factor that makes the share of values beyond
    2 scale units a Gaussian's and the root of the recent mean z² (the share, weighted over
    more values, still holds some of the old noise; the mean z² is the more recent)."""
    share = min(run[UP] + run[DOWN], 0.95)
    by_share = EVENT_Z / _NORMAL.inv_cdf(1.0 - share / 2.0)
    return max(by_share, math.sqrt(run[ENERGY]), 1.0)


def _count_expected(pred: float) -> float:
    """``from_model(pred, True)`` with NaN kept (as ``max`` keeps it): a count series' expected
    value in its own units, needed only when a value is flagged or its result is built."""
    h = (0.0 if pred < 0.0 else pred) / 2.0
    expected = h * h - 0.375
    return 0.0 if expected < 0.0 else expected


def _zscore(dev: float, scale: float) -> float:
    """``dev`` in scale units: ±∞ off a zero scale or on overflow, 0 for no move; never NaN."""
    if dev == 0.0:
        return 0.0
    if scale > 0.0:
        z = dev / scale
        if -_INF < z < _INF:
            return z
    return _INF if dev > 0 else -_INF


def evaluate(state: SeriesState, value: float, cfg: AnomalyConfig, *, source: str,
             subject: str, ts: datetime | None = None) -> AnomalyResult:
    """Judge ``value`` (taken at ``ts``) against the series' baseline, then learn from it."""
    result = _evaluate(state, value, cfg, source, subject, ts, False)
    assert result is not None
    return result


def evaluate_quiet(state: SeriesState, value: float, cfg: AnomalyConfig, source: str,
                   subject: str, ts: datetime | None) -> AnomalyResult | None:
    """``evaluate``, except that nothing is built and None is returned when the verdict held
    for the alert machine is not firing: the monitor's common case for a series it has no
    alert state for. The state changes exactly as with ``evaluate``. (Positional arguments:
    it runs once per event.)"""
    baseline = state.baseline
    if baseline is not None:
        return evaluate_robust(state, baseline, value, cfg, source, subject, ts, True)
    return _evaluate(state, value, cfg, source, subject, ts, True)


def _evaluate(state: SeriesState, value: float, cfg: AnomalyConfig, source: str, subject: str,
              ts: datetime | None, quiet: bool) -> AnomalyResult | None:
    if state.baseline is not None:
        return evaluate_robust(state, state.baseline, value, cfg, source, subject, ts, quiet)
    assert state.window is not None
    window = state.window
    n = window.count
    if n < cfg.min_samples:
        window.push(value)
        held = state.burst  # what ``_episode`` holds for a PENDING value
        if quiet and held is None:
            return None
        return AnomalyResult(PENDING, None, None, None, False, value, cfg, source,
                             subject, held=held)
    mean = window.mean
    std = window.std
    dev = value - mean
    z = _zscore(dev, std)
    direction = cfg.direction
    score = z if direction == "up" else -z if direction == "down" else abs(z)
    severity = OK
    if score >= cfg.z_warn:
        moved = abs(dev)
        if moved >= cfg.min_abs_change and moved >= cfg.min_rel_change * abs(mean):
            severity = FAIL if score >= cfg.z_fail else WARN
    if severity is OK:
        if state.streak is not None:
            state.streak = None
            state.streak_sign = 0
        window.push(value)
        held = None if state.burst is None else _episode(state, severity, cfg)
        if quiet and held is None:
            return None
        return AnomalyResult(severity, z, mean, std, False, value, cfg, source, subject,
                             held=held)
    sign = 1 if dev > 0 else -1
    streak = state.streak
    if streak is None or sign != state.streak_sign:
        streak = state.streak = array("d")
        state.streak_sign = sign
    streak.append(value)
    if len(streak) >= cfg.rebaseline_after:
        window.reset(streak)
        state.streak = None
        state.streak_sign = 0
        state.burst = None
        state.quiet = 0
        if quiet:
            return None
        return AnomalyResult(OK, z, mean, std, True, value, cfg, source, subject)
    if severity is WARN:
        window.push(value)
    return AnomalyResult(severity, z, mean, std, False, value, cfg, source, subject,
                         held=_episode(state, severity, cfg))


def evaluate_robust(state: SeriesState, b: Baseline, value: float, cfg: AnomalyConfig,
                    source: str, subject: str, ts: datetime | None, quiet: bool
                    ) -> AnomalyResult | None:
    """``evaluate`` (``quiet``: ``evaluate_quiet``) of a series whose baseline ``b`` is robust:
    the per-event step, called directly by the dispatcher (positional arguments)."""
    race = b.race
    if ts is None:
        t = t_local = 0.0
    elif b.off is None and b.warm is None and (race is None or ts < race.due):
        t = t_local = _NO_TIME  # no season bucket to find, no race sample due
    else:
        t = t_local = ts.timestamp()
        if ts.tzinfo is not UTC and (b.off is not None or race is not None):
            offset = ts.utcoffset()
            if offset:
                t_local = t + offset.total_seconds()
        if race is not None and t - race.t_last >= RACE_SAMPLE_S:
            # FR-017: weekday/weekend before a weekly model, checked when a race sample is due
            # (at most once a minute, and only where the time was needed anyway: NFR-003), so
            # before the sample's own value is judged; the split itself only where the day type
            # differs from the last sample's
            prev = race.stats[19]
            if prev >= 0.0 and (((int(t_local // 3600.0) + 72) % 168 >= WEEKEND_HOUR)
                                != (prev >= 24.0 + WEEKEND_HOUR // 24)):
                b.split_week(race, t_local)
    run = state.run
    assert run is not None
    if b.warm is not None:
        if len(b.warm) + 1 >= b.min_samples:
            _seed_repeats(run, b.warm, value)
        b.warm_up(value, t)
        state.last = value
        held = state.burst  # what ``_episode`` holds for a PENDING value
        if quiet and held is None:
            return None
        return AnomalyResult(PENDING, None, None, None, False, value, cfg, source,
                             subject, held=held)
    counts = b.counts
    if counts and (value < 0.0 or not value.is_integer()):
        # No longer a count series: its model no longer fits, so it starts again.
        state.baseline = b = Baseline(cfg.window, cfg.min_samples, cfg.seasonality)
        state.clear_run()
        state.reset_stats()
        state.last = value
        state.streak = None
        state.streak_sign = 0
        if t != t:  # not read above (see _NO_TIME); the warm-up's last value needs it
            t = 0.0 if ts is None else ts.timestamp()
        b.warm_up(value, t)
        held = state.burst
        if quiet and held is None:
            return None
        return AnomalyResult(PENDING, None, None, None, False, value, cfg, source,
                             subject, held=held)
    y = 2.0 * math.sqrt(value + 0.375) if counts else value
    kind = b.kind
    if b.off is None:
        # b.predict(t_local) without a season, inline (the same operations in the same order;
        # NFR-003: the call is a measurable share of a value's cost)
        k = -1
        pred = b.level + b.trend
        scale = _sqrt(b.var)
        q = b.quantum
        if q > 0.0:
            if counts:
                h = (0.0 if pred < 0.0 else pred) / 2.0
                x = h * h - 0.375
                if x < 0.0:
                    x = 0.0
                floor = 2.0 * _sqrt(x + q + 0.375) - 2.0 * _sqrt(x + 0.375)
            else:
                floor = q
            if scale < floor:
                scale = floor
    else:
        pred, scale, k = b.predict(t_local)
    if k >= 0 and b.unseen(k):
        b.learn(value, y, pred, scale, k, t, t_local)
        held = state.burst
        if quiet and held is None:
            return None
        return AnomalyResult(PENDING, None, None, None, False, value, cfg, source,
                             subject, held=held, model=(pred, scale, counts, "unseen"))
    dev = y - pred
    # _zscore(dev, scale), inline
    if dev == 0.0:
        z = 0.0
    else:
        z = dev / scale if scale > 0.0 else _INF
        if not -_INF < z < _INF:
            z = _INF if dev > 0 else -_INF
    zc = RUN_CLIP if z > RUN_CLIP else -RUN_CLIP if z < -RUN_CLIP else z
    i = state.run_i
    old = run[i]
    run_sum = state.run_sum + zc - old
    run[i] = zc
    state.run_i = i + 1 if i + 1 < RUN else 0
    state.run_sum = run_sum
    z_run = run_sum / _RUN_NORM
    direction = cfg.direction
    if direction == "both":
        point, over = abs(z), abs(z_run)
    elif direction == "up":
        point, over = z, z_run
    else:
        point, over = -z, -z_run
    score = point if point > over else over
    severity = OK
    expected = pred  # in the series' units: see below for counts
    note: tuple[str, float] | None = None
    loud = 0.0
    if score >= cfg.z_warn:
        # FR-017 (b): the first value of an excursion that would page at the configured
        # thresholds teaches the fast tail (the values after it are the same excursion)
        prev = (run_sum - zc + old) / _RUN_NORM  # the previous value's run statistic
        was = run[i - 1 if i else RUN - 1]  # and its clipped z
        edge = cfg.z_warn if cfg.z_warn < RUN_CLIP else RUN_CLIP
        if (-cfg.z_warn < prev < cfg.z_warn and -edge < was < edge
                and score < cfg.z_fail * CALIBRATION_MAX):
            # (a value beyond any threshold's reach is an incident, not a burst of the normal;
            # the run statistic's only if it pages: see below)
            loud = score
        # judged against the history before this value; a run of moderate values (a level
        # shift as likely as a burst), or a value in a firing episode (an incident under
        # way), only against the slow tail
        f = calibration(run, b.n, point >= cfg.z_warn and state.burst is None)
        if f != 1.0:
            note = ("calibrated", f)
        if score >= cfg.z_warn * f:
            if counts:
                expected = _count_expected(pred)
            moved = abs(value - expected)
            if moved >= cfg.min_abs_change and moved >= cfg.min_rel_change * abs(expected):
                severity = FAIL if score >= cfg.z_fail * f else WARN
    repeat = value == state.last
    state.last = value
    if loud > point and severity is OK:
        # Many moderate values in a row are as likely a level shift as a burst: one the
        # raised thresholds let pass teaches the fast tail nothing, or a shift would silence
        # itself.
        loud = point if point >= cfg.z_warn else 0.0
    if repeat or z >= EVENT_Z or z <= -EVENT_Z:
        if _event(run, b.n, z, repeat, state.burst is None, loud):
            return _accept_noise(state, b, run, value, z, z_run, pred, scale, cfg, source,
                                 subject, quiet)
        if repeat and run[REPEATS] + 1.0 >= run[STUCK_AT]:
            # FR-017 (d): a stuck series; the value stays out of the model (FR-014) and out of
            # any level-shift streak, and the episode lasts until the series moves again.
            run[FAILS] += 1.0
            state.streak = None
            state.streak_sign = 0
            expected = _count_expected(pred) if counts else pred
            return AnomalyResult(FAIL, z, expected, scale * pred / 2.0 if counts else scale,
                                 False, value, cfg, source, subject,
                                 held=_episode(state, FAIL, cfg), z_run=z_run,
                                 model=(pred, scale, counts, kind),
                                 note=("stuck", run[REPEATS] + 1.0))
    if severity is OK:
        if state.streak is not None and (abs(z) < 1.0
                                         or (dev > 0) != (state.streak_sign > 0)):
            # A shifted level is noisy too: only a value back near the expected level, or on
            # the other side, ends the streak of flagged values.
            state.streak = None
            state.streak_sign = 0
        b.learn(value, y, pred, scale, k, t, t_local)
        held = None
        if state.burst is not None:
            if state.quiet + 1 >= cfg.cooldown and _noise_rising(run, b.n - 1):
                # The noise is rising on both sides: the episode stays open until the change
                # is accepted (one alert for it), rather than resolving and paging again.
                held = state.burst
            else:
                held = _episode(state, severity, cfg)
        if quiet and held is None:
            return None
        if counts:
            expected = _count_expected(pred)
        scale_x = scale * pred / 2.0 if counts else scale
        model = (pred, scale, counts, kind)
        return AnomalyResult(severity, z, expected, scale_x, False, value, cfg, source,
                             subject, held=held, z_run=z_run, model=model, note=note)
    scale_x = scale * pred / 2.0 if counts else scale
    model = (pred, scale, counts, kind)
    sign = 1 if dev > 0 else -1
    streak = state.streak
    if streak is None or sign != state.streak_sign:
        streak = state.streak = array("d")
        state.streak_sign = sign
    streak.append(y - (pred - b.level - b.trend))  # the value without its season offset
    if len(streak) >= cfg.rebaseline_after:
        ordered = sorted(streak)
        n = len(ordered)
        mid = n // 2
        b.level = ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
        b.trend = 0.0
        run[FAILS] += 1.0
        state.reset_stats(BIG, PEAK + 1)  # a level shift, not a burst of the series' normal
        state.streak = None
        state.streak_sign = 0
        state.clear_run()
        state.burst = None
        state.quiet = 0
        if quiet:
            return None
        return AnomalyResult(OK, z, expected, scale_x, True, value, cfg, source,
                             subject, z_run=z_run, model=model)
    if severity is WARN:
        b.learn(value, y, pred, scale, k, t, t_local, True)
    else:
        run[FAILS] += 1.0
        if b.race is not None:
            b.witness(y, pred, scale, t, t_local)
    return AnomalyResult(severity, z, expected, scale_x, False, value, cfg, source, subject,
                         held=_episode(state, severity, cfg), z_run=z_run, model=model,
                         note=note)


def _seed_repeats(run: array[float], warm: array[float], value: float) -> None:
    """At the end of the warm-up: its share of repeats seeds ``SAME``, and its share of
    repeats that continue a run ``CONT``."""
    xs = [*warm, value]
    pairs = len(xs) - 1
    same = [i for i in range(pairs) if xs[i] == xs[i + 1]]
    run[SAME] = len(same) / pairs if pairs else 0.0
    going = sum(1 for i in same if i > 0 and xs[i - 1] == xs[i])
    run[CONT] = going / len(same) if same else 0.0
    run[EVENT] = float(len(xs) - 1)  # the last warm-up value's index


def _accept_noise(state: SeriesState, b: Baseline, run: array[float], value: float, z: float,
                  z_run: float, pred: float, scale: float, cfg: AnomalyConfig, source: str,
                  subject: str, quiet: bool) -> AnomalyResult | None:
    """FR-017 (a) / FR-014: a lasting change of the noise level, accepted like a lasting level
    shift: the scale grows to the new noise, the deviation statistics start afresh and the
    value stays out of the model. One alert at most: an episode already firing resolves (OK),
    and a rise by ``NOISE_PAGE`` or more that had not paged yet is this value's WARN, resolved
    after the cooldown.
    """
    factor = noise_factor(run)
    b.var = (scale * factor) ** 2
    state.reset_stats(UP, REPEATS)
    state.reset_stats(ENERGY, ENERGY + 1)
    state.reset_stats(BIG, PEAK + 1)
    run[FAILS] += 1.0
    state.streak = None
    state.streak_sign = 0
    state.clear_run()
    severity = OK
    if state.burst is None and factor >= NOISE_PAGE:
        severity = WARN
        _episode(state, WARN, cfg)
    else:
        state.burst = None
        state.quiet = 0
    if quiet and severity is OK:
        return None
    counts = b.counts
    expected = _count_expected(pred) if counts else pred
    new = scale * factor
    return AnomalyResult(severity, z, expected, new * pred / 2.0 if counts else new, True,
                         value, cfg, source, subject, held=state.burst, z_run=z_run,
                         model=(pred, new, counts, b.kind), note=("noise", factor))
