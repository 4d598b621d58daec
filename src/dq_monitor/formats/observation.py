"""What pipeline metadata says about one dataset in one run (FR-022, FR-023): the input of the
``run``, ``assertion`` and ``schema`` checks, and of freshness and completeness on COMPLETE."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

#: (column name, type) in the order the producer listed them.
Schema = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class AssertionResult:
    """One entry of a ``dataQualityAssertions`` facet (a dbt test, a GE expectation)."""

    #: The alert subject: the assertion's ``name``, else ``assertion`` and ``column``.
    subject: str
    success: bool
    #: ``FAIL`` for an ``error`` severity or none given, ``WARN`` for ``warn``.
    severity: Literal["WARN", "FAIL"]
    actual: float | None = None
    expected: float | None = None


@dataclass(frozen=True, slots=True)
class DatasetObservation:
    """One dataset named by one RunEvent, under the source name it maps to."""

    source: str
    #: The dataset's namespace: the alert label ``namespace``.
    namespace: str
    role: Literal["input", "output"]
    #: START, RUNNING, COMPLETE, FAIL, ABORT or OTHER.
    event_type: str
    event_time: datetime
    #: ``job.namespace/job.name``: the subject of the ``run`` check.
    job: str
    run_id: str
    #: The run check applies to it: an output, or an input of a run that names no outputs.
    run_subject: bool
    row_count: int | None = None
    null_counts: dict[str, int] | None = None
    schema: Schema | None = None
    assertions: tuple[AssertionResult, ...] = ()
    #: The run's inputs → outputs edges: on every output observation, its inputs' sources.
    upstream: tuple[str, ...] = ()
