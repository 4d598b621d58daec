"""The ``channels`` section (FR-008): one model per channel type, told apart by ``type``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr

from dq_monitor.config.base import _Model
from dq_monitor.config.durations import PositiveDuration
from dq_monitor.config.kafka import SECURITY_FIELDS, KafkaSecurity, security_checks
from dq_monitor.config.raw import _dict, _seconds


class _Channel(_Model):
    timeout: PositiveDuration = "10s"  # type: ignore[assignment]
    #: NFR-002: deliveries under way at once on this channel (one at a time per fingerprint).
    max_in_flight: int = Field(default=8, ge=1, le=256)


class SlackChannel(_Channel):
    type: Literal["slack"]
    webhook_url: SecretStr
    channel: str | None = None
    username: str | None = None


class EmailChannel(_Channel):
    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    from_: str = Field(alias="from", min_length=3)
    to: list[str] = Field(min_length=1)
    ca_file: str | None = None
    verify_tls: bool = True


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: SecretStr
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    secret: SecretStr | None = None
    signature_header: str = "X-DQ-Signature"


class KafkaChannel(_Channel, KafkaSecurity):
    """Forward to ``topic``: on the monitor's cluster (the router's producer), or, with
    ``bootstrap_servers``, on another cluster with its own security settings."""

    type: Literal["kafka"]
    topic: str = Field(min_length=1)
    bootstrap_servers: str | None = Field(default=None, min_length=1)


class AlertmanagerChannel(_Channel):
    """Prometheus Alertmanager's v2 API at ``url`` (its base, e.g. ``http://am:9093``)."""

    type: Literal["alertmanager"]
    url: SecretStr
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    #: Static labels added to every alert (e.g. ``team``), for Alertmanager's own routing.
    labels: dict[str, str] = Field(default_factory=dict)
    #: A firing alert's ``endsAt`` this far ahead; reminders push it on. Must exceed
    #: ``routing.dedup_window`` or Alertmanager resolves it between reminders.
    resolve_timeout: PositiveDuration = "1h"  # type: ignore[assignment]
    generator_url: str | None = None


class PagerDutyChannel(_Channel):
    """PagerDuty Events API v2: trigger and resolve, ``dedup_key`` = the alert fingerprint."""

    type: Literal["pagerduty"]
    routing_key: SecretStr
    url: str = "https://events.pagerduty.com/v2/enqueue"


ChannelConfig = Annotated[
    SlackChannel | EmailChannel | WebhookChannel | KafkaChannel | AlertmanagerChannel
    | PagerDutyChannel,
    Field(discriminator="type"),
]
CHANNEL_TYPES = ("slack", "email", "webhook", "kafka", "alertmanager", "pagerduty")


# --------------------------------------------------------------------------- cross-checks


def channel_checks(channels: dict[str, Any], routing: dict[str, Any]) -> Iterator[str]:
    """The raw ``channels`` section: email TLS and credentials that make sense, an Alertmanager
    timeout longer than ``routing.dedup_window``, a Kafka channel's security settings."""
    for name, ch in channels.items():
        ch = _dict(ch)
        if ch.get("type") == "email" and ch.get("tls") is True and ch.get("starttls") is True:
            yield f"channels.{name}.tls: tls (implicit TLS) and starttls are mutually exclusive"
        if ch.get("type") == "email" and ch.get("username") and not ch.get("password"):
            yield f"channels.{name}.password: required when username is set"
        if ch.get("type") == "alertmanager":
            ttl = _seconds(ch.get("resolve_timeout", "1h"))
            window = _seconds(routing.get("dedup_window", "5m"))
            if ttl and window and ttl <= window:
                yield (f"channels.{name}.resolve_timeout: must exceed routing.dedup_window "
                       f"({ttl:g}s <= {window:g}s), or Alertmanager resolves the alert "
                       "between reminders")
        if ch.get("type") == "kafka":
            if "bootstrap_servers" in ch:
                yield from security_checks(ch, f"channels.{name}")
            else:
                for field in SECURITY_FIELDS:
                    if field in ch:
                        yield (f"channels.{name}.{field}: applies only with bootstrap_servers "
                               "(without it the channel uses the kafka section's connection)")
