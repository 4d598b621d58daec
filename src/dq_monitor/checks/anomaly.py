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
from typing import Any

from dq_monitor.checks.verdict import FAIL, OK, PENDING, WARN, Severity, Verdict
from dq_monitor.config import AnomalyConfig
from dq_monitor.errors import DqMonitorError
from dq_monitor.state.baseline import Baseline, BaselineStateError, from_model
from dq_monitor.state.window import RollingWindow

_INF = math.inf
#: ``seen`` is checkpointed as whole microseconds since the Unix epoch (exact both ways).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: The value's time when nothing reads it (NFR-003: the conversion is skipped). NaN, so that
#: the race's "a minute since the last sample?" test is false, as ``race.due`` already said.
_NO_TIME = math.nan
#: Values in the run statistic, and the clip applied to each one's z.
RUN = 4
RUN_CLIP = 4.0
_RUN_NORM = math.sqrt(RUN)
_SEASON_WORDS = {"hour_of_day": "hour-of-day", "day_of_week": "day-of-week",
                 "hour_of_week": "hour-of-week"}


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

    __slots__ = ("baseline", "burst", "dirty_in", "quiet", "run", "run_i", "run_sum", "seen",
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
        self.run = array("d", bytes(8 * RUN)) if baseline is not None else None
        self.run_i = 0
        self.run_sum = 0.0
        #: When the owner last handed it a value, by the owner's processing clock (None until
        #: it does): what ``series_ttl`` eviction measures idleness from. A reference to the
        #: caller's instant, shared by every series of one batch: no allocation per value.
        self.seen: datetime | None = None

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
            total += sys.getsizeof(self.run)
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
        if self.run is not None:
            self.run[:] = array("d", bytes(8 * RUN))
        self.run_i = 0
        self.run_sum = 0.0

    def seen_us(self) -> int | None:
        """``seen`` as checkpointed: whole microseconds since the Unix epoch, or None."""
        return None if self.seen is None else (self.seen - _EPOCH) // _MICROSECOND

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
            state["run"] = list(self.run)
            state["run_i"] = self.run_i
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
            series.run = array("d", (max(-RUN_CLIP, min(RUN_CLIP, v)) for v in run))
            series.run_i = int(state.get("run_i", 0)) % RUN
            series.run_sum = math.fsum(series.run)
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

    __slots__ = ("_cfg", "_model", "expected", "held", "rebaselined", "scale", "severity",
                 "source", "subject", "value", "z", "z_run")

    def __init__(self, severity: Severity, z: float | None, expected: float | None,
                 scale: float | None, rebaselined: bool, value: float, cfg: AnomalyConfig,
                 source: str, subject: str, *, held: Severity | None = None,
                 z_run: float | None = None,
                 model: tuple[float, float, bool, str] | None = None) -> None:
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
        if self.severity is FAIL:
            return f"{size}; FAIL at |z| ≥ {cfg.z_fail:g}"
        if self.severity is WARN:
            return f"{size}; WARN at |z| ≥ {cfg.z_warn:g}"
        if self.held.firing:
            return (f"{size}; normal again, the episode resolves after {cfg.cooldown} "
                    f"normal values")
        return f"{size}; within |z| < {cfg.z_warn:g}"


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
    if b.warm is not None:
        b.warm_up(value, t)
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
    pred, scale, k = b.predict(t_local)
    kind = b.kind
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
    run = state.run
    assert run is not None
    zc = RUN_CLIP if z > RUN_CLIP else -RUN_CLIP if z < -RUN_CLIP else z
    i = state.run_i
    run_sum = state.run_sum + zc - run[i]
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
    if score >= cfg.z_warn:
        if counts:
            expected = _count_expected(pred)
        moved = abs(value - expected)
        if moved >= cfg.min_abs_change and moved >= cfg.min_rel_change * abs(expected):
            severity = FAIL if score >= cfg.z_fail else WARN
    if severity is OK:
        if state.streak is not None and (abs(z) < 1.0
                                         or (dev > 0) != (state.streak_sign > 0)):
            # A shifted level is noisy too: only a value back near the expected level, or on
            # the other side, ends the streak of flagged values.
            state.streak = None
            state.streak_sign = 0
        b.learn(value, y, pred, scale, k, t, t_local)
        held = None if state.burst is None else _episode(state, severity, cfg)
        if quiet and held is None:
            return None
        if counts:
            expected = _count_expected(pred)
        scale_x = scale * pred / 2.0 if counts else scale
        model = (pred, scale, counts, kind)
        return AnomalyResult(severity, z, expected, scale_x, False, value, cfg, source,
                             subject, held=held, z_run=z_run, model=model)
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
    elif b.race is not None:
        b.witness(y, pred, scale, t, t_local)
    return AnomalyResult(severity, z, expected, scale_x, False, value, cfg, source, subject,
                         held=_episode(state, severity, cfg), z_run=z_run, model=model)
