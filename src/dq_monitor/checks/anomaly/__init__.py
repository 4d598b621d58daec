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
  scale unit of the expected value or on the other side, since a shifted level is noisy too;
  on a heavy-tailed series the values of a run its raised thresholds let pass count as well,
  and the run pages at the configured thresholds once it outlasts a burst (``LASTING``).
* One incident, one episode (FR-017): the verdict handed to the alert machine (``held``) stays at
  the burst's highest severity until ``cooldown`` consecutive normal values have passed, so a
  value flagged again within them continues the same alert instead of paging anew. A rebaseline
  ends the burst at once. ``severity`` is still the value's own verdict (the backtest's column).

Everything in this package is plain synchronous code: no clock, no I/O. The verdict sentence is
built only when asked for, keeping the per-value cost low. Modules: ``stats`` (per-value
statistics and constants), ``series`` (a series' state), ``result`` (the verdict), ``judge``
(the entry points and the rolling baseline), ``robust`` (the robust baseline's step).
"""

from __future__ import annotations

from dq_monitor.checks.anomaly.judge import (
    evaluate,
    evaluate_quiet,
)
from dq_monitor.checks.anomaly.result import (
    AnomalyResult,
)
from dq_monitor.checks.anomaly.robust import (
    evaluate_robust,
)
from dq_monitor.checks.anomaly.series import (
    SeriesState,
    SeriesStateError,
    series_key,
)
from dq_monitor.checks.anomaly.stats import (
    BIG,
    BIG_MIN,
    BIG_REF,
    BIG_RUN,
    BIG_RUN_SPAN,
    BIG_SPAN,
    CALIBRATION_MAX,
    CALIBRATION_MIN,
    CONT,
    CONT_MAX,
    CONT_RATE,
    DOWN,
    ENERGY,
    ENERGY_CLIP,
    ENERGY_RATE,
    EVENT,
    EVENT_Z,
    FAILS,
    GAUSS_REF,
    LASTING,
    NEVER,
    NOISE_ACCEPT,
    NOISE_HOLD,
    NOISE_PAGE,
    NOISE_RATE,
    P_SIDE,
    PEAK,
    PEAK_GROW,
    PEAK_MARGIN,
    PEAK_RUN,
    POISSON_LIKE,
    QUIET_Z2,
    REPEATS,
    RUN,
    RUN_CLIP,
    SAME,
    SAME_MAX,
    SAME_RATE,
    STATS,
    STATS_V1,
    STATS_V2,
    STUCK_AT,
    STUCK_MIN,
    STUCK_P,
    TAIL,
    TAIL_FLOOR,
    TAIL_PRIOR,
    TAIL_REF,
    TAIL_STEP,
    UP,
    calibration,
    noise_factor,
    stuck_after,
)

__all__ = [
    "BIG",
    "BIG_MIN",
    "BIG_REF",
    "BIG_RUN",
    "BIG_RUN_SPAN",
    "BIG_SPAN",
    "CALIBRATION_MAX",
    "CALIBRATION_MIN",
    "CONT",
    "CONT_MAX",
    "CONT_RATE",
    "DOWN",
    "ENERGY",
    "ENERGY_CLIP",
    "ENERGY_RATE",
    "EVENT",
    "EVENT_Z",
    "FAILS",
    "GAUSS_REF",
    "LASTING",
    "NEVER",
    "NOISE_ACCEPT",
    "NOISE_HOLD",
    "NOISE_PAGE",
    "NOISE_RATE",
    "PEAK",
    "PEAK_GROW",
    "PEAK_MARGIN",
    "PEAK_RUN",
    "POISSON_LIKE",
    "P_SIDE",
    "QUIET_Z2",
    "REPEATS",
    "RUN",
    "RUN_CLIP",
    "SAME",
    "SAME_MAX",
    "SAME_RATE",
    "STATS",
    "STATS_V1",
    "STATS_V2",
    "STUCK_AT",
    "STUCK_MIN",
    "STUCK_P",
    "TAIL",
    "TAIL_FLOOR",
    "TAIL_PRIOR",
    "TAIL_REF",
    "TAIL_STEP",
    "UP",
    "AnomalyResult",
    "SeriesState",
    "SeriesStateError",
    "calibration",
    "evaluate",
    "evaluate_quiet",
    "evaluate_robust",
    "noise_factor",
    "series_key",
    "stuck_after",
]
