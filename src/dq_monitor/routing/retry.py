"""FR-010 retry policy as a pure value, and the loop that applies it to one delivery.

Exponential backoff with full jitter: after failed attempt ``n`` the wait is uniform in
``[0, min(cap, initial * factor**(n-1))]``, so many routers retrying one receiver spread out.
A delivery is bounded by ``max_attempts`` attempts and by ``max_elapsed`` seconds from its first
attempt: a wait that would end past ``max_elapsed`` is not started. A server's ``Retry-After``
replaces the jittered wait (it is the server's call, so the cap does not shorten it, but
``max_elapsed`` still bounds it). Final errors (HTTP 4xx other than 429, SMTP 5xx) end the
delivery at once.

A rate limit (HTTP 429, an SMTP policy deferral: ``DeliveryError.rate_limited``) is the
receiver's flow control, not a failure: it does not use up one of ``max_attempts`` (without a
``Retry-After`` its backoff grows with the delivery's rate-limited answers), and the channel's
``Throttle`` makes every delivery of the channel wait it out before its next attempt, so a
storm slows down to what the receiver takes (the channel falls behind, loudly) instead of
burning its attempts into dead letters. ``max_elapsed`` still bounds each delivery from its
first attempt. A mail accepted for some recipients and deferred for others is sent again to
the deferred ones alone (``Readdressable``), never again to the others.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from dq_monitor.channels.base import Channel, Readdressable, Undelivered
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
        float in ``[0, 1)`` (``random.random``), injected so tests choose the jitter. For a
        rate-limited answer ``attempt`` counts the rate-limited answers in a row, and
        ``max_attempts`` does not apply.
        """
        if not error.retryable or (attempt >= self.max_attempts and not error.rate_limited):
            return None
        if error.retry_after is not None:
            delay = max(0.0, error.retry_after)
        else:
            delay = rand() * self.backoff(attempt)
        if elapsed + delay >= self.max_elapsed:
            return None
        return delay


@dataclass(slots=True)
class Throttle:
    """One channel's rate-limit pause: no delivery of the channel begins an attempt before
    ``until`` (on the delivery loop's clock) once its receiver asked to slow down."""

    until: float = 0.0

    def hold(self, until: float) -> None:
        self.until = max(self.until, until)

    def wait(self, now: float) -> float:
        """Seconds an attempt starting at ``now`` must wait first (0: none)."""
        return max(0.0, self.until - now)


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """How one delivery ended; ``reason`` (no secrets) says why it did not, for the dead letter."""

    ok: bool
    attempts: int
    elapsed: float
    reason: str | None = None
    #: Recipients the channel could not reach although it delivered to the others.
    undelivered: Undelivered | None = None
    #: Attempts the receiver answered with a rate limit (not counted in ``max_attempts``).
    rate_limited: int = 0


async def deliver_with_retry(
    channel: Channel,
    alert: Alert,
    repeat: bool,
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
    throttle: Throttle | None = None,
) -> DeliveryOutcome:
    """Try until delivered or the policy gives up; never raises for a channel's failure.

    Each attempt is also cut off when ``max_elapsed`` runs out, so a channel whose own timeout
    is longer cannot stretch a delivery past its bound. An exception other than
    ``DeliveryError`` (a bug in an adapter) ends the delivery as undeliverable instead of
    taking the caller's worker down; only its type is reported, since its text may hold secrets.
    ``throttle`` (the channel's, shared by its deliveries) holds every attempt back while the
    receiver's rate limit lasts; a delivery's clock starts at its first attempt. Recipients a
    ``Readdressable`` channel reports refused for now (``Undelivered.later``) are tried again
    alone, with the same policy; the rest have the alert already.
    """
    start: float | None = None
    attempt = failed = limited = 0
    error: DeliveryError | None = None
    #: Once delivered to some: the recipients still to try, and those refused for good.
    to: tuple[str, ...] | None = None
    kept: Undelivered | None = None
    while True:
        while throttle is not None and (wait := throttle.wait(clock())) > 0:
            if start is not None and error is not None and (
                    clock() - start + wait >= policy.max_elapsed):
                return _gave_up(error, attempt, clock() - start, limited, to, kept)
            await sleep(wait)
        if start is None:
            start = clock()
        attempt += 1
        remaining = policy.max_elapsed - (clock() - start)
        try:
            with anyio.move_on_after(max(remaining, 0.001)) as scope:
                if to is not None and isinstance(channel, Readdressable):
                    partly = await channel.send_to(alert, repeat=repeat, recipients=to)
                else:
                    partly = await channel.send(alert, repeat=repeat)
            if not scope.cancelled_caught:
                later = () if partly is None else partly.later
                kept = _join(kept, None if partly is None or not partly.recipients
                             else Undelivered(partly.recipients, partly.reason))
                if not later or not isinstance(channel, Readdressable):
                    left = _join(kept, Undelivered(later, partly.later_reason)
                                 if partly is not None and later else None)
                    return DeliveryOutcome(True, attempt, clock() - start, undelivered=left,
                                           rate_limited=limited)
                assert partly is not None
                to = later
                raise DeliveryError(channel.name, partly.later_reason, retryable=True,
                                    rate_limited=partly.later_rate_limited)
            error = DeliveryError(channel.name, "no answer within max_elapsed", retryable=False)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # an adapter bug must not take the worker down
            log.error("channel %r raised %s (an adapter bug); alert %s undeliverable",
                      channel.name, type(exc).__name__, alert.fingerprint)
            error = DeliveryError(channel.name, f"unexpected {type(exc).__name__}",
                                  retryable=False)
        elapsed = clock() - start
        if error.rate_limited:
            limited += 1
            delay = policy.next_delay(limited, elapsed, error, rand)
        else:
            failed += 1
            delay = policy.next_delay(failed, elapsed, error, rand)
        if delay is None:
            return _gave_up(error, attempt, elapsed, limited, to, kept)
        if error.rate_limited and throttle is not None:
            throttle.hold(clock() + delay)  # the channel's other deliveries wait it out too
            continue
        await sleep(delay)


def _gave_up(error: DeliveryError, attempts: int, elapsed: float, limited: int,
             to: tuple[str, ...] | None, kept: Undelivered | None) -> DeliveryOutcome:
    """The outcome once the policy gave up: undelivered, or (``to``: the recipients still
    refused after it reached the others) delivered in part."""
    reason = error.reason
    if error.retryable:
        reason += f" (gave up after {attempts} attempt(s) in {elapsed:.1f}s)"
    if to is not None:
        return DeliveryOutcome(True, attempts, elapsed, undelivered=_join(
            kept, Undelivered(to, reason)), rate_limited=limited)
    return DeliveryOutcome(False, attempts, elapsed, reason, rate_limited=limited)


def _join(a: Undelivered | None, b: Undelivered | None) -> Undelivered | None:
    """Recipients refused by separate attempts, reported as one."""
    if a is None or b is None:
        return a or b
    return Undelivered(a.recipients + b.recipients, f"{a.reason}; {b.reason}")
