"""FR-010 retry policy as a pure value, and the loop that applies it to one delivery.

Exponential backoff with full jitter: after failed attempt ``n`` the wait is uniform in
``[0, min(cap, initial * factor**(n-1))]``, so many routers retrying one receiver spread out.
A delivery is bounded by ``max_attempts`` attempts and by ``max_elapsed`` seconds from its first
attempt: a wait that would end past ``max_elapsed`` is not started. A server's ``Retry-After``
replaces the jittered wait (it is the server's call, so the cap does not shorten it, but
``max_elapsed`` still bounds it). Final errors (HTTP 4xx other than 429, SMTP 5xx) end the
delivery at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from dq_monitor.channels.base import Channel, Undelivered
from dq_monitor.config import RetryConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert

log = logging.getLogger("dq_monitor.routing.retry")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Defaults are the spec's: 0.5 s × 2ⁿ, full jitter, cap 30 s, 6 attempts, 2 minutes."""

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    max_attempts: int = 6
    max_elapsed: float = 120.0

    def __post_init__(self) -> None:
        if not (self.initial >= 0 and self.factor >= 1 and self.cap >= 0
                and self.max_attempts >= 1 and self.max_elapsed > 0):
            raise ValueError(f"invalid retry policy {self}")

    @classmethod
    def from_config(cls, cfg: RetryConfig) -> RetryPolicy:
        return cls(cfg.initial, cfg.factor, cfg.cap, cfg.max_attempts, cfg.max_elapsed)

    def backoff(self, attempt: int) -> float:
        """Upper bound of the wait after failed attempt number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt numbers start at 1")
        # Capped exponent first: factor**attempt must not overflow for long-failing channels.
        growth = 1.0
        for _ in range(attempt - 1):
            growth *= self.factor
            if self.initial * growth >= self.cap:
                return self.cap
        return min(self.cap, self.initial * growth)

    def next_delay(
        self, attempt: int, elapsed: float, error: DeliveryError, rand: Callable[[], float]
    ) -> float | None:
        """Seconds to wait after failed attempt ``attempt``, or ``None`` to give up.

        ``elapsed`` is the time since the delivery's first attempt began; ``rand`` returns a
        float in ``[0, 1)`` (``random.random``), injected so tests choose the jitter.
        """
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
    """How one delivery ended; ``reason`` (no secrets) says why it did not, for the dead letter."""

    ok: bool
    attempts: int
    elapsed: float
    reason: str | None = None
    #: Recipients the channel could not reach although it delivered to the others.
    undelivered: Undelivered | None = None


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
    """Try until delivered or the policy gives up; never raises for a channel's failure.

    Each attempt is also cut off when ``max_elapsed`` runs out, so a channel whose own timeout
    is longer cannot stretch a delivery past its bound. An exception other than
    ``DeliveryError`` (a bug in an adapter) ends the delivery as undeliverable instead of
    taking the caller's worker down; only its type is reported, since its text may hold secrets.
    """
    start = clock()
    attempt = 0
    while True:
        attempt += 1
        remaining = policy.max_elapsed - (clock() - start)
        try:
            with anyio.move_on_after(max(remaining, 0.001)) as scope:
                partly = await channel.send(alert, repeat=repeat)
            if not scope.cancelled_caught:
                return DeliveryOutcome(True, attempt, clock() - start, undelivered=partly)
            error = DeliveryError(channel.name, "no answer within max_elapsed", retryable=False)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # an adapter bug must not take the worker down
            log.error("channel %r raised %s (an adapter bug); alert %s undeliverable",
                      channel.name, type(exc).__name__, alert.fingerprint)
            error = DeliveryError(channel.name, f"unexpected {type(exc).__name__}",
                                  retryable=False)
        elapsed = clock() - start
        delay = policy.next_delay(attempt, elapsed, error, rand)
        if delay is None:
            reason = error.reason
            if error.retryable:
                reason += f" (gave up after {attempt} attempt(s) in {elapsed:.1f}s)"
            return DeliveryOutcome(False, attempt, elapsed, reason)
        await sleep(delay)
