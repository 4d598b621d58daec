"""Suite-wide rules: every ``req`` marker names a requirement listed in docs/requirements.md."""

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
