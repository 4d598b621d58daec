"""What the configuration judges, per check and subject: the damping options the alert machine
of a subject uses, whether a subject is still configured (FR-025), and the sentence of an alert
resolved because it is not."""

from __future__ import annotations

from dq_monitor.checks.completeness import ROW_COUNT_SUBJECT
from dq_monitor.config import Damping, SourceConfig

#: The source entry's field holding each check's options, where it is not the check's name.
_OPTIONS = {"assertion": "assertions", "schema": "schema_"}


def damping_of(cfg: SourceConfig, check: str, subject: str | None) -> Damping | None:
    """The damping options of ``check`` on ``subject`` of source ``cfg``; None when the check
    is not configured (a threshold's are its metric's rule: the subject before any tags)."""
    if check == "threshold":
        if subject is None:
            return None
        rule = cfg.thresholds.get(subject)
        return rule if rule is not None else cfg.thresholds.get(subject.split("{", 1)[0])
    damping: Damping | None = getattr(cfg, _OPTIONS.get(check, check), None)
    if damping is None or not getattr(damping, "enabled", True):
        return None  # not configured, or (FR-023: run, assertions, schema) turned off
    return damping


def still_configured(cfg: SourceConfig, check: str, subject: str | None) -> bool:
    """Whether ``cfg`` still judges ``subject`` with ``check``."""
    if check == "anomaly":
        return cfg.anomaly is not None and metric_of(subject) in cfg.anomaly.metrics
    if check == "completeness":
        comp = cfg.completeness
        return comp is not None and (subject in comp.columns or (
            subject == ROW_COUNT_SUBJECT and comp.min_row_count is not None))
    return damping_of(cfg, check, subject) is not None


def metric_of(subject: str | None) -> str:
    """The metric of a series subject (``latency_ms{region=eu}`` → ``latency_ms``)."""
    return "" if subject is None else subject.split("{", 1)[0]


def no_longer_monitored(check: str, source: str, subject: str | None) -> str:
    """FR-025: the detail of the resolved event of a source or check no longer configured."""
    what = f"{check} of {source}" + (f" {subject}" if subject else "")
    return f"{what} is no longer monitored (not in the configuration)"
