"""Slack and webhook channels against a real local HTTP server (FR-008, FR-010)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from dq_monitor.channels.slack import SlackChannel
from dq_monitor.channels.webhook import WebhookChannel
from dq_monitor.config import SlackChannel as SlackConfig
from dq_monitor.config import WebhookChannel as WebhookConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert
from dq_monitor.routing.retry import RetryPolicy, deliver_with_retry
from tests.servers import HttpReceiver

SECRET_PATH = "/services/T0/B0/very-secret-token"
FAST = RetryPolicy(initial=0.01, factor=2, cap=0.05, max_attempts=6, max_elapsed=10)


def slack(url: str, **kw: object) -> SlackChannel:
    return SlackChannel("slack-dq", SlackConfig.model_validate(
        {"type": "slack", "webhook_url": url + SECRET_PATH, **kw}))


def webhook(url: str, **kw: object) -> WebhookChannel:
    return WebhookChannel("hook", WebhookConfig.model_validate(
        {"type": "webhook", "url": url + SECRET_PATH, **kw}))


@pytest.mark.req("FR-008")
async def test_slack_message_carries_the_facts(receiver: HttpReceiver, alert: Alert) -> None:
    url = f"http://127.0.0.1:{receiver.port}"
    ch = slack(url, channel="#data-quality", username="dq-monitor")
    await ch.send(alert, repeat=False)
    await ch.aclose()
    body = receiver.requests[0].json()
    assert receiver.requests[0].path == SECRET_PATH
    assert body["channel"] == "#data-quality" and body["username"] == "dq-monitor"
    assert body["text"].startswith("[FAIL] completeness warehouse.orders customer_id")
    text = str(body["attachments"])
    for fact in ("FAIL", "completeness", "warehouse.orders", "customer_id", "0.25", "0.01",
                 alert.detail):
        assert fact in text
    assert body["attachments"][0]["color"] == "#d32f2f"


@pytest.mark.req("FR-008")
async def test_webhook_signs_the_exact_body(receiver: HttpReceiver, alert: Alert) -> None:
    ch = webhook(f"http://127.0.0.1:{receiver.port}", secret="s3cr3t",
                 headers={"Authorization": "Bearer abc"})
    await ch.send(alert, repeat=True)
    await ch.aclose()
    req = receiver.requests[0]
    expected = "sha256=" + hmac.new(b"s3cr3t", req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-dq-signature"] == expected
    assert req.headers["authorization"] == "Bearer abc"
    assert req.json()["repeat"] is True and req.json()["fingerprint"] == alert.fingerprint


@pytest.mark.req("FR-010")
async def test_fails_three_times_then_delivered_exactly_once(
    receiver: HttpReceiver, alert: Alert
) -> None:
    receiver.script = [(500, {}), (502, {}), (503, {})]
    ch = webhook(f"http://127.0.0.1:{receiver.port}")
    outcome = await deliver_with_retry(ch, alert, False, FAST)
    await ch.aclose()
    assert outcome.ok and outcome.attempts == 4
    assert len(receiver.requests) == 4
    assert [r.json()["alert_id"] for r in receiver.requests][-1] == alert.alert_id


@pytest.mark.req("FR-010")
async def test_429_retry_after_is_honoured(receiver: HttpReceiver, alert: Alert) -> None:
    receiver.script = [(429, {"Retry-After": "2"})]
    ch = slack(f"http://127.0.0.1:{receiver.port}")
    outcome = await deliver_with_retry(ch, alert, False, FAST)
    await ch.aclose()
    assert outcome.ok and outcome.attempts == 2
    first, second = receiver.requests
    assert second.at - first.at >= 2.0


@pytest.mark.req("FR-010")
async def test_400_is_final_after_one_attempt(receiver: HttpReceiver, alert: Alert) -> None:
    receiver.default = (400, {})
    ch = webhook(f"http://127.0.0.1:{receiver.port}")
    outcome = await deliver_with_retry(ch, alert, False, FAST)
    await ch.aclose()
    assert not outcome.ok and outcome.attempts == 1
    assert outcome.reason is not None and "HTTP 400" in outcome.reason


@pytest.mark.req("FR-010")
async def test_hanging_server_times_out_and_is_retryable(
    receiver: HttpReceiver, alert: Alert
) -> None:
    receiver.default = (0, {})
    ch = webhook(f"http://127.0.0.1:{receiver.port}", timeout="200ms")
    with pytest.raises(DeliveryError) as info:
        await ch.send(alert, repeat=False)
    await ch.aclose()
    assert info.value.retryable and "timed out" in info.value.reason


@pytest.mark.req("FR-010", "FR-011")
async def test_errors_never_contain_the_secret_url(alert: Alert) -> None:
    ch = slack("http://127.0.0.1:1")  # nothing listens there
    with pytest.raises(DeliveryError) as info:
        await ch.send(alert, repeat=False)
    await ch.aclose()
    assert info.value.retryable
    assert "very-secret-token" not in str(info.value) and "127.0.0.1:1" not in str(info.value)
