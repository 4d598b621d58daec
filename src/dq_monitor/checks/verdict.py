"""A verdict is data: what one evaluation of one check on one subject concluded."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

CheckName = Literal[
    "freshness", "completeness", "anomaly", "threshold", "run", "assertion", "schema"]

#: The requirement each check verifies; carried in every alert event.
REQUIREMENT: dict[CheckName, str] = {
    "freshness": "FR-003",
    "completeness": "FR-004",
    "anomaly": "FR-005",
    "threshold": "FR-026",
    "run": "FR-023",
    "assertion": "FR-023",
    "schema": "FR-023",
}


class Severity(StrEnum):
    """Ordered verdict levels. ``PENDING`` means "not enough data to judge" and changes no alert."""

    PENDING = "PENDING"
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def firing(self) -> bool:
        return self is WARN or self is FAIL


#: The members as module names: ``Severity.OK`` is an attribute lookup on an enum class, several
#: times slower than a global, and the checks name severities once or more per event.
PENDING, OK, WARN, FAIL = Severity.PENDING, Severity.OK, Severity.WARN, Severity.FAIL


_RANK = {Severity.PENDING: -1, Severity.OK: 0, Severity.WARN: 1, Severity.FAIL: 2}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One check's conclusion about one (source, subject) at one instant.

    ``observed``/``expected`` are the figures an on-call reader compares; ``detail`` is the
    sentence they read. ``subject`` is a column or series name, or ``None`` for the source itself.
    """

    check: CheckName
    source: str
    subject: str | None
    severity: Severity
    observed: float | None
    expected: float | None
    detail: str

    @property
    def requirement(self) -> str:
        return REQUIREMENT[self.check]
