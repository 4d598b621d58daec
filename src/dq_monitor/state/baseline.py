"""FR-017: a robust, seasonal, trend-following baseline of one series: expected value, scale.

The model is Holt's linear method (level + trend) or, with seasonality, a level and an additive
offset per season bucket (no trend: see ``learn``), learnt one value at a time in O(1):

* **robust**: a value updates level, trend, offset and scale only through its residual clipped
  at ``CLIP`` scale units (a Huber-style update), so one wild value moves nothing by more than a
  normal value would; the check keeps FAIL values out altogether (FR-014);
* **scale** is the exponentially weighted RMS of clipped residuals, floored by the series'
  resolution (``quantum``: 1 for integers, 0.01 for cents), so a flat or small-integer series
  never sees a ±1 step as many sigmas;
* **counts** (a series whose warm-up values are all non-negative integers) are modelled after
  Anscombe's transform ``y = 2·sqrt(x + 3/8)``, where Poisson noise has unit variance whatever
  the rate; expected values and bands are reported back in the series' own units;
* **seasonality**: ``hour_of_day`` (24 buckets), ``day_of_week`` (7) or ``hour_of_week`` (168),
  from the wall-clock time of the value's own timestamp (its offset included, so a producer that
  sends local time gets local buckets). A bucket not yet seen is not judged. ``auto`` races
  those three models against the live one on a one-a-minute sample of the series and adopts a
  seasonal model once the history proves it (daily from day 2 to 7, weekly from day 8; the
  race ends at day 15): see ``_wins``. Weekly structure before day 8 (FR-017): once a daily
  model is adopted, the first change between weekdays and the weekend splits it in two
  (``weekpart_hour``: its 24 hours once for weekdays and once for the weekend), the side not
  yet seen starting unseen, so the first weekend is learnt rather than judged against the
  weekdays: see ``split_week``. A series with no daily model yet adopts the race's daily one
  at that first change if it already explains the series somewhat better than the live model
  (``WEEKPART_RATIO``), and is split the same way; otherwise it is not split (a season would
  cost every one of its values a timestamp conversion, NFR-003).

The first ``min_samples`` values seed the level (their median) and the scale (the larger of
their MAD and RMS deviation from the median: a cautious start). Everything is
plain synchronous code: no clock, no I/O.
"""

from __future__ import annotations

import math
import sys
from array import array
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from dq_monitor.errors import DqMonitorError
from dq_monitor.state.shared import Shared

#: Residuals are clipped at this many scale units before they update the model.
CLIP = 3.0
#: Trend learning rate relative to the level's.
BETA = 0.1
#: A seasonal bucket's offset learns as the running mean of its first values, then at 1/CAP.
CAP = 100
#: A seasonal model is adopted when its mean absolute error is at most this share of the
#: current model's on the same values.
ADOPT_RATIO = 0.8
#: ``split_week`` adopts the race's daily model at the first change of day type when its mean
#: absolute error is at most this share of the live model's.
WEEKPART_RATIO = 0.95
#: An error of this many scale units would alert: the race counts them per candidate model and
#: compares with the values the live model flagged.
BIG = 4.5
#: The race samples at most one value per this many seconds of event time.
RACE_SAMPLE_S = 60.0
#: ``SeasonRace.due`` before the first sample: every instant is at or after it.
_DUE_AT_ONCE = datetime.min.replace(tzinfo=UTC)

#: Seasonal offsets are float32 (NFR-005): a value that would not fit teaches them nothing.
F32_MAX = 3.0e38

DAY = 86_400.0
WEEK = 7 * DAY
#: Saturday 00:00 in hours since Monday 00:00: the weekend's first hour of the week.
WEEKEND_HOUR = 120
#: kind → (buckets, history after which ``auto`` gives up on it, offset in the race's offset
#: array, its period: the race scores it after one period spent learning the offsets)
SEASONS: dict[str, tuple[int, float, int, float]] = {
    "hour_of_day": (24, 3 * DAY, 0, DAY),
    "day_of_week": (7, 15 * DAY, 24, WEEK),
    "hour_of_week": (168, 15 * DAY, 31, WEEK),
    # Only ``auto`` reaches this (``split_week``); it is not a race candidate.
    "weekpart_hour": (48, 15 * DAY, -1, WEEK),
}
_RACE_ORDER = ("hour_of_day", "day_of_week", "hour_of_week")
#: (buckets, period) of each candidate, in ``_RACE_ORDER``.
_RACE_SHAPE = tuple((SEASONS[k][0], SEASONS[k][3]) for k in _RACE_ORDER)
#: The race's statistics per candidate (see ``SeasonRace.stats``); its start follows them.
RACE_STATS = 27
T0 = RACE_STATS


class BaselineStateError(DqMonitorError):
    """A checkpointed baseline cannot be restored; the message names the field."""


def bucket(kind: str, t_local: float) -> int:
    """The season bucket of a wall-clock instant (seconds since the epoch, offset applied)."""
    hours = int(t_local // 3600.0)
    if kind == "hour_of_day":
        return hours % 24
    how = (hours + 72) % 168  # 1970-01-01 was a Thursday: Monday 00:00 is bucket 0
    if kind == "hour_of_week":
        return how
    if kind == "day_of_week":
        return how // 24
    return hours % 24 + (24 if how >= WEEKEND_HOUR else 0)  # weekpart_hour


def resolution(x: float) -> float:
    """The coarsest step ``x`` is written in (1 for integers, 0.01 for 12.34), 0 if finer."""
    if x.is_integer():
        return 1.0
    for d in range(1, 7):
        scaled = x * 10.0**d
        whole = round(scaled)
        if whole != 0 and abs(scaled - whole) <= 1e-6:
            return STEPS[d]
    return 0.0


#: ``10.0**-d`` for each step ``resolution`` returns, built once: every series written in
#: cents shares one float rather than holding its own (NFR-005).
STEPS = tuple(10.0**-d for d in range(7))


def _fits(x: float, q: float) -> bool:
    r = x / q
    whole = round(r)
    return (whole != 0 or x == 0.0) and abs(r - whole) <= 1e-6


def to_model(x: float, counts: bool) -> float:
    return 2.0 * math.sqrt(x + 0.375) if counts else x


def from_model(y: float, counts: bool) -> float:
    if not counts:
        return y
    h = max(y, 0.0) / 2.0
    return max(h * h - 0.375, 0.0)


#: Race sampling instants by whole second (``_due``).
_second: Shared[int, datetime] = Shared(lambda second: datetime.fromtimestamp(second, UTC))


def _due(t: float) -> datetime:
    """``SeasonRace.due`` after a sample at ``t``: the whole second at or before an instant a
    millisecond earlier than ``t + RACE_SAMPLE_S`` (far more than a float's rounding of ``t``).

    Early by under a second, so a value stamped in that second is only tested exactly (its
    timestamp converted, then not sampled): the same decisions. Whole seconds let the races
    of a fleet share one instant per second rather than each holding its own (NFR-005: a
    datetime is 48 bytes). ``_DUE_AT_ONCE`` beyond the range of a datetime.
    """
    try:
        return _second(math.floor(t + RACE_SAMPLE_S - 0.001))
    except (OverflowError, OSError, ValueError):
        return _DUE_AT_ONCE


#: The race's offsets: where they start in its array (in doubles, after the statistics and the
#: start), how many there are, and the doubles that hold them (two float32 each, rounded up).
RACE_OFF_AT = RACE_STATS + 1
RACE_OFFSETS = 199
RACE_OFF_BYTES = slice(8 * RACE_OFF_AT, 8 * RACE_OFF_AT + 4 * RACE_OFFSETS)
#: After the offsets: when the race last sampled a value (``SeasonRace.t_last``).
T_LAST = RACE_OFF_AT + (RACE_OFFSETS + 1) // 2
#: A new race's array: statistics (each candidate's visit bucket -1: none yet), start, offsets,
#: no sample yet.
_FRESH_RACE = array("d", [0.0]) * (T_LAST + 1)
_FRESH_RACE[18:21] = array("d", (-1.0, -1.0, -1.0))
_FRESH_RACE[T_LAST] = -math.inf


if TYPE_CHECKING:
    _Doubles = array[float]
else:
    _Doubles = array  # (not subscriptable at run time before Python 3.12)


class SeasonRace(_Doubles):
    """``seasonality: auto``: the three seasonal models learnt beside the live one, then judged.

    The race is one array of doubles (NFR-005: one object and one block per racing series
    rather than three objects and three blocks, some 110 bytes less): its statistics
    (``stats``, this array itself), its start (``T0``), then the 199 float32 offsets of all
    three candidates, stored as float32 in the bytes of the next 100 doubles (``off``, a view
    made when a sample needs it: at most once a minute of event time), then its last sample's
    instant (``T_LAST``).
    """

    __slots__ = ("daily_done", "due")
    daily_done: bool
    due: datetime

    def __new__(cls, t0: float, level: float) -> SeasonRace:
        # exact size, as the array it copies
        race = cast("SeasonRace", super().__new__(cls, "d", _FRESH_RACE))
        #: An instant just before the next sample may be taken (``t_last`` + ~``RACE_SAMPLE_S``),
        #: so a value stamped earlier is known not to be sampled without converting its
        #: timestamp to seconds (NFR-003: that conversion is the costliest step of many values).
        race.due = _DUE_AT_ONCE
        race.daily_done = False
        race[0] = race[1] = race[2] = level
        race[T0] = t0
        return race

    @property
    def stats(self) -> SeasonRace:
        """Per candidate (3 each): level, samples, mean |clipped error|, the live model's on the
        same values, share of values ``BIG`` scale units off (those that would alert), share
        of the same values the live model flagged, the bucket of the current visit, values in
        that visit, visits (bucket changes) so far. Then the race's start (``T0``)."""
        return self

    @property
    def off(self) -> memoryview[float]:
        """The 199 float32 offsets (24 daily, 7 day-of-week, 168 hour-of-week), writable."""
        return memoryview(self).cast("B")[RACE_OFF_BYTES].cast("f")

    @classmethod
    def packed(cls, t0: float, off: bytes, stats: bytes) -> SeasonRace:
        """A race not yet sampled, its offsets and statistics (``RACE_STATS`` of them) given as
        native float32 and float64 bytes (the checkpoint codec's restore, NFR-001: copied
        straight in); ``ValueError`` if either is not the size it must be."""
        if len(off) != 4 * RACE_OFFSETS or len(stats) != 8 * RACE_STATS:
            raise ValueError("season race: packed offsets or statistics of the wrong size")
        race = cls(t0, 0.0)
        view = memoryview(race).cast("B")
        view[:8 * RACE_STATS] = stats
        view[RACE_OFF_BYTES] = off
        view.release()
        return race

    @property
    def t_last(self) -> float:
        """When the race last sampled a value (-inf before its first sample): in the array, not
        a float object of its own (NFR-005), read only once a sample may be due (``due``)."""
        return self[T_LAST]

    @property
    def t0(self) -> float:
        """When the race started (event time, seconds since the epoch)."""
        return self[T0]

    def nbytes(self) -> int:
        total = sys.getsizeof(self)
        return total + (0 if self.due is _DUE_AT_ONCE else sys.getsizeof(self.due))

    def sampled(self, t: float) -> None:
        """Note a sample at ``t``: the next one is due ``RACE_SAMPLE_S`` later (``due`` is up to
        a second early, see ``_due``, so it never holds back a value the exact test in
        ``Baseline.learn`` would sample)."""
        self[T_LAST] = t
        self.due = _due(t)

    def to_state(self) -> dict[str, Any]:
        return {"t0": self.t0, "t_last": self.t_last if math.isfinite(self.t_last) else None,
                "daily_done": self.daily_done, "off": list(self.off),
                "stats": list(self[:RACE_STATS])}

    @classmethod
    def from_state(cls, state: Any) -> SeasonRace:
        if not isinstance(state, dict):
            raise BaselineStateError("baseline state: race: must be a mapping")
        race = cls(_finite(state, "t0"), 0.0)
        last = state.get("t_last")
        if last is not None:
            race.sampled(_finite(state, "t_last"))
        race.daily_done = bool(state.get("daily_done", False))
        race.off[:] = array("f", _floats(state, "off", RACE_OFFSETS))
        race[:RACE_STATS] = array("d", _floats(state, "stats", RACE_STATS))
        return race


class Baseline:
    """Expected value and scale of one series (see the module docstring for the model)."""

    __slots__ = ("counts", "kind", "level", "n", "off", "quantum", "race", "trend", "var",
                 "visits", "warm")

    def __init__(self, seasonality: str) -> None:
        # The learning rate (``AnomalyConfig.alpha``) and ``min_samples`` are the config's,
        # passed in where needed: not two fields per series (NFR-005).
        self.n = 0
        self.level = self.trend = self.var = 0.0
        self.quantum = 0.0
        self.counts = False
        #: ``auto`` until decided, then a SEASONS kind, or ``none``.
        self.kind = seasonality
        self.off: array[float] | None = None
        self.visits: array[int] | None = None
        self.race: SeasonRace | None = None
        #: The first values, until there are ``min_samples`` of them (then None).
        self.warm: array[float] | None = array("d")

    # ------------------------------------------------------------------ warm-up

    @property
    def ready(self) -> bool:
        return self.warm is None

    def warm_up(self, x: float, t: float, min_samples: int) -> None:
        """Collect a warm-up value; the ``min_samples``-th seeds the model from median and MAD."""
        warm = self.warm
        assert warm is not None
        warm.append(x)
        self.n += 1
        if len(warm) < min_samples:
            return
        xs = list(warm)
        self.counts = all(v >= 0.0 and v.is_integer() for v in xs)
        # The coarsest step all of them are written in: the smallest of their resolutions,
        # found without testing the rest once one has none (0: most float series' first value,
        # where each test would try six decimal places, NFR-003).
        q = 1.0
        for v in xs:
            r = resolution(v)
            if r < q:
                q = r
                if r == 0.0:
                    break
        self.quantum = q
        ys = sorted(to_model(v, self.counts) for v in xs)
        med = _median(ys)
        # A few values say little about the scale, and quantised data often has MAD 0: the seed
        # is the larger of the MAD-based and the plain estimate, which the weighted update
        # then brings down to the series' own at rate ``alpha``.
        mad = _median(sorted(abs(y - med) for y in ys)) * 1.4826
        rms = math.sqrt(math.fsum((y - med) ** 2 for y in ys) / len(ys))
        seed = max(mad, rms)
        self.level, self.trend, self.var = med, 0.0, seed * seed
        self.warm = None
        if self.kind in SEASONS:
            self._start_season(self.kind)
        elif self.kind == "auto":
            self.race = SeasonRace(t, med)

    def _start_season(self, kind: str, off: array[float] | None = None) -> None:
        size = SEASONS[kind][0]
        self.kind = kind
        self.off = off if off is not None else array("f", [0.0]) * size
        self.visits = array("B", [0 if off is None else CAP]) * size

    # ------------------------------------------------------------------ the model

    def predict(self, t_local: float) -> tuple[float, float, int]:
        """(expected value, scale, bucket) in model units, before the value at ``t_local``.

        ``bucket`` is -1 without seasonality; see ``unseen`` for a bucket with no value yet.
        """
        k = -1
        pred = self.level + self.trend
        off = self.off
        if off is not None:
            k = bucket(self.kind, t_local)
            pred += off[k]
        scale = math.sqrt(self.var)
        q = self.quantum
        if q > 0.0:
            if self.counts:
                # from_model / to_model, inline (the same operations in the same order)
                h = (0.0 if pred < 0.0 else pred) / 2.0
                x = h * h - 0.375
                if x < 0.0:
                    x = 0.0
                floor = 2.0 * math.sqrt(x + q + 0.375) - 2.0 * math.sqrt(x + 0.375)
            else:
                floor = q
            if scale < floor:
                scale = floor
        return pred, scale, k

    def learn(self, x: float, y: float, pred: float, scale: float, k: int, t: float,
              t_local: float, a: float, flagged: bool = False) -> None:
        """Fold value ``x`` (``y`` in model units) into the model at learning rate ``a``,
        clipped (see module doc)."""
        self.n += 1
        q = self.quantum
        if q > 0.0:
            r = x / q  # _fits(x, q), inline
            whole = round(r)
            if not ((whole != 0 or x == 0.0) and abs(r - whole) <= 1e-6):
                self.quantum = min(q, resolution(x))
        off = self.off
        if off is not None and k >= 0:
            visits = self.visits
            assert visits is not None
            seen = visits[k]
            if seen == 0:
                first = y - self.level - self.trend  # a bucket's first value sets its offset
                if -F32_MAX < first < F32_MAX:
                    visits[k] = 1
                    off[k] = first
                return
        e = y - pred
        if scale > 0.0:
            c = CLIP * scale
            if e > c:
                e = c
            elif e < -c:
                e = -c
        level = self.level + self.trend + a * e
        # A seasonal model keeps no trend: learnt while the season is half seen, a trend would
        # mistake the pattern for a drift and carry it into every offset.
        trend = self.trend + a * BETA * e if off is None else 0.0
        var = self.var + a * (e * e - self.var)
        if not (math.isfinite(level) and math.isfinite(trend) and math.isfinite(var)):
            return  # an extreme value whose residual overflows teaches nothing
        self.level, self.trend, self.var = level, trend, var
        if off is not None and k >= 0:
            visits = self.visits
            assert visits is not None
            seen = visits[k]
            moved = off[k] + (1.0 - a) * e / (seen + 1 if seen < CAP else CAP)
            if -F32_MAX < moved < F32_MAX:
                off[k] = moved
                if seen < CAP:
                    visits[k] = seen + 1
        race = self.race
        # (``t`` is NaN where the caller knew no sample could be due: no read of the array)
        if race is not None and t == t and t - race[T_LAST] >= RACE_SAMPLE_S:
            self._race(race, y, y - pred, scale, t, t_local, a, flagged)

    def witness(self, y: float, pred: float, scale: float, t: float, t_local: float,
                a: float) -> None:
        """A value kept out of the model (a FAIL) still counts in the seasonality race: the
        values the live model gets most wrong are the ones a seasonal model may explain."""
        race = self.race
        if race is not None and t == t and t - race[T_LAST] >= RACE_SAMPLE_S:
            self._race(race, y, y - pred, scale, t, t_local, a, True)

    def split_week(self, race: SeasonRace, t_local: float) -> None:
        """``auto`` with a daily model, before a weekly one can be adopted: at the first value on
        the other side of the weekday/weekend line than the race's last sample, split the daily
        model in two (see the module docstring); the side seen so far keeps what it learnt."""
        if self.kind != "hour_of_day" and self.kind != "auto":
            return
        prev = race.stats[19]  # 24 + day of week of the race's last sample, -1 before one
        if prev < 0.0:
            return
        was_weekend = prev >= 24.0 + WEEKEND_HOUR // 24
        if ((int(t_local // 3600.0) + 72) % 168 >= WEEKEND_HOUR) == was_weekend:
            return
        if self.kind == "auto":
            # No daily model yet: at the first change of day type, one is adopted if it already
            # explains the series better than the live model (a slow daily wave, which the
            # live level follows well enough not to lose the race by ADOPT_RATIO), so the
            # other side of the week starts unseen rather than paging as a level shift.
            err, live = race.stats[6], race.stats[9]
            if race.daily_done or not 0.0 < err <= WEEKPART_RATIO * live:
                return
            race.daily_done = True
            self._adopt(race, 0)
            st = race.stats
            for base in (6, 9, 12, 15):
                st[base + 1] = st[base + 2] = 0.0  # the weekly candidates now race the daily
        off, visits = self.off, self.visits
        assert off is not None and visits is not None
        self._start_season("weekpart_hour")
        at = 24 if was_weekend else 0
        assert self.off is not None and self.visits is not None
        self.off[at:at + 24] = off
        self.visits[at:at + 24] = visits

    def unseen(self, k: int) -> bool:
        """Whether season bucket ``k`` has had no value yet (such a value is not judged)."""
        return k >= 0 and self.visits is not None and self.visits[k] == 0

    # ------------------------------------------------------------------ auto seasonality

    def _race(self, race: SeasonRace, y: float, e_live: float, scale: float, t: float,
              t_local: float, a: float, flagged: bool) -> None:
        if not -F32_MAX < y < F32_MAX:
            return  # beyond what the race's float32 offsets hold: it teaches them nothing
        off, st = race.off, race.stats
        t_last = race[T_LAST]
        dt = t - t_last if math.isfinite(t_last) else RACE_SAMPLE_S
        race.sampled(t)
        span = t - st[T0]
        c = CLIP * scale if scale > 0.0 else math.inf
        live = min(abs(e_live), c)
        live_big = 1.0 if flagged else 0.0
        hours = int(t_local // 3600.0)
        how = (hours + 72) % 168
        slots = (hours % 24, 24 + how // 24, 31 + how)
        for i in range(3):
            size, period = _RACE_SHAPE[i]
            j = slots[i]
            e = y - st[i] - off[j]
            # Would this model flag the value? Its own scale, from its mean absolute error.
            big = 1.0 if st[6 + i] > 0.0 and abs(e) >= BIG * 1.2533 * st[6 + i] else 0.0
            if e > c:
                e = c
            elif e < -c:
                e = -c
            if span >= period:
                # Running means over the scored span, then over about the last period; the
                # live model's on the same values.
                w = min(1.0, max(dt / period, dt / (span - period + dt)))
                st[6 + i] += w * (abs(e) - st[6 + i])
                st[9 + i] += w * (live - st[9 + i])
                st[12 + i] += w * (big - st[12 + i])
                st[15 + i] += w * (live_big - st[15 + i])
            st[3 + i] += 1.0
            if st[18 + i] != j:
                st[18 + i] = j
                st[21 + i] = 0.0
                st[24 + i] += 1.0
            st[21 + i] += 1.0
            if off[j] == 0.0:
                first = y - st[i]  # a bucket's first value sets its offset
                if -F32_MAX < first < F32_MAX:
                    off[j] = first
                continue
            if span >= period:
                # Fixed for the first period, so the offsets describe one consistent level;
                # then it follows the series slowly against the period.
                st[i] += min(a, dt / period) * e
            # Values this bucket has had: earlier visits (at the mean values per visit) plus
            # this one's, so each bucket's offset is a running mean of its values.
            seen = (st[24 + i] - 1.0) // size * (st[3 + i] / st[24 + i]) + st[21 + i]
            moved = off[j] + e / min(max(seen, 1.0), float(CAP))
            if -F32_MAX < moved < F32_MAX:
                off[j] = moved
        if (not race.daily_done and 2.0 * DAY <= span < WEEK
                and self._wins(race, 0, scale, dt)):
            race.daily_done = True
            self._adopt(race, 0)
            for base in (6, 9, 12, 15):
                st[base + 1] = st[base + 2] = 0.0  # the weekly candidates now race the daily
        if span >= WEEK + DAY:
            best = 1 if self._wins(race, 1, scale, dt) else None
            if self._wins(race, 2, scale, dt) and (best is None or st[8] <= 0.9 * st[7]):
                best = 2
            if best is not None:
                self._adopt(race, best)
            if best is not None or span >= SEASONS["hour_of_week"][1]:
                self.race = None
                if self.off is None:
                    self.kind = "none"

    @staticmethod
    def _wins(race: SeasonRace, i: int, scale: float, dt: float) -> bool:
        """Candidate ``i`` beats the live model: a clearly lower mean error, or far fewer
        values that would alert (at least two a period for the live model) without a clearly
        worse mean error."""
        st = race.stats
        err, live = st[6 + i], st[9 + i]
        if live <= 0.0:
            return False
        if err <= ADOPT_RATIO * live and live - err >= 0.1 * scale and live >= 0.3 * scale:
            return True
        period = SEASONS[_RACE_ORDER[i]][3]
        per_period = st[15 + i] * period / max(dt, 1e-9)
        return per_period >= 2.0 and st[12 + i] <= 0.5 * st[15 + i] and err <= 1.1 * live

    def _adopt(self, race: SeasonRace, i: int) -> None:
        kind = _RACE_ORDER[i]
        size, _, base, _ = SEASONS[kind]
        self._start_season(kind, array("f", race.off[base:base + size]))
        self.level = race.stats[i]
        self.trend = 0.0

    # ------------------------------------------------------------------ accounting, state

    def nbytes(self) -> int:
        total = sys.getsizeof(self)
        for part in (self.off, self.visits, self.warm):
            if part is not None:
                total += sys.getsizeof(part)
        if self.race is not None:
            total += self.race.nbytes()
        return total

    def model_state(self) -> dict[str, Any]:
        """The model as plain data (a series' checkpoint as JSON holds it as ``baseline``)."""
        return {
            "n": self.n, "level": self.level, "trend": self.trend, "var": self.var,
            "quantum": self.quantum, "counts": self.counts, "kind": self.kind,
            "off": None if self.off is None else list(self.off),
            "visits": None if self.visits is None else list(self.visits),
            "warm": None if self.warm is None else list(self.warm),
            "race": None if self.race is None else self.race.to_state(),
        }

    def load_model_state(self, state: Any) -> None:
        """Restore a fresh baseline in place from ``model_state`` under the seasonality it was
        made with; anything out of shape raises ``BaselineStateError``."""
        if not isinstance(state, dict):
            raise BaselineStateError("baseline state: must be a mapping")
        seasonality = self.kind
        self.n = int(_finite(state, "n"))
        self.level, self.trend = _finite(state, "level"), _finite(state, "trend")
        self.var, self.quantum = _finite(state, "var"), _finite(state, "quantum")
        if self.var < 0.0 or self.quantum < 0.0:
            raise BaselineStateError("baseline state: var/quantum: must not be negative")
        self.counts = bool(state.get("counts", False))
        kind = state.get("kind")
        saved_seasonal = kind in SEASONS and state.get("off") is not None
        if seasonality == "auto" and (saved_seasonal or kind in ("auto", "none")):
            self.kind = str(kind)
        if self.kind in SEASONS:
            if saved_seasonal and kind == self.kind:
                size = SEASONS[self.kind][0]
                self._start_season(self.kind, array("f", _floats(state, "off", size)))
                visits = _floats(state, "visits", size)
                assert self.visits is not None
                self.visits[:] = array("B", (min(max(int(v), 0), CAP) for v in visits))
            else:
                self._start_season(self.kind)
        warm = state.get("warm")
        self.warm = None if warm is None else array("d", _floats(state, "warm", None))
        race = state.get("race")
        if seasonality == "auto":
            # The race goes on after a daily model is adopted (a weekly one may still win).
            self.race = None if race is None else SeasonRace.from_state(race)
            if self.kind == "auto" and self.race is None and self.warm is None:
                self.race = SeasonRace(0.0, self.level)


def _median(sorted_values: list[float]) -> float:
    n = len(sorted_values)
    mid = n // 2
    return sorted_values[mid] if n % 2 else 0.5 * (sorted_values[mid - 1] + sorted_values[mid])


def _finite(state: dict[str, Any], key: str) -> float:
    value = state.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BaselineStateError(f"baseline state: {key}: not a finite number ({value!r})")
    return float(value)


def _floats(state: dict[str, Any], key: str, size: int | None) -> list[float]:
    values = state.get(key)
    if not isinstance(values, list) or (size is not None and len(values) != size):
        want = "a list" if size is None else f"a list of {size} numbers"
        raise BaselineStateError(f"baseline state: {key}: must be {want}")
    if set(map(type, values)) <= _FLOAT and not (any(map(math.isinf, values))
                                                 or any(map(math.isnan, values))):
        return values  # the common case (every restored series), checked at C speed
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise BaselineStateError(f"baseline state: {key}: not a finite number ({v!r})")
        out.append(float(v))
    return out


#: The type of a list of numbers that ``_floats`` takes as it is.
_FLOAT = frozenset((float,))
