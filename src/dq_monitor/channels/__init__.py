"""Delivery channels behind one Protocol: a new channel is a module plus a branch below."""

from __future__ import annotations

from typing import Any

from dq_monitor.channels.base import Channel, alert_payload, render_text
from dq_monitor.config import (
    ChannelConfig,
    EmailChannel,
    KafkaChannel,
    SlackChannel,
    WebhookChannel,
)

__all__ = ["Channel", "alert_payload", "build_channel", "render_text"]


def build_channel(name: str, cfg: ChannelConfig, *, producer: Any = None) -> Channel:
    """The channel for one ``channels.<name>`` entry; ``producer`` serves ``type: kafka``."""
    if isinstance(cfg, SlackChannel):
        from dq_monitor.channels.slack import SlackChannel as Slack

        return Slack(name, cfg)
    if isinstance(cfg, WebhookChannel):
        from dq_monitor.channels.webhook import WebhookChannel as Webhook

        return Webhook(name, cfg)
    if isinstance(cfg, EmailChannel):
        from dq_monitor.channels.email import EmailChannel as Email

        return Email(name, cfg)
    if isinstance(cfg, KafkaChannel):
        from dq_monitor.channels.kafka import KafkaChannel as Kafka

        return Kafka(name, cfg, producer)
    raise TypeError(f"channel {name!r}: unsupported type")
