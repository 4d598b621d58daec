"""FR-023 ``assertion``: each entry of a ``dataQualityAssertions`` facet (a dbt test, a Great
Expectations expectation) is a verdict on its subject: a failed one at its severity (``warn``
→ WARN, ``error`` or none → FAIL), a passed one OK, which resolves the alert."""

from __future__ import annotations

from dq_monitor.checks.verdict import FAIL, OK, WARN, Verdict
from dq_monitor.formats.observation import AssertionResult


def evaluate_assertion(source: str, job: str, result: AssertionResult) -> Verdict:
    if result.success:
        return Verdict("assertion", source, result.subject, OK, result.actual, result.expected,
                       f"assertion {result.subject} on {source} passed (job {job})")
    figures = ""
    if result.actual is not None or result.expected is not None:
        figures = f": actual {_fig(result.actual)}, expected {_fig(result.expected)}"
    return Verdict("assertion", source, result.subject,
                   WARN if result.severity == "WARN" else FAIL, result.actual, result.expected,
                   f"assertion {result.subject} on {source} failed (job {job}){figures}")


def _fig(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
