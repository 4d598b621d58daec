"""The robust check's per-value statistics and their constants (FR-017): events, noise
level, tails, stuck runs, calibration and z. Plain functions of a series' ``run`` array."""

from __future__ import annotations

import math
from array import array
from datetime import UTC, datetime, timedelta
from statistics import NormalDist

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
#: fast tail: the decayed count of calm excursions that would page and the log of their size,
#: for excursions of a value itself (a spike, a burst), then for those of the run statistic
#: alone (a short drift the values' own z did not page).
(FAILS, EVENT, UP, DOWN, TAIL, REPEATS, SAME, STUCK_AT, ENERGY, CONT, BIG, PEAK, BIG_RUN,
 PEAK_RUN) = range(RUN, RUN + 14)
STATS = 14
#: Statistics in a state saved before ``BIG`` and ``PEAK`` existed (restored with their priors).
STATS_V1 = 10
#: ... and before ``BIG_RUN`` and ``PEAK_RUN`` did.
STATS_V2 = 12
EVENT_Z = 2.0
#: A Gaussian's share of z >= 2 (each side): the prior, so a new series starts as a Gaussian.
P_SIDE = 0.0227501
#: Noise level (a): the share of values beyond 2 scale units on *each* side is weighted over
#: about 1 / NOISE_RATE values; when both sides reach NOISE_ACCEPT (a Gaussian's is 0.023) the
#: noise has lastingly grown and the new scale is accepted, like a level shift.
NOISE_RATE = 1.0 / 100.0
NOISE_ACCEPT = 0.07
#: A rise of the noise by this factor or more pages when accepted (if nothing fired yet); a
#: smaller one is accepted quietly (the scale would have followed it in time anyway), unless
#: it is a fast rise (see ``ENERGY_ACCEPT``).
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
#: slow tail above learns them for good. Two such tails, each raising its own thresholds: the
#: excursions of a value's own |z| (``BIG``, ``PEAK``: spikes, bursts) and those of the run
#: statistic alone (``BIG_RUN``, ``PEAK_RUN``: short drifts whose values did not page); a
#: spike on a series that often drifts a little is still judged as a spike. Such drifts come
#: from the series' shape (a daily ramp the model follows late) and recur at its pace, about
#: once a day: their memory lasts BIG_RUN_SPAN, three times a burst's (a day and a half of
#: values at one a minute, a week at one every 5 minutes).
BIG_SPAN = 700.0
BIG_RUN_SPAN = 3.0 * BIG_SPAN
BIG_MIN = 0.3
PEAK_GROW = math.log(1.5)
PEAK_MARGIN = 1.5
BIG_REF = 4.5
#: A run statistic over the configured thresholds but under the raised ones (a burst of a
#: heavy-tailed series' normal, or the start of a level shift) is judged at the configured ones
#: from its LASTING-th value in a row over them, each value itself at least one scale unit on
#: the run's side (the series' bursts last fewer: the run statistic over RUN values stays up
#: about two values after a burst's end, when the values themselves are back near the level).
LASTING = 4
#: Noise level, a fast rise (a): the recent mean z² (over about 1 / ENERGY_RATE values; a
#: Gaussian's is 1) at ENERGY_ACCEPT or more, with the shares of values beyond 2 scale units at
#: NOISE_HOLD or more on each side and FAST_SHARE or more together (a Gaussian's is 0.046), is
#: a rise faster than the scale follows: accepted and paged at once, before the scale has
#: quietly learnt it (a doubling used to be), if the run statistic is under FAST_LEAN (the
#: recent values on both sides). Only outside a firing episode, and not while the fast tail
#: remembers an excursion that would have paged (``BIG``): bursts or spikes, whose squares
#: raise the mean too, or this rise's own first values (it has paged already).
ENERGY_ACCEPT = 2.5
FAST_SHARE = 0.1
FAST_LEAN = 3.0
#: The values between two events count in the mean z² as a Gaussian's below EVENT_Z, except
#: the last RUN - 1 of them, by their own z² (from the run ring), once the mean is at
#: ENERGY_RING or more (where a rise may be under way; NFR-003: a calm series skips it). A
#: value at z² >= WILD_Z2 (beyond the default z_fail × CALIBRATION_MAX, out of any default
#: threshold's reach) is an incident, not noise: it counts as a value between events.
ENERGY_RING = 1.5
WILD_Z2 = (6.0 * CALIBRATION_MAX) ** 2
#: Counts whose scale is at least this (in Anscombe units: 1 is Poisson noise) are judged, from
#: |z| >= EVENT_Z on, by the Poisson tail probability (``_poisson_z``); a narrower noise
#: (rounded readings of a steady quantity) is not Poisson-shaped and keeps Anscombe's z.
POISSON_LIKE = 0.8
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
_ENERGY_KEEP2 = _ENERGY_KEEP * _ENERGY_KEEP
_ENERGY_KEEP3 = _ENERGY_KEEP2 * _ENERGY_KEEP
_TAIL_DRIFT = TAIL_STEP * TAIL_REF
_BIG_KEEP = math.exp(-1.0 / BIG_SPAN)
_BIG_RUN_KEEP = math.exp(-1.0 / BIG_RUN_SPAN)
#: A |z| at which the fast tail's factor is CALIBRATION_MAX already: ``PEAK`` never exceeds it.
_PEAK_CAP = CALIBRATION_MAX * BIG_REF / PEAK_MARGIN
_PRIORS = (0.0, 0.0, P_SIDE, P_SIDE, TAIL_PRIOR, 0.0, 0.0, NEVER, 1.0, 0.0, 0.0, 0.0, 0.0,
           0.0)


def _event(run: array[float], n: int, z: float, repeat: bool, calm: bool,
           loud: float = 0.0, ring: int = -1) -> bool:
    """Fold an event (a value at |z| >= EVENT_Z, or equal to the previous one) into the
    series' statistics; True when the noise level has lastingly grown (see ``NOISE_ACCEPT``
    and ``ENERGY_ACCEPT``).

    The statistics are exponentially weighted per value; the values between two events only
    decay them, so that decay is applied here at once: the same figures as a per-value update
    (the mean z² takes the values still in the run ring, ending at slot ``ring``, by their own
    z²: a rising noise shows in the values under EVENT_Z too; a value beyond WILD_Z2 is an
    incident and tells nothing of the noise).
    The tail learns only from values outside a firing episode (``calm``), and so from the
    first value of each: a bursty series' bursts, not the body of a level shift or of a
    stretch of wild noise, which would teach it that incidents are normal. ``loud``, when not
    0, is the score of the first value of an excursion that would page: > 0 its own |z| (the
    fast tail ``BIG``/``PEAK``), < 0 minus the run statistic's, the value's own z not paging
    (``BIG_RUN``/``PEAK_RUN``).
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
        if run[BIG_RUN] > 0.0:
            run[BIG_RUN] *= _BIG_RUN_KEEP ** gap
        # the values since the last event: the last three (RUN - 1) in the run ring (``ring``:
        # this value's slot) by their own z², older ones as a Gaussian's below EVENT_Z
        # (written out: an event's cost is part of a value's, NFR-003)
        between = gap - 1.0
        if ring < 0 or between < 1.0 or energy < ENERGY_RING:
            keep = _ENERGY_KEEP ** between
            energy = energy * keep + QUIET_Z2 * (1.0 - keep)
        else:
            c = run[(ring - 1) % RUN]
            if between >= 3.0:
                if between > 3.0:
                    keep = _ENERGY_KEEP ** (between - 3.0)
                    energy = energy * keep + QUIET_Z2 * (1.0 - keep)
                a = run[(ring - 3) % RUN]
                b = run[(ring - 2) % RUN]
                energy = energy * _ENERGY_KEEP3 + ENERGY_RATE * (
                    (a * a * _ENERGY_KEEP + b * b) * _ENERGY_KEEP + c * c)
            elif between >= 2.0:
                b = run[(ring - 2) % RUN]
                energy = energy * _ENERGY_KEEP2 + ENERGY_RATE * (b * b * _ENERGY_KEEP + c * c)
            else:
                energy = energy * _ENERGY_KEEP + ENERGY_RATE * c * c
    z2 = z * z
    if z2 >= WILD_Z2:
        z2 = QUIET_Z2  # (a value beyond any default threshold's reach is an incident)
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
        if loud != 0.0:
            # The count was decayed to this value above; a memory that has faded starts anew.
            # A value's own excursion and the run statistic's alone each raise the thresholds
            # of their own kind (a spike after short drifts is still a spike).
            big, at_peak = (BIG, PEAK) if loud > 0.0 else (BIG_RUN, PEAK_RUN)
            score = loud if loud > 0.0 else -loud
            peak = math.log(score if score < _PEAK_CAP else _PEAK_CAP)  # |z| may be ∞
            if run[big] >= BIG_MIN:
                held = run[at_peak]
                peak = held if peak <= held else min(peak, held + PEAK_GROW)
            run[at_peak] = peak
            run[big] += 1.0
    run[UP], run[DOWN], run[TAIL] = up, down, tail
    if up >= NOISE_HOLD and down >= NOISE_HOLD:
        return (up >= NOISE_ACCEPT and down >= NOISE_ACCEPT) or (calm and fast_rise(run))
    return False


def fast_rise(run: array[float]) -> bool:
    """A rise of the noise accepted by ``ENERGY_ACCEPT`` (as of the last event): it pages."""
    if run[ENERGY] < ENERGY_ACCEPT or run[BIG] >= BIG_MIN or run[UP] + run[DOWN] < FAST_SHARE:
        return False
    # a wilder noise moves both ways: the last RUN values on one side are a level the model
    # has not caught up with (a season not yet learnt, a slow shift), not a noise
    lean = math.fsum(run[:RUN]) / _RUN_NORM
    return -FAST_LEAN < lean < FAST_LEAN


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
    tail's factor (see ``PEAK``) when it is the larger: the factor on a value's own |z|."""
    since = n + run[FAILS] - run[EVENT]
    tail = run[TAIL] - TAIL_STEP * TAIL_REF * since
    f: float = math.exp(tail) / GAUSS_REF if tail > _CALIBRATED else 1.0
    if fast:
        f = _by_peak(run, BIG, _BIG_KEEP ** since, f)
    return CALIBRATION_MAX if f >= CALIBRATION_MAX else f


def run_calibration(run: array[float], n: int, f: float) -> float:
    """The factor on the run statistic: ``f`` (``calibration``'s, with ``fast``) or, when it
    is larger, the fast tail's of the run statistic's own excursions (``PEAK_RUN``). Short
    drifts a series often makes widen the run statistic's thresholds, not a value's own: a
    spike on such a series pages as on any other."""
    f = _by_peak(run, BIG_RUN, _BIG_RUN_KEEP ** (n + run[FAILS] - run[EVENT]), f)
    return CALIBRATION_MAX if f >= CALIBRATION_MAX else f


def _by_peak(run: array[float], big: int, keep: float, f: float) -> float:
    """``f``, or the fast tail's factor at ``big`` (its peak next to it) when that tail holds
    an excursion (BIG_MIN or more once decayed by ``keep``, its decay since the last event)
    and its factor is the larger."""
    if run[big] * keep >= BIG_MIN:
        by_peak = PEAK_MARGIN * math.exp(run[big + 1]) / BIG_REF
        if by_peak > f and by_peak >= CALIBRATION_MIN:
            return by_peak
    return f


def noise_factor(run: array[float]) -> float:
    """How much the noise grew: the larger of the factor that makes the share of values beyond
    2 scale units a Gaussian's and the root of the recent mean z² (the share, weighted over
    more values, still holds some of the old noise; the mean z² is the more recent)."""
    share = min(run[UP] + run[DOWN], 0.95)
    by_share = EVENT_Z / _NORMAL.inv_cdf(1.0 - share / 2.0)
    return max(by_share, math.sqrt(run[ENERGY]), 1.0)


def _poisson_z(x: float, rate: float, z: float) -> float:
    """A count ``x`` at ``rate`` as the normal deviate of the same tail probability (Wilson
    and Hilferty's cube root of the gamma tail that equals the Poisson one), or ``z`` when the
    rate is 0. Anscombe's transform, exact in the body, shrinks the upper tail of a small rate
    and stretches its lower tail: a count of 27 at rate 7.8 (7 √rate above it) reads as
    z = 4.7 there, where its chance is a Gaussian's 5.3 σ (this gives 5.2)."""
    if rate <= 0.0:
        return z
    k = x if x > rate else x + 1.0
    w: float = 3.0 * math.sqrt(k) * (1.0 - 1.0 / (9.0 * k) - (rate / k) ** (1.0 / 3.0))
    return w if (w > 0.0) == (z > 0.0) else 0.0  # (a count next to its rate is no tail)


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
