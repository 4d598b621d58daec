"""The robust baseline's per-event step (FR-017): predict, judge, learn, accept lasting
shifts of level and noise."""

from __future__ import annotations

import math
from array import array
from datetime import UTC, datetime

from dq_monitor.checks.anomaly.result import (
    AnomalyResult,
)
from dq_monitor.checks.anomaly.series import (
    SeriesState,
    _episode,
)
from dq_monitor.checks.anomaly.stats import (
    _INF,
    _NO_TIME,
    _RUN_NORM,
    BIG,
    CALIBRATION_MAX,
    CONT,
    ENERGY,
    EVENT,
    EVENT_Z,
    FAILS,
    LASTING,
    NOISE_PAGE,
    PEAK_RUN,
    POISSON_LIKE,
    REPEATS,
    RUN,
    RUN_CLIP,
    SAME,
    STUCK_AT,
    UP,
    _count_expected,
    _event,
    _noise_rising,
    _poisson_z,
    _sqrt,
    calibration,
    fast_rise,
    noise_factor,
    run_calibration,
)
from dq_monitor.checks.verdict import FAIL, OK, PENDING, WARN
from dq_monitor.config import AnomalyConfig
from dq_monitor.state.baseline import (
    RACE_SAMPLE_S,
    T_LAST,
    WEEKEND_HOUR,
)


def evaluate_robust(state: SeriesState, value: float, cfg: AnomalyConfig, source: str,
                    subject: str, ts: datetime | None, quiet: bool) -> AnomalyResult | None:
    """``evaluate`` (``quiet``: ``evaluate_quiet``) of a robust series (its own baseline):
    the per-event step, called directly by the dispatcher (positional arguments)."""
    p = cfg.judging
    race = state.race
    if ts is None:
        t = t_local = 0.0
    elif state.off is None and state.warm is None and (race is None or ts < race.due):
        t = t_local = _NO_TIME  # no season bucket to find, no race sample due
    else:
        t = t_local = ts.timestamp()
        if ts.tzinfo is not UTC and (state.off is not None or race is not None):
            offset = ts.utcoffset()
            if offset:
                t_local = t + offset.total_seconds()
        if race is not None and t - race[T_LAST] >= RACE_SAMPLE_S:
            # FR-017: weekday/weekend before a weekly model, checked when a race sample is due
            # (at most once a minute, and only where the time was needed anyway: NFR-003), so
            # before the sample's own value is judged; the split itself only where the day type
            # differs from the last sample's
            prev = race.stats[19]
            if prev >= 0.0 and (((int(t_local // 3600.0) + 72) % 168 >= WEEKEND_HOUR)
                                != (prev >= 24.0 + WEEKEND_HOUR // 24)):
                state.split_week(race, t_local)
    run = state.run
    assert run is not None
    if state.warm is not None:
        if len(state.warm) + 1 >= p.min_samples:
            _seed_repeats(run, state.warm, value)
        state.warm_up(value, t, p.min_samples)
        state.last = value
        held = state.burst  # what ``_episode`` holds for a PENDING value
        if quiet and held is None:
            return None
        return AnomalyResult(PENDING, None, None, None, False, value, cfg, source,
                             subject, held=held)
    counts = state.counts
    if counts and (value < 0.0 or not value.is_integer()):
        # No longer a count series: its model no longer fits, so it starts again.
        state.rebaseline(cfg)
        state.clear_run()
        state.reset_stats()
        state.last = value
        state.streak = None
        state.streak_sign = 0
        if t != t:  # not read above (see _NO_TIME); the warm-up's last value needs it
            t = 0.0 if ts is None else ts.timestamp()
        state.warm_up(value, t, p.min_samples)
        held = state.burst
        if quiet and held is None:
            return None
        return AnomalyResult(PENDING, None, None, None, False, value, cfg, source,
                             subject, held=held)
    y = 2.0 * math.sqrt(value + 0.375) if counts else value
    kind = state.kind
    if state.off is None:
        # state.predict(t_local) without a season, inline (the same operations in the same order;
        # NFR-003: the call is a measurable share of a value's cost)
        k = -1
        pred = state.level + state.trend
        scale = _sqrt(state.var)
        q = state.quantum
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
        pred, scale, k = state.predict(t_local)
    if k >= 0 and state.unseen(k):
        state.learn(value, y, pred, scale, k, t, t_local, p.alpha)
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
        elif counts and not -EVENT_Z < z < EVENT_Z and scale >= POISSON_LIKE:
            z = _poisson_z(value, _count_expected(pred), z) / scale
    zc = RUN_CLIP if z > RUN_CLIP else -RUN_CLIP if z < -RUN_CLIP else z
    i = state.run_i
    old = run[i]
    run_sum = state.run_sum + zc - old
    run[i] = zc
    state.run_i = i + 1 if i + 1 < RUN else 0
    state.run_sum = run_sum
    z_run = run_sum / _RUN_NORM
    direction = p.direction
    if direction == "both":
        point = z if z >= 0.0 else -z  # (abs, inline: NFR-003)
        over = z_run if z_run >= 0.0 else -z_run
    elif direction == "up":
        point, over = z, z_run
    else:
        point, over = -z, -z_run
    score = point if point > over else over
    severity = OK
    expected = pred  # in the series' units: see below for counts
    note: tuple[str, float] | None = None
    loud = 0.0
    if score >= p.z_warn:
        # FR-017 (b): the first value of an excursion that would page at the configured
        # thresholds teaches the fast tail (the values after it are the same excursion)
        prev = (run_sum - zc + old) / _RUN_NORM  # the previous value's run statistic
        was = run[i - 1 if i else RUN - 1]  # and its clipped z
        if not -RUN_CLIP < was < RUN_CLIP:
            # clipped: the previous value's own size, judged by this value's expectation
            last = state.last
            if counts:
                last = 2.0 * _sqrt(last + 0.375) if last >= 0.0 else _INF
            was = (last - pred) / scale if scale > 0.0 else _INF
        if (-p.z_warn < prev < p.z_warn and -p.z_warn < was < p.z_warn
                and score < p.z_fail * CALIBRATION_MAX):
            # (a value beyond any threshold's reach is an incident, not a burst of the normal)
            loud = score if point >= p.z_warn else -score  # (see ``_event``)
        # judged against the history before this value; a value in a firing episode (an
        # incident under way) only against the slow tail
        calm = state.burst is None
        f = calibration(run, state.n, calm)
        f_run = run_calibration(run, state.n, f) if calm else f
        # the factor on the score the verdict speaks of (see ``AnomalyResult``: the run
        # statistic when it is the larger, else the value's own z)
        said = f_run if abs(z_run) > abs(z) else f
        if said != 1.0:
            note = ("calibrated", said)
        if point >= p.z_warn * f or over >= p.z_warn * f_run:
            if counts:
                expected = _count_expected(pred)
            moved = abs(value - expected)
            if moved >= p.min_abs_change and moved >= p.min_rel_change * abs(expected):
                severity = (FAIL if point >= p.z_fail * f or over >= p.z_fail * f_run
                            else WARN)
        elif over >= p.z_warn and (z if z_run > 0.0 else -z) >= 1.0:
            # FR-017 (b): a run the raised thresholds let pass (a burst of the series' normal
            # is short) that lasts: judged at the configured thresholds once LASTING values
            # in a row have held the run statistic over them, each itself on the run's side,
            # since a level shift starts like a burst but does not end (see ``LASTING``).
            side = 1 if z_run > 0.0 else -1
            streak = state.streak
            length = 1 + (len(streak) if streak is not None and state.streak_sign == side
                          else 0)
            if length >= LASTING or length >= p.rebaseline_after:
                if counts:
                    expected = _count_expected(pred)
                moved = abs(value - expected)
                if moved >= p.min_abs_change and moved >= p.min_rel_change * abs(expected):
                    severity = FAIL if score >= p.z_fail else WARN
                    note = ("lasting", float(length))
            else:
                # it counts towards the run (on the run's side, it never ends one), and
                # stays in the model like any value the thresholds let pass
                if streak is None or state.streak_sign != side:
                    streak = state.streak = array("d")
                    state.streak_sign = side
                streak.append(y - (pred - state.level - state.trend))
    repeat = value == state.last
    state.last = value
    if repeat or z >= EVENT_Z or z <= -EVENT_Z:
        if _event(run, state.n, z, repeat, state.burst is None, loud, i):
            return _accept_noise(state, run, value, z, z_run, pred, scale, cfg, source,
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
        state.learn(value, y, pred, scale, k, t, t_local, p.alpha)
        held = None
        if state.burst is not None:
            if state.quiet + 1 >= p.cooldown and _noise_rising(run, state.n - 1):
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
    streak.append(y - (pred - state.level - state.trend))  # the value without its season offset
    if len(streak) >= p.rebaseline_after:
        ordered = sorted(streak)
        n = len(ordered)
        mid = n // 2
        state.level = ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
        state.trend = 0.0
        run[FAILS] += 1.0
        # a level shift, not a burst of the series' normal: its own count leaves the fast
        # tail, a heavy-tailed series' memory of its bursts stays
        run[BIG] = run[BIG] - 1.0 if run[BIG] > 1.0 else 0.0
        # and its values, far on one side, say nothing of the noise (see ``fast_rise``)
        state.reset_stats(ENERGY, ENERGY + 1)
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
        state.learn(value, y, pred, scale, k, t, t_local, p.alpha, True)
    else:
        run[FAILS] += 1.0
        if state.race is not None:
            state.witness(y, pred, scale, t, t_local, p.alpha)
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


def _accept_noise(state: SeriesState, run: array[float], value: float, z: float,
                  z_run: float, pred: float, scale: float, cfg: AnomalyConfig, source: str,
                  subject: str, quiet: bool) -> AnomalyResult | None:
    """FR-017 (a) / FR-014: a lasting change of the noise level, accepted like a lasting level
    shift: the scale grows to the new noise, the deviation statistics start afresh and the
    value stays out of the model. One alert at most: an episode already firing resolves (OK),
    and a rise by ``NOISE_PAGE`` or more, or a fast one (``fast_rise``), that had not paged yet
    is this value's WARN, resolved after the cooldown.
    """
    factor = noise_factor(run)
    fast = state.burst is None and fast_rise(run)
    if fast:
        # caught early, the mean z² still holds much of the old noise: the last RUN values'
        # own z² count for half
        recent = math.fsum(v * v for v in run[:RUN]) / RUN
        factor = max(factor, _sqrt(0.5 * (run[ENERGY] + recent)))
    page = fast or factor >= NOISE_PAGE
    state.var = (scale * factor) ** 2
    state.reset_stats(UP, REPEATS)
    state.reset_stats(ENERGY, ENERGY + 1)
    state.reset_stats(BIG, PEAK_RUN + 1)
    run[FAILS] += 1.0
    state.streak = None
    state.streak_sign = 0
    state.clear_run()
    severity = OK
    if state.burst is None and page:
        severity = WARN
        _episode(state, WARN, cfg)
        # it counts as an excursion that paged (at no size: no threshold is raised for it), so
        # the rest of the same rise, should the new scale fall short of it, is not paged again
        # as a fast rise of its own (see ``fast_rise``)
        run[BIG] = 1.0
    else:
        state.burst = None
        state.quiet = 0
    if quiet and severity is OK:
        return None
    counts = state.counts
    expected = _count_expected(pred) if counts else pred
    new = scale * factor
    return AnomalyResult(severity, z, expected, new * pred / 2.0 if counts else new, True,
                         value, cfg, source, subject, held=state.burst, z_run=z_run,
                         model=(pred, new, counts, state.kind), note=("noise", factor))
