"""Suite-wide rules: every ``req`` marker names a requirement listed in docs/requirements.md;
the long end-to-end runs start first."""

from __future__ import annotations

import pytest
from hypothesis import settings

from tests.traceability import known_requirements

#: ``pytest --hypothesis-profile=fuzz-long`` for long property and fuzz runs (NFR-006).
settings.register_profile("fuzz-long", max_examples=5000, deadline=None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    known = set(known_requirements())
    for item in items:
        for marker in item.iter_markers("req"):
            if not marker.args:
                raise pytest.UsageError(f"{item.nodeid}: req marker without an ID")
            unknown = [a for a in marker.args if a not in known]
            if unknown:
                raise pytest.UsageError(
                    f"{item.nodeid}: req marker names unknown requirement(s) {unknown}"
                )
    # Longest first, so that on parallel workers no long run starts last and holds up the
    # end of the suite (the order within each kind stays the collection order).
    items.sort(key=_duration_rank)


def _duration_rank(item: pytest.Item) -> int:
    """0 for the fault runs and the benchmark smoke runs, 1 for other broker tests, 2 else."""
    if item.get_closest_marker("faults") is not None or item.path.name == "test_benchmarks.py":
        return 0
    return 1 if item.get_closest_marker("integration") is not None else 2
