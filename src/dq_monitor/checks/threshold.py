"""FR-026 static thresholds: a value above or below fixed bounds, judged on its own.

O(1) per value and nothing built for a healthy one: ``breach`` compares the value with at most
four bounds and answers with a module-level constant; a ``Verdict`` is made only when the
answer could change an alert (the dispatcher asks ``verdict`` for a breach, or for a healthy
value of a subject that has alert state). Damping (``for``, ``resolve_after``, flap limits) and
one episode per breach come from the alert machine, as for every check.
"""

from __future__ import annotations

from dq_monitor.checks.verdict import FAIL, OK, WARN, Severity, Verdict
from dq_monitor.config import ThresholdRule


def breach(rule: ThresholdRule, value: float) -> tuple[Severity, str | None]:
    """The severity of ``value`` under ``rule`` and the bound it crossed (None when healthy);
    a failure bound is judged before a warning bound."""
    fa, fb = rule.fail_above, rule.fail_below
    if fa is not None and value > fa:
        return FAIL, "fail_above"
    if fb is not None and value < fb:
        return FAIL, "fail_below"
    wa, wb = rule.warn_above, rule.warn_below
    if wa is not None and value > wa:
        return WARN, "warn_above"
    if wb is not None and value < wb:
        return WARN, "warn_below"
    return OK, None


def verdict(rule: ThresholdRule, source: str, subject: str, value: float,
            severity: Severity, bound: str | None) -> Verdict:
    """The verdict for ``breach``'s answer: the crossed bound is the expected figure."""
    if bound is None:
        return Verdict("threshold", source, subject, OK, value, None,
                       f"{subject} = {value:.6g}, within its thresholds")
    limit: float | None = getattr(rule, bound)
    assert limit is not None
    side = "above" if bound.endswith("above") else "below"
    return Verdict("threshold", source, subject, severity, value, limit,
                   f"{subject} = {value:.6g}, {side} {bound} {limit:.6g}")

