"""``Shared``: equal keys get one object, within a bounded table (NFR-005)."""

from __future__ import annotations

import pytest

from dq_monitor.state.shared import Shared


@pytest.mark.req("NFR-005")
def test_equal_keys_share_one_object_and_a_full_table_starts_afresh() -> None:
    made: list[int] = []

    def make(key: int) -> list[int]:
        made.append(key)
        return [key]

    shared: Shared[int, list[int]] = Shared(make, limit=2)
    first = shared(1)
    assert shared(1) is first and made == [1]
    shared(2)
    shared(3)  # the table was full: it starts afresh, and 1 is built again when asked
    assert shared(1) == [1] and shared(1) is not first and made == [1, 2, 3, 1]


@pytest.mark.req("NFR-005")
def test_a_key_whose_value_cannot_be_built_keeps_nothing() -> None:
    shared: Shared[int, float] = Shared(lambda k: 1.0 / k)
    with pytest.raises(ZeroDivisionError):
        shared(0)
    assert shared(4) == 0.25
