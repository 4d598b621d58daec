"""FR-010 retry policy, pure (hypothesis), and the delivery loop on a simulated clock."""

from __future__ import annotations

import math

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dq_monitor.config import RetryConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert
from dq_monitor.routing.retry import DeliveryOutcome, RetryPolicy, Throttle, deliver_with_retry
from dq_monitor.testing import make_alert

SPEC = RetryPolicy()  # the spec's defaults: 0.5 s, x2, cap 30 s, 6 attempts, 2 min
RETRYABLE = DeliveryError("c", "HTTP 503", retryable=True)
FINAL = DeliveryError("c", "HTTP 400", retryable=False)

policies = st.builds(
    RetryPolicy,
    initial=st.floats(0, 5), factor=st.floats(1, 4), cap=st.floats(0, 60),
    max_attempts=st.integers(1, 12), max_elapsed=st.floats(0.01, 600),
)
unit = st.floats(0, 1, exclude_max=True)
attempts = st.integers(1, 60)
elapsed_s = st.floats(0, 700)


@pytest.mark.req("FR-010")
def test_spec_defaults_from_an_empty_config() -> None:
    assert RetryPolicy.from_config(RetryConfig()) == SPEC
    assert [SPEC.backoff(a) for a in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert (SPEC.max_attempts, SPEC.max_elapsed) == (6, 120)


@pytest.mark.req("FR-010")
@given(policies, attempts, elapsed_s, unit)
def test_full_jitter_stays_within_the_capped_backoff(
    policy: RetryPolicy, attempt: int, elapsed: float, r: float
) -> None:
    delay = policy.next_delay(attempt, elapsed, RETRYABLE, lambda: r)
    if delay is not None:
        assert delay == pytest.approx(r * policy.backoff(attempt))
        assert 0 <= delay <= policy.backoff(attempt) <= policy.cap
        assert elapsed + delay < policy.max_elapsed
        assert attempt < policy.max_attempts


@pytest.mark.req("FR-010")
@given(policies, attempts)
def test_backoff_grows_exponentially_until_the_cap(policy: RetryPolicy, attempt: int) -> None:
    b = policy.backoff(attempt)
    assert b <= policy.backoff(attempt + 1)
    uncapped = policy.initial * policy.factor ** (attempt - 1)
    assert b == pytest.approx(min(policy.cap, uncapped)) or math.isinf(uncapped)


@pytest.mark.req("FR-010")
@given(policies, attempts, elapsed_s, unit)
def test_gives_up_exactly_when_a_bound_is_reached(
    policy: RetryPolicy, attempt: int, elapsed: float, r: float
) -> None:
    delay = policy.next_delay(attempt, elapsed, RETRYABLE, lambda: r)
    jittered = r * policy.backoff(attempt)
    out_of_budget = attempt >= policy.max_attempts or elapsed + jittered >= policy.max_elapsed
    assert (delay is None) is out_of_budget


@pytest.mark.req("FR-010")
@given(policies, attempts, elapsed_s, unit)
def test_final_errors_are_never_retried(
    policy: RetryPolicy, attempt: int, elapsed: float, r: float
) -> None:
    assert policy.next_delay(attempt, elapsed, FINAL, lambda: r) is None


@pytest.mark.req("FR-010")
@given(policies, attempts, elapsed_s, st.floats(0, 300), unit)
def test_retry_after_replaces_the_jitter_within_max_elapsed(
    policy: RetryPolicy, attempt: int, elapsed: float, wait: float, r: float
) -> None:
    error = DeliveryError("c", "HTTP 429", retryable=True, retry_after=wait)
    delay = policy.next_delay(attempt, elapsed, error, lambda: r)
    if attempt >= policy.max_attempts or elapsed + wait >= policy.max_elapsed:
        assert delay is None
    else:
        assert delay == wait  # not shortened by the cap or the jitter


class Flaky:
    """Fails ``failures`` times (or always), each attempt costing ``cost`` simulated seconds."""

    name = "flaky"

    def __init__(self, clock: list[float], failures: int, error: DeliveryError = RETRYABLE,
                 cost: float = 0.0) -> None:
        self.clock, self.failures, self.error, self.cost = clock, failures, error, cost
        self.calls = 0

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        self.calls += 1
        self.clock[0] += self.cost
        if self.calls <= self.failures:
            raise self.error

    async def aclose(self) -> None:
        return None


def simulate(policy: RetryPolicy, channel: Flaky, clock: list[float], r: float,
             waits: list[float], wait_ends: list[float] | None = None,
             throttle: Throttle | None = None) -> DeliveryOutcome:
    start = clock[0]

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if wait_ends is not None:
            wait_ends.append((clock[0] - start) + seconds)  # when it ends, in delivery time
        clock[0] += seconds

    async def run() -> DeliveryOutcome:
        return await deliver_with_retry(channel, make_alert(), False, policy, sleep=sleep,
                                        clock=lambda: clock[0], rand=lambda: r,
                                        throttle=throttle)

    return anyio.run(run)


@pytest.mark.req("FR-010")
@given(policies, st.integers(0, 20), st.floats(0, 5), unit)
def test_a_delivery_is_bounded_in_attempts_and_time(
    policy: RetryPolicy, failures: int, cost: float, r: float
) -> None:
    clock, waits, ends = [1000.0], list[float](), list[float]()
    channel = Flaky(clock, failures, cost=cost)
    out = simulate(policy, channel, clock, r, waits, ends)
    assert out.attempts == channel.calls <= policy.max_attempts
    assert len(waits) == out.attempts - 1
    assert all(end < policy.max_elapsed for end in ends)  # no wait ends past max_elapsed
    if out.ok:
        assert channel.calls == failures + 1
    else:
        assert channel.calls <= failures
        assert out.reason is not None and out.reason.startswith("HTTP 503")


@pytest.mark.req("FR-010")
def test_spec_policy_waits_grow_then_gives_up_with_a_reason() -> None:
    clock, waits = [0.0], list[float]()
    out = simulate(SPEC, Flaky(clock, failures=100), clock, 1.0 - 1e-9, waits)
    assert not out.ok and out.attempts == 6
    assert waits == pytest.approx([0.5, 1, 2, 4, 8])
    assert out.reason == "HTTP 503 (gave up after 6 attempt(s) in 15.5s)"


@pytest.mark.req("FR-010")
def test_a_final_error_is_tried_once() -> None:
    clock, waits = [0.0], list[float]()
    channel = Flaky(clock, failures=100, error=FINAL)
    out = simulate(SPEC, channel, clock, 0.5, waits)
    assert (out.ok, out.attempts, out.reason, waits) == (False, 1, "HTTP 400", [])


class Hangs:
    name = "hangs"

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        await anyio.sleep_forever()

    async def aclose(self) -> None:
        return None


class Broken:
    name = "broken"

    async def send(self, alert: Alert, *, repeat: bool) -> None:
        raise RuntimeError("https://hooks.example/secret-path")

    async def aclose(self) -> None:
        return None


@pytest.mark.req("FR-010")
async def test_an_attempt_never_outlives_max_elapsed() -> None:
    out = await deliver_with_retry(Hangs(), make_alert(), False,
                                   RetryPolicy(max_elapsed=0.2))
    assert not out.ok and out.attempts == 1
    assert out.reason == "no answer within max_elapsed"


@pytest.mark.req("FR-010")
async def test_an_adapter_bug_becomes_an_undeliverable_outcome() -> None:
    out = await deliver_with_retry(Broken(), make_alert(), False, SPEC)
    assert (out.ok, out.attempts, out.reason) == (False, 1, "unexpected RuntimeError")


RATE_LIMITED = DeliveryError("c", "HTTP 429", retryable=True, retry_after=2.0, rate_limited=True)


@pytest.mark.req("FR-010", "NFR-002")
def test_a_rate_limit_is_waited_out_without_using_up_attempts() -> None:
    clock, waits = [0.0], list[float]()
    policy = RetryPolicy(max_attempts=3, max_elapsed=120)
    throttle = Throttle()
    out = simulate(policy, Flaky(clock, failures=10, error=RATE_LIMITED), clock, 0.5, waits,
                   throttle=throttle)
    assert (out.ok, out.attempts, out.rate_limited) == (True, 11, 10)
    assert waits == [2.0] * 10 and throttle.until == 20.0  # Retry-After, every time


@pytest.mark.req("FR-010")
def test_a_rate_limit_without_retry_after_backs_off_and_max_elapsed_still_bounds_it() -> None:
    clock, waits = [0.0], list[float]()
    no_wait = DeliveryError("c", "HTTP 429", retryable=True, rate_limited=True)
    out = simulate(RetryPolicy(max_attempts=2, max_elapsed=60), Flaky(
        clock, failures=100, error=no_wait), clock, 1.0 - 1e-9, waits, throttle=Throttle())
    assert waits == pytest.approx([0.5, 1, 2, 4, 8, 16])  # then 30 would pass 60 s
    assert not out.ok and out.attempts == 7 and out.rate_limited == 7
    assert out.reason == "HTTP 429 (gave up after 7 attempt(s) in 31.5s)"


@pytest.mark.req("FR-010", "NFR-002")
def test_a_channel_rate_limited_holds_back_its_other_deliveries_first_attempts() -> None:
    clock, waits = [100.0], list[float]()
    throttle = Throttle(until=104.0)  # another delivery of the channel was told to wait
    channel = Flaky(clock, failures=0)
    out = simulate(RetryPolicy(), channel, clock, 0.5, waits, throttle=throttle)
    assert waits == [4.0] and channel.calls == 1
    assert out.ok and out.elapsed == 0.0  # its own clock starts at its first attempt
    assert Throttle(until=5).wait(7) == 0.0 and Throttle(until=5).wait(4.5) == 0.5


@pytest.mark.req("FR-010")
def test_other_failures_still_count_towards_max_attempts_between_rate_limits() -> None:
    clock, waits = [0.0], list[float]()

    class Mixed(Flaky):
        async def send(self, alert: Alert, *, repeat: bool) -> None:
            self.calls += 1
            raise RATE_LIMITED if self.calls % 2 else RETRYABLE

    channel = Mixed(clock, failures=0)
    out = simulate(RetryPolicy(max_attempts=3), channel, clock, 0.0, waits, throttle=Throttle())
    # 429, 503, 429, 503, 429, 503: the third 503 is the third counted failure
    assert not out.ok and (out.attempts, out.rate_limited) == (6, 3)
    assert out.reason is not None and out.reason.startswith("HTTP 503 (gave up after 6")
