"""What every channel shows, and the registry that builds channels from the configuration."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from dq_monitor.channels import REGISTRY, alert_payload, build_channel, render_text, title
from dq_monitor.channels.email import EmailChannel
from dq_monitor.channels.kafka import KafkaChannel
from dq_monitor.channels.slack import SlackChannel
from dq_monitor.channels.webhook import WebhookChannel
from dq_monitor.config import CHANNEL_TYPES, parse_config
from dq_monitor.events import Alert
from dq_monitor.testing import make_alert

CONFIG = """
kafka: {bootstrap_servers: "localhost:9092", input_topics: [in], alert_topic: alerts,
        dead_letter_topic: dead}
sources: [{name: warehouse.orders, freshness: {max_staleness: 60m}}]
channels:
  slack-dq: {type: slack, webhook_url: "https://hooks.slack.test/services/T/B/x"}
  oncall-email: {type: email, host: smtp.test, from: dq@example.com, to: [oncall@example.com]}
  hook: {type: webhook, url: "https://hooks.test/dq"}
  forward: {type: kafka, topic: dq.alerts.copy}
"""


@pytest.mark.req("FR-008")
def test_payload_is_the_alert_event_plus_repeat(alert: Alert) -> None:
    payload = alert_payload(alert, True)
    assert payload.pop("repeat") is True
    assert payload == orjson.loads(alert.to_json())
    assert alert_payload(alert, False)["repeat"] is False


@pytest.mark.req("FR-008")
def test_text_names_severity_check_source_subject_figures_and_detail(alert: Alert) -> None:
    text = render_text(alert)
    assert text.splitlines()[0] == "[FAIL] completeness warehouse.orders customer_id"
    assert alert.detail in text
    assert "Observed 0.25 vs expected 0.01" in text
    for line in ("Severity: FAIL", "Check: completeness (FR-004)", "Source: warehouse.orders",
                 "Subject: customer_id", f"Fingerprint: {alert.fingerprint}"):
        assert line in text.splitlines()


@pytest.mark.req("FR-008", "FR-009")
def test_title_marks_recoveries_and_reminders() -> None:
    assert title(make_alert(status="resolved")).startswith("RESOLVED [FAIL] completeness")
    assert title(make_alert(), repeat=True).startswith("REMINDER [FAIL] completeness")
    assert "Still firing" in render_text(make_alert(), repeat=True)
    assert title(make_alert()).startswith("[FAIL]")
    assert "Still firing" not in render_text(make_alert())


@pytest.mark.req("FR-008")
async def test_registry_builds_every_configured_channel_type() -> None:
    cfg = parse_config(CONFIG, env={})
    producer: Any = object()
    built = {name: build_channel(name, c, producer=producer) for name, c in cfg.channels.items()}
    assert set(REGISTRY) == set(CHANNEL_TYPES)
    assert isinstance(built["slack-dq"], SlackChannel)
    assert isinstance(built["oncall-email"], EmailChannel)
    assert isinstance(built["hook"], WebhookChannel)
    assert isinstance(built["forward"], KafkaChannel)
    assert [ch.name for ch in built.values()] == list(cfg.channels)
    for ch in built.values():
        assert "hooks" not in repr(ch)  # no URL in a repr that could reach a log
        await ch.aclose()
    with pytest.raises(TypeError, match="forward"):
        build_channel("forward", cfg.channels["forward"])  # kafka needs the caller's producer
