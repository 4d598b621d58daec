"""FR-010 retry policy, pure: backoff, jitter, bounds, Retry-After, final errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert
from dq_monitor.routing.retry import RetryPolicy, deliver_with_retry
from tests.channels.conftest import make_alert

POLICY = RetryPolicy()  # the spec's defaults: 0.5 s, x2, cap 30 s, 6 attempts, 2 min
RETRYABLE = DeliveryError("c", "HTTP 503", retryable=True)


@pytest.mark.req("FR-010")
def test_spec_defaults() -> None:
    assert [POLICY.backoff(a) for a in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert (POLICY.max_attempts, POLICY.max_elapsed) == (6, 120)


@pytest.mark.req("FR-010")
@given(st.integers(min_value=1, max_value=20), st.floats(min_value=0, max_value=200),
       st.floats(min_value=0, max_value=1))
def test_full_jitter_within_bounds(attempt: int, elapsed: float, r: float) -> None:
    delay = POLICY.next_delay(attempt, elapsed, RETRYABLE, lambda: r)
    if attempt >= POLICY.max_attempts:
        assert delay is None
    elif delay is not None:
        assert 0 <= delay <= POLICY.backoff(attempt) <= 30
        assert elapsed + delay < POLICY.max_elapsed


@pytest.mark.req("FR-010")
def test_retry_after_and_final_errors() -> None:
    ra = DeliveryError("c", "HTTP 429", retryable=True, retry_after=7)
    assert POLICY.next_delay(1, 0, ra, lambda: 0.0) == 7
    assert POLICY.next_delay(1, 115, ra, lambda: 0.0) is None  # would pass max_elapsed
    final = DeliveryError("c", "HTTP 400", retryable=False)
    assert POLICY.next_delay(1, 0, final, lambda: 0.5) is None


class Flaky:
    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RETRYABLE

    async def aclose(self) -> None:
        return None


@pytest.mark.req("FR-010")
async def test_gives_up_after_max_attempts_with_waits_that_grow() -> None:
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    ch = Flaky(failures=100)
    out = await deliver_with_retry(ch, make_alert(), False, POLICY, sleep=sleep, rand=lambda: 1.0)
    assert not out.ok and out.attempts == 6 and ch.calls == 6
    assert waits == [0.5, 1, 2, 4, 8]
    assert out.reason is not None and "gave up after 6 attempts" in out.reason
