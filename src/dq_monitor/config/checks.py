"""The checks' options: freshness (FR-003), completeness (FR-004), anomaly (FR-005, FR-014,
FR-017), static thresholds (FR-026), the damping every check shares (FR-015), and the
cross-checks relating their fields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, model_validator

from dq_monitor.checkpoint_size import series_record_bound
from dq_monitor.config.base import _Model
from dq_monitor.config.durations import Duration, PositiveDuration
from dq_monitor.config.kafka import DEFAULT_MAX_REQUEST_SIZE
from dq_monitor.config.raw import _dict, _int_or, _list, _num


class Damping(_Model):
    """FR-015 options shared by every check (applied by the alert state machine)."""

    for_: Duration = Field(default="0s", alias="for")  # type: ignore[assignment]
    resolve_after: Duration = "0s"  # type: ignore[assignment]
    max_flaps: int | None = Field(default=None, ge=1)
    flap_window: PositiveDuration = "10m"  # type: ignore[assignment]


class FreshnessConfig(Damping):
    max_staleness: PositiveDuration
    warn_ratio: float = Field(default=0.8, gt=0, lt=1)


class ColumnRule(_Model):
    max_null_rate: float = Field(ge=0, le=1)
    warn_null_rate: float | None = Field(default=None, ge=0, le=1)


class CompletenessConfig(Damping):
    min_row_count: int | None = Field(default=None, ge=0)
    warn_ratio: float = Field(default=0.8, gt=0, le=1)
    columns: dict[str, ColumnRule] = Field(default_factory=dict)

    def warn_rate(self, column: str) -> float:
        rule = self.columns[column]
        if rule.warn_null_rate is not None:
            return rule.warn_null_rate
        return self.warn_ratio * rule.max_null_rate


#: FR-017: (z_warn, z_fail) for each ``sensitivity``, used where the thresholds are not given.
SENSITIVITY: dict[str, tuple[float, float]] = {
    "low": (5.5, 7.5),
    "medium": (4.5, 6.0),
    "high": (3.5, 5.0),
}


def _sensitivity_thresholds(data: Any) -> Any:
    """Fill ``z_warn``/``z_fail`` from ``sensitivity`` when the file leaves them out."""
    if isinstance(data, dict):
        warn, fail = SENSITIVITY.get(str(data.get("sensitivity", "medium")), SENSITIVITY["medium"])
        data = {"z_warn": warn, "z_fail": fail, **data}
    return data


@dataclass(frozen=True, slots=True)
class Judging:
    """The anomaly options the robust update reads for every value, as plain fields (NFR-003:
    a pydantic model's attribute costs some 55 ns to read, a slot's some 12)."""

    #: The level's and scale's learning rate per value, ``2 / (window + 1)``.
    alpha: float
    z_warn: float
    z_fail: float
    direction: str
    min_samples: int
    rebaseline_after: int
    cooldown: int
    min_abs_change: float
    min_rel_change: float


class AnomalyConfig(Damping):
    """FR-005 / FR-014 / FR-017 options of one source's anomaly check."""

    metrics: list[str] = Field(min_length=1)
    #: ``robust`` (FR-017: outlier-proof, seasonal, trend-following) or ``rolling`` (the plain
    #: mean and standard deviation of the last ``window`` values).
    baseline: Literal["robust", "rolling"] = "robust"
    #: Rolling: values in the window. Robust: the span of the exponentially weighted level and
    #: scale (they forget at rate 2 / (window + 1) per value).
    window: int = Field(default=100, ge=2, le=100_000)
    min_samples: int = Field(default=20, ge=2)
    sensitivity: Literal["low", "medium", "high"] = "medium"
    #: Defaults shown are ``medium``'s; without them in the file, ``sensitivity`` decides.
    z_warn: float = Field(default=SENSITIVITY["medium"][0], gt=0)
    z_fail: float = Field(default=SENSITIVITY["medium"][1], gt=0)
    direction: Literal["both", "up", "down"] = "both"
    seasonality: Literal["auto", "none", "hour_of_day", "day_of_week", "hour_of_week"] = "auto"
    #: At most 65,536: the flagged values kept meanwhile are checkpointed with a 16-bit count.
    rebaseline_after: int = Field(default=10, ge=1, le=65_536)
    #: One incident, one episode: a firing anomaly resolves only after this many consecutive
    #: normal values; a value flagged within them continues the same episode.
    cooldown: int = Field(default=10, ge=0)
    min_abs_change: float = Field(default=0.0, ge=0)
    min_rel_change: float = Field(default=0.0, ge=0)
    #: NFR-005/NFR-008: a series that received no value for this long (by the monitor's clock)
    #: is evicted, state and checkpoint, so ``max_series`` counts live series only.
    series_ttl: PositiveDuration = "168h"  # type: ignore[assignment]

    _fill_thresholds = model_validator(mode="before")(_sensitivity_thresholds)

    @cached_property
    def judging(self) -> Judging:
        """The options the robust update reads per value, made once; the learning rate is held
        here rather than by every series (NFR-005)."""
        return Judging(2.0 / (self.window + 1.0), self.z_warn, self.z_fail, self.direction,
                       self.min_samples, self.rebaseline_after, self.cooldown,
                       self.min_abs_change, self.min_rel_change)


#: FR-026: the bounds of a ``thresholds`` entry, in the order a breach is judged.
THRESHOLD_BOUNDS = ("fail_above", "fail_below", "warn_above", "warn_below")


class ThresholdRule(Damping):
    """FR-026: static bounds on one metric's value (any subset, at least one); ``above`` is
    breached by a value strictly greater than the bound, ``below`` by one strictly smaller."""

    warn_above: float | None = Field(default=None, allow_inf_nan=False)
    fail_above: float | None = Field(default=None, allow_inf_nan=False)
    warn_below: float | None = Field(default=None, allow_inf_nan=False)
    fail_below: float | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _some_bound(self) -> ThresholdRule:
        if all(getattr(self, b) is None for b in THRESHOLD_BOUNDS):
            raise ValueError("give at least one of warn_above, fail_above, warn_below, "
                             "fail_below")
        return self


# --------------------------------------------------------------------------- cross-checks


def _state_size_check(an: dict[str, Any], src: dict[str, Any], kafka: dict[str, Any],
                      base: str) -> Iterator[str]:
    """NFR-008: no series of this source may checkpoint a record the producer refuses."""
    limit = _int_or(kafka.get("max_request_size"), DEFAULT_MAX_REQUEST_SIZE)
    event_max = _int_or(kafka.get("max_event_bytes"), 1024 * 1024)
    window = _int_or(an.get("window"), 100)
    min_samples = _int_or(an.get("min_samples"), 20)
    rebaseline = _int_or(an.get("rebaseline_after"), 10)
    baseline = an.get("baseline", "robust")
    source = src.get("name")
    if source is None and isinstance(src.get("match"), str):
        # FR-024: a discovered source's name is any the input accepts (512 characters, each
        # up to 4 bytes in UTF-8)
        source = "x" * (4 * 512)
    metrics = [m for m in _list(an.get("metrics")) if isinstance(m, str)]
    if (limit is None or event_max is None or window is None or min_samples is None
            or rebaseline is None or not isinstance(source, str) or not metrics):
        return
    # the bound grows with the metric's name alone: the longest name gives the largest
    longest = max(metrics, key=lambda m: len(m.encode()))
    bound = series_record_bound(source=source, metric=longest, baseline=str(baseline),
                                window=window, min_samples=min_samples,
                                rebaseline_after=rebaseline, max_event_bytes=event_max)
    if bound.total > limit:
        value = an.get(bound.largest, {"window": window, "min_samples": min_samples,
                                       "rebaseline_after": rebaseline}[bound.largest])
        yield (f"{base}.{bound.largest}: a series' checkpoint could reach {bound.total:,} "
               f"bytes with {bound.largest} {value}, over kafka.max_request_size "
               f"({limit:,} bytes), and could never be written; lower it, or raise "
               "kafka.max_request_size together with the brokers' message.max.bytes")


def anomaly_checks(an: dict[str, Any], src: dict[str, Any], kafka: dict[str, Any],
                   base: str) -> Iterator[str]:
    """One source's raw ``anomaly`` section (``base`` is its path): thresholds in order,
    ``min_samples`` within the window, metrics named once, checkpoints the producer accepts."""
    zw_default, zf_default = SENSITIVITY.get(str(an.get("sensitivity", "medium")),
                                             SENSITIVITY["medium"])
    zw, zf = _num(an.get("z_warn", zw_default)), _num(an.get("z_fail", zf_default))
    if zw is not None and zf is not None and not zw < zf:
        yield f"{base}.z_warn: must be below z_fail ({zw:g} >= {zf:g})"
    win, ms = _num(an.get("window", 100)), _num(an.get("min_samples", 20))
    if an and win is not None and ms is not None and win >= 2 and ms > win:
        yield f"{base}.min_samples: must not exceed window ({ms:g} > {win:g})"
    metrics = _list(an.get("metrics"))
    for j, m in enumerate(metrics):
        if m in metrics[:j]:
            yield f"{base}.metrics[{j}]: duplicate metric {m!r}"
    if an:
        yield from _state_size_check(an, src, kafka, base)


def completeness_checks(comp: dict[str, Any], base: str) -> Iterator[str]:
    """One source's raw ``completeness`` section: each column warns below its failure rate."""
    for col, rule in _dict(comp.get("columns")).items():
        rule = _dict(rule)
        warn, fail = _num(rule.get("warn_null_rate")), _num(rule.get("max_null_rate"))
        if warn is not None and fail is not None and not warn < fail:
            yield (
                f"{base}.columns.{col}.warn_null_rate: must be below "
                f"max_null_rate ({warn:g} >= {fail:g})"
            )


def damping_checks(damp: dict[str, Any], base: str) -> Iterator[str]:
    """One check's raw damping options: a ``flap_window`` does nothing without ``max_flaps``."""
    if "flap_window" in damp and damp.get("max_flaps") is None:
        yield f"{base}.flap_window: set max_flaps to enable flap damping"


def threshold_checks(thresholds: dict[str, Any], base: str) -> Iterator[str]:
    """One source's raw ``thresholds``: a warning bound is crossed before its failure bound,
    and each metric's damping options are consistent."""
    for metric, rule in thresholds.items():
        rule = _dict(rule)
        at = f"{base}.{metric}"
        wa, fa = _num(rule.get("warn_above")), _num(rule.get("fail_above"))
        if wa is not None and fa is not None and not wa < fa:
            yield f"{at}.warn_above: must be below fail_above ({wa:g} >= {fa:g})"
        wb, fb = _num(rule.get("warn_below")), _num(rule.get("fail_below"))
        if wb is not None and fb is not None and not wb > fb:
            yield f"{at}.warn_below: must be above fail_below ({wb:g} <= {fb:g})"
        yield from damping_checks(rule, at)
