"""The requirement list, the tests and the upstream contract stay in step."""

from __future__ import annotations

import pytest

from tests.traceability import (
    UPSTREAM_SPEC,
    ids_under_test,
    known_requirements,
    spec_requirements,
)


def test_statuses_are_known() -> None:
    bad = {i: s for i, s in known_requirements().items() if s not in ("implemented", "planned")}
    assert not bad, f"unknown status in docs/requirements.md: {bad}"


def test_every_implemented_requirement_has_a_test() -> None:
    tested = ids_under_test()
    missing = [i for i, s in known_requirements().items() if s == "implemented" and i not in tested]
    assert not missing, f"implemented but no test carries the ID: {missing}"


def test_tests_name_only_listed_requirements() -> None:
    unknown = set(ids_under_test()) - set(known_requirements())
    assert not unknown, f"tests name requirements not in docs/requirements.md: {sorted(unknown)}"


@pytest.mark.skipif(not UPSTREAM_SPEC.exists(), reason="upstream contract not beside the repo")
def test_requirement_list_matches_the_upstream_contract() -> None:
    ours, theirs = set(known_requirements()), spec_requirements(UPSTREAM_SPEC)
    assert ours == theirs, (
        f"missing here: {sorted(theirs - ours)}; not upstream: {sorted(ours - theirs)}"
    )
