"""Slack incoming webhook against a real local HTTP server (FR-008), its status policy (FR-010)
and its secret URL (FR-011)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest

from dq_monitor.channels.http import retry_after
from dq_monitor.channels.slack import SlackChannel
from dq_monitor.checks.anomaly import series_key
from dq_monitor.config import SlackChannel as SlackConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.events import Alert
from dq_monitor.routing.retry import RetryPolicy, deliver_with_retry
from dq_monitor.testing import HttpReceiver, Reply, make_alert

TOKEN = "T0AAAA/B0BBBB/very-secret-token"
FAST = RetryPolicy(initial=0.01, factor=2, cap=0.05, max_attempts=6, max_elapsed=10)


def slack(base_url: str, **kw: object) -> SlackChannel:
    return SlackChannel("slack-dq", SlackConfig.model_validate(
        {"type": "slack", "webhook_url": f"{base_url}/services/{TOKEN}", "timeout": "2s", **kw}))


@pytest.mark.req("FR-008")
async def test_message_carries_the_facts_and_overrides(http_server: HttpReceiver,
                                                       alert: Alert) -> None:
    ch = slack(http_server.url, channel="#data-quality", username="dq-monitor")
    await ch.send(alert, repeat=False)
    await ch.aclose()
    (req,) = http_server.requests
    assert (req.method, req.path) == ("POST", f"/services/{TOKEN}")
    assert req.headers["content-type"] == "application/json"
    body = req.json()
    assert body["channel"] == "#data-quality" and body["username"] == "dq-monitor"
    assert body["text"] == f"[FAIL] completeness warehouse.orders customer_id: {alert.detail}"
    (attachment,) = body["attachments"]
    assert attachment["color"] == "#d32f2f"
    blocks = attachment["blocks"]
    assert blocks[0] == {"type": "header", "text": {
        "type": "plain_text", "text": "[FAIL] completeness warehouse.orders customer_id"}}
    facts = {f["text"] for f in blocks[2]["fields"]}
    assert {"*Observed*\n0.25", "*Expected*\n0.01", "*Source*\nwarehouse.orders",
            "*Subject*\ncustomer_id", "*Severity*\nFAIL"} <= facts
    assert alert.detail in str(blocks[1])


@pytest.mark.req("FR-008", "FR-009")
async def test_reminders_and_recoveries_look_different(http_server: HttpReceiver) -> None:
    ch = slack(http_server.url)
    await ch.send(make_alert(severity="WARN"), repeat=True)
    await ch.send(make_alert(status="resolved"), repeat=False)
    await ch.aclose()
    reminder, resolved = (r.json() for r in http_server.requests)
    assert "channel" not in reminder and "username" not in reminder  # only when configured
    assert reminder["text"].startswith("REMINDER [WARN] completeness warehouse.orders "
                                       "customer_id")
    assert reminder["attachments"][0]["color"] == "#f9a825"
    assert resolved["text"].startswith("RESOLVED [FAIL]")
    assert resolved["attachments"][0]["color"] == "#2e7d32"


@pytest.mark.req("FR-010")
async def test_429_retry_after_delays_the_next_attempt(http_server: HttpReceiver,
                                                       alert: Alert) -> None:
    http_server.script = [Reply(429, {"Retry-After": "2"}, b"rate_limited")]
    ch = slack(http_server.url)
    outcome = await deliver_with_retry(ch, alert, False, FAST)
    await ch.aclose()
    assert outcome.ok and outcome.attempts == 2
    first, second = http_server.requests
    assert second.at - first.at >= 2.0  # measured where Slack would measure it
    assert http_server.answered == [429, 200]


@pytest.mark.req("FR-010")
@pytest.mark.parametrize(("status", "retryable", "wait"), [
    (503, True, 7.0), (429, True, 7.0), (500, True, None), (502, True, None),
    (400, False, None), (403, False, None), (404, False, None), (301, False, None),
])
async def test_status_policy(http_server: HttpReceiver, alert: Alert, status: int,
                             retryable: bool, wait: float | None) -> None:
    http_server.default = Reply(status, {"Retry-After": "7"}, b"invalid_token")
    ch = slack(http_server.url)
    with pytest.raises(DeliveryError) as info:
        await ch.send(alert, repeat=False)
    await ch.aclose()
    err = info.value
    assert (err.retryable, err.retry_after) == (retryable, wait)
    assert err.reason == f"HTTP {status}: invalid_token" and err.channel == "slack-dq"


@pytest.mark.req("FR-010")
def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = 1_780_000_000.0
    when = datetime.fromtimestamp(now + 30, tz=UTC)
    assert retry_after(format_datetime(when, usegmt=True), now=lambda: now) == 30.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: now) == 0.0  # past
    assert retry_after(" 2 ") == 2.0
    assert retry_after("1.5") == 1.5
    for nonsense in (None, "", "soon", "nan"):
        assert retry_after(nonsense) is None


@pytest.mark.req("FR-010", "FR-011")
async def test_a_refused_connection_is_retryable_and_hides_the_url(alert: Alert) -> None:
    ch = slack("http://127.0.0.1:1")  # nothing listens on port 1
    with pytest.raises(DeliveryError) as info:
        await ch.send(alert, repeat=False)
    await ch.aclose()
    assert info.value.retryable
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "very-secret-token" not in str(info.value) and "services" not in str(info.value)


@pytest.mark.req("FR-011")
async def test_an_error_page_echoing_the_url_is_redacted(http_server: HttpReceiver,
                                                        alert: Alert) -> None:
    http_server.default = Reply(404, body=f"no hook at /services/{TOKEN}".encode())
    ch = slack(http_server.url)
    with pytest.raises(DeliveryError) as info:
        await ch.send(alert, repeat=False)
    await ch.aclose()
    assert str(info.value) == "channel 'slack-dq': HTTP 404: no hook at ***"


@pytest.mark.req("FR-011")
async def test_request_logs_never_show_the_url(http_server: HttpReceiver, alert: Alert,
                                               caplog: pytest.LogCaptureFixture) -> None:
    ch = slack(http_server.url)
    with caplog.at_level(logging.DEBUG):
        await ch.send(alert, repeat=False)
    await ch.aclose()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request: POST http://127.0.0.1/***" in logged  # httpx still logs the request
    assert "very-secret-token" not in logged and "services" not in logged


def slack_texts(body: Any) -> list[tuple[str, str]]:
    """Every (kind, text) Slack reads from a message: ``mrkdwn`` for the message text, the
    fallback and mrkdwn objects, ``plain_text`` for plain text objects."""
    found: list[tuple[str, str]] = [("mrkdwn", body["text"])]
    for attachment in body["attachments"]:
        found.append(("mrkdwn", attachment["fallback"]))

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if node.get("type") in ("mrkdwn", "plain_text") and "text" in node:
                    found.append((node["type"], node["text"]))
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(attachment["blocks"])
    return found


@pytest.mark.req("NFR-008", "FR-008")
async def test_input_text_cannot_mention_or_link_in_slack(http_server: HttpReceiver) -> None:
    """A tag value and a detail from a producer reach Slack as text: no ``@channel`` page, no
    disguised link; the message's own formatting still works."""
    subject = series_key("warehouse.orders", "revenue", {"team": "<!channel>"})
    alert = make_alert().model_copy(update={
        "check": "anomaly", "subject": subject, "source": "warehouse.orders&<@U0ADMIN>",
        "detail": f"{subject} is 9.5 sigma above its mean; <https://evil.example|Ack here>"})
    ch = slack(http_server.url)
    await ch.send(alert, repeat=False)
    await ch.aclose()
    body = http_server.requests[0].json()
    texts = slack_texts(body)
    marked = [text for kind, text in texts if kind == "mrkdwn"]
    assert len(marked) >= 10
    for text in marked:  # no <...> can form: Slack's mentions and links need a raw '<'
        assert "<" not in text and ">" not in text and "&amp;lt;" not in text
    assert body["text"] == ("[FAIL] anomaly warehouse.orders&amp;&lt;@U0ADMIN&gt; "
                            "revenue{team=&lt;!channel&gt;}: revenue{team=&lt;!channel&gt;} is "
                            "9.5 sigma above its mean; &lt;https://evil.example|Ack here&gt;")
    facts = {t for t in marked if t.startswith("*")}
    assert "*Subject*\nrevenue{team=&lt;!channel&gt;}" in facts  # own bold labels still bold
    assert "*Source*\nwarehouse.orders&amp;&lt;@U0ADMIN&gt;" in facts
    assert ("plain_text", "[FAIL] anomaly warehouse.orders&<@U0ADMIN> revenue{team=<!channel>}"
            ) in texts  # plain text: Slack shows it as written and never parses it


@pytest.mark.req("NFR-008", "FR-008")
async def test_escaping_never_pushes_a_long_detail_over_slacks_limits(
        http_server: HttpReceiver) -> None:
    alert = make_alert().model_copy(update={"detail": "<" * 5000})
    ch = slack(http_server.url)
    await ch.send(alert, repeat=False)
    await ch.aclose()
    body = http_server.requests[0].json()
    section = body["attachments"][0]["blocks"][1]["text"]["text"]
    assert len(body["text"]) <= 3000 and len(section) <= 3000
    assert set(section.split("&lt;")) == {""}  # whole entities only, none cut in half
