"""Generic JSON webhook against a real local HTTP server: signing (FR-008), retries (FR-010)."""

from __future__ import annotations

import hashlib
import hmac

import orjson
import pytest

from dq_monitor.channels.webhook import WebhookChannel
from dq_monitor.config import WebhookChannel as WebhookConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert
from dq_monitor.routing.retry import RetryPolicy, deliver_with_retry
from dq_monitor.testing import HttpReceiver, Reply

FAST = RetryPolicy(initial=0.01, factor=2, cap=0.05, max_attempts=6, max_elapsed=10)
SIGNING_KEY = "s3cr3t-signing-key"
BEARER = "Bearer top-secret-bearer"


def webhook(base_url: str, **kw: object) -> WebhookChannel:
    return WebhookChannel("hook", WebhookConfig.model_validate(
        {"type": "webhook", "url": f"{base_url}/in?token=query-secret", "timeout": "2s", **kw}))


@pytest.mark.req("FR-008")
async def test_body_is_the_alert_and_the_signature_verifies(http_server: HttpReceiver,
                                                            alert: Alert) -> None:
    ch = webhook(http_server.url, secret=SIGNING_KEY, headers={"Authorization": BEARER})
    await ch.send(alert, repeat=True)
    await ch.aclose()
    (req,) = http_server.requests
    assert req.path == "/in?token=query-secret"
    expected = hmac.new(SIGNING_KEY.encode(), req.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req.headers["x-dq-signature"], f"sha256={expected}")
    assert req.headers["authorization"] == BEARER
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {**orjson.loads(alert.to_json()), "repeat": True}


@pytest.mark.req("FR-008")
async def test_custom_signature_header_and_no_signature_without_secret(
    http_server: HttpReceiver, alert: Alert
) -> None:
    signed = webhook(http_server.url, secret=SIGNING_KEY, signature_header="X-Hub-Signature-256")
    plain = webhook(http_server.url)
    await signed.send(alert, repeat=False)
    await plain.send(alert, repeat=False)
    await signed.aclose()
    await plain.aclose()
    first, second = http_server.requests
    assert first.headers["x-hub-signature-256"].startswith("sha256=")
    assert not any("signature" in h for h in second.headers)


@pytest.mark.req("FR-010")
async def test_fails_three_times_then_is_delivered_exactly_once(http_server: HttpReceiver,
                                                                alert: Alert) -> None:
    http_server.script = [Reply(500), Reply(502), Reply(503)]
    ch = webhook(http_server.url)
    outcome = await deliver_with_retry(ch, alert, False, FAST)
    await ch.aclose()
    assert outcome.ok and outcome.attempts == 4
    assert http_server.answered == [500, 502, 503, 200]  # one accepted delivery
    assert {r.json()["alert_id"] for r in http_server.requests} == {alert.alert_id}


@pytest.mark.req("FR-010")
async def test_400_is_final_after_one_attempt(http_server: HttpReceiver, alert: Alert) -> None:
    http_server.default = Reply(400, body=b'{"error": "bad payload"}')
    ch = webhook(http_server.url)
    outcome = await deliver_with_retry(ch, alert, False, FAST)
    await ch.aclose()
    assert not outcome.ok and outcome.attempts == 1 and len(http_server.requests) == 1
    assert outcome.reason == 'HTTP 400: {"error": "bad payload"}'


@pytest.mark.req("FR-010")
async def test_a_hanging_receiver_times_out_retryably(http_server: HttpReceiver,
                                                      alert: Alert) -> None:
    http_server.script = [Reply(hang=True)]
    ch = webhook(http_server.url, timeout="200ms")
    with pytest.raises(DeliveryError) as info:
        await ch.send(alert, repeat=False)
    assert info.value.retryable and info.value.reason == "timed out (ReadTimeout)"
    outcome = await deliver_with_retry(ch, alert, False, FAST)  # the next attempt is answered
    await ch.aclose()
    assert outcome.ok and http_server.answered == [200]


@pytest.mark.req("FR-010", "FR-011")
async def test_no_secret_in_any_error(http_server: HttpReceiver, alert: Alert) -> None:
    secrets = ("query-secret", SIGNING_KEY, "top-secret-bearer")
    echo = " ".join(secrets).encode()
    http_server.script = [Reply(500, body=echo), Reply(400, body=echo), Reply(hang=True)]
    ch = webhook(http_server.url, secret=SIGNING_KEY, headers={"Authorization": BEARER},
                 timeout="200ms")
    dead = webhook("http://127.0.0.1:1", secret=SIGNING_KEY, headers={"Authorization": BEARER})
    errors = []
    for target in (ch, ch, ch, dead):
        with pytest.raises(DeliveryError) as info:
            await target.send(alert, repeat=False)
        errors.append(f"{info.value} {info.value.reason!r} {info.value.args!r}")
    await ch.aclose()
    await dead.aclose()
    assert len(errors) == 4
    for text in errors:
        assert not any(s in text for s in secrets), text


@pytest.mark.req("FR-010", "FR-011")
@pytest.mark.parametrize("url", ["http://[::1/secret-path", "ftp://127.0.0.1/secret-path",
                                 "127.0.0.1/secret-path"])
async def test_an_invalid_url_is_final_and_not_echoed(alert: Alert, url: str) -> None:
    ch = WebhookChannel("hook", WebhookConfig.model_validate({"type": "webhook", "url": url}))
    with pytest.raises(DeliveryError) as info:
        await ch.send(alert, repeat=False)
    await ch.aclose()
    assert not info.value.retryable and "secret-path" not in str(info.value)
