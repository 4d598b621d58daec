"""``AnomalyResult``: one value's verdict; its sentence is built only when asked for."""

from __future__ import annotations

import math

from dq_monitor.checks.anomaly.stats import (
    RUN,
)
from dq_monitor.checks.verdict import FAIL, PENDING, WARN, Severity, Verdict
from dq_monitor.config import AnomalyConfig
from dq_monitor.state.baseline import (
    from_model,
)

_SEASON_WORDS = {"hour_of_day": "hour-of-day", "day_of_week": "day-of-week",
                 "hour_of_week": "hour-of-week",
                 "weekpart_hour": "hour-of-day weekday/weekend"}


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
        #: factor)``, thresholds raised by ``factor`` for a series whose normal is heavy-tailed;
        #: ``("lasting", values)``, a run judged at the configured thresholds after that many
        #: values in a row over them, when the raised ones let it pass (see ``LASTING``).
        self.note = note

    # The rolling baseline's names, kept for readers of the plain mean/std.
    @property
    def mean(self) -> float | None:
        return self.expected

    @property
    def std(self) -> float | None:
        return self.scale

    @property
    def calibration(self) -> float:
        """The factor the thresholds were raised by for this value (1.0 when not raised, or not
        looked up: the factor is found only for a value at the configured WARN or beyond)."""
        note = self.note
        return note[1] if note is not None and note[0] == "calibrated" else 1.0

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
        f = self.calibration
        own = "" if f == 1.0 else " (raised for this series' heavy-tailed normal)"
        if note is not None and note[0] == "lasting":
            own = f" for {note[1]:.0f} values in a row, longer than this series' bursts"
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
