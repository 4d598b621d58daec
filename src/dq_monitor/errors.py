"""The one exception tree: every error dq-monitor raises on purpose derives from ``DqMonitorError``.

Messages name the source, check, field or channel involved and never carry a secret value.
"""

from __future__ import annotations

from collections.abc import Sequence


class DqMonitorError(Exception):
    """Root of every deliberate dq-monitor error."""


class ConfigError(DqMonitorError):
    """The configuration file is invalid; ``errors`` lists every problem as ``path: message``."""

    def __init__(self, errors: Sequence[str], *, file: str | None = None) -> None:
        self.errors: tuple[str, ...] = tuple(errors)
        self.file = file
        where = f" in {file}" if file else ""
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"{len(self.errors)} configuration error(s){where}:\n{lines}")


class KafkaAccessError(DqMonitorError):
    """The cluster refused our credentials, or its certificate did not verify (FR-020)."""


class TopicSetupError(DqMonitorError):
    """NFR-008: the cluster refused for good to create a topic the service needs; the message
    names the topic and what to create by hand."""


class MalformedEvent(DqMonitorError):
    """An input record could not be decoded; ``reason`` names the offending field."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class DeliveryError(DqMonitorError):
    """A channel could not deliver an alert.

    ``retryable`` says whether the same delivery may succeed later; ``retry_after`` is the
    server's requested wait in seconds (HTTP ``Retry-After``), when it gave one;
    ``rate_limited`` that the receiver asked to slow down (HTTP 429, an SMTP policy deferral):
    its flow control, not a failure of this delivery.
    """

    def __init__(
        self,
        channel: str,
        reason: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        rate_limited: bool = False,
    ) -> None:
        self.channel = channel
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.rate_limited = rate_limited
        super().__init__(f"channel {channel!r}: {reason}")


class MissingExtra(DqMonitorError):
    """An optional part is not installed; the message names the extra that brings it."""


class BacktestError(DqMonitorError):
    """The backtest cannot run at all (missing header, unknown source or metric)."""


class SeedError(DqMonitorError):
    """FR-013: a baseline cannot be seeded; the message names the file, topic or series."""


class UnknownSilence(DqMonitorError):
    """FR-018: no silence has the id given (to expire or show)."""
