"""FR-010 retry policy as a pure value, and the loop that applies it to one delivery.

Exponential backoff with full jitter (a random wait between 0 and the backoff), capped, bounded
by ``max_attempts`` and by ``max_elapsed`` for the whole delivery. A server's ``Retry-After``
replaces the jittered wait. Errors that cannot succeed later (4xx other than 429, SMTP 5xx) end
the delivery at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from dq_monitor.channels.base import Channel
from dq_monitor.config import RetryConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    max_attempts: int = 6
    max_elapsed: float = 120.0

    @classmethod
    def from_config(cls, cfg: RetryConfig) -> RetryPolicy:
        return cls(cfg.initial, cfg.factor, cfg.cap, cfg.max_attempts, cfg.max_elapsed)

    def backoff(self, attempt: int) -> float:
        """Upper bound of the wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.cap, self.initial * self.factor ** (attempt - 1))

    def next_delay(
        self, attempt: int, elapsed: float, error: DeliveryError, rand: Callable[[], float]
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up."""
        if not error.retryable or attempt >= self.max_attempts:
            return None
        if error.retry_after is not None:
            delay = max(0.0, error.retry_after)
        else:
            delay = rand() * self.backoff(attempt)
        if elapsed + delay >= self.max_elapsed:
            return None
        return delay


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    ok: bool
    attempts: int
    elapsed: float
    reason: str | None = None


async def deliver_with_retry(
    channel: Channel,
    alert: Alert,
    repeat: bool,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> DeliveryOutcome:
    """Try until delivered or the policy gives up; never raises for a channel's failure."""
    start = clock()
    attempt = 0
    while True:
        attempt += 1
        remaining = policy.max_elapsed - (clock() - start)
        try:
            with anyio.fail_after(max(remaining, 0.001)):
                await channel.send(alert, repeat=repeat)
            return DeliveryOutcome(True, attempt, clock() - start)
        except DeliveryError as exc:
            error = exc
        except TimeoutError:
            error = DeliveryError(channel.name, "no answer before max_elapsed", retryable=False)
        elapsed = clock() - start
        delay = policy.next_delay(attempt, elapsed, error, rand)
        if delay is None:
            why = error.reason if error.retryable is False or attempt < policy.max_attempts else (
                f"{error.reason} (gave up after {attempt} attempts)")
            return DeliveryOutcome(False, attempt, elapsed, why)
        await sleep(delay)
