"""Delivery channels behind one Protocol. Adding a channel = one module + one ``REGISTRY`` line.

Each channel class offers ``from_config(name, cfg, **deps)``; ``deps`` carries what the caller
shares with channels (today ``producer=`` for ``type: kafka``), and a channel ignores the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dq_monitor.channels.alertmanager import AlertmanagerChannel
from dq_monitor.channels.base import Channel, alert_payload, render_text, title
from dq_monitor.channels.email import EmailChannel
from dq_monitor.channels.kafka import KafkaChannel
from dq_monitor.channels.pagerduty import PagerDutyChannel
from dq_monitor.channels.slack import SlackChannel
from dq_monitor.channels.webhook import WebhookChannel
from dq_monitor.config import ChannelConfig

__all__ = ["REGISTRY", "Channel", "alert_payload", "build_channel", "render_text", "title"]

#: ``type:`` in the configuration → factory ``(name, cfg, **deps) -> Channel``.
REGISTRY: dict[str, Callable[..., Channel]] = {
    "slack": SlackChannel.from_config,
    "email": EmailChannel.from_config,
    "webhook": WebhookChannel.from_config,
    "kafka": KafkaChannel.from_config,
    "alertmanager": AlertmanagerChannel.from_config,
    "pagerduty": PagerDutyChannel.from_config,
}


def build_channel(name: str, cfg: ChannelConfig, **deps: Any) -> Channel:
    """The channel for one ``channels.<name>`` entry of the configuration."""
    try:
        factory = REGISTRY[cfg.type]
    except KeyError:
        raise TypeError(f"channel {name!r}: no adapter for type {cfg.type!r}") from None
    return factory(name, cfg, **deps)
