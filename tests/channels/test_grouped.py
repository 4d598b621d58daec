"""A group's notification on each channel that pages people (FR-027), against real local
receivers: Slack one message with a line per alert, the webhook one group JSON, PagerDuty one
incident per group key, email one mail."""

from __future__ import annotations

import email
import email.policy

import pytest

from dq_monitor.channels.email import EmailChannel
from dq_monitor.channels.grouped import GroupSend, Kind, Notification, group_text
from dq_monitor.channels.pagerduty import PagerDutyChannel
from dq_monitor.channels.slack import SlackChannel
from dq_monitor.channels.webhook import WebhookChannel
from dq_monitor.config import EmailChannel as EmailConfig
from dq_monitor.config import PagerDutyChannel as PagerDutyConfig
from dq_monitor.config import SlackChannel as SlackConfig
from dq_monitor.config import WebhookChannel as WebhookConfig
from dq_monitor.events import Alert
from dq_monitor.routing.retry import RetryPolicy, deliver_with_retry
from dq_monitor.testing import HttpReceiver, make_alert
from tests.channels.conftest import SmtpFactory
from tests.channels.test_pagerduty import KEY, events_api

pytestmark = pytest.mark.req("FR-027")
FAST = RetryPolicy(initial=0.01, factor=2, cap=0.05, max_attempts=3, max_elapsed=5)


def column(name: str, status: str = "firing") -> Alert:
    alert = make_alert(status=status, fp=name[0] * 32)  # type: ignore[arg-type]
    return alert.model_copy(update={"subject": name, "detail": f"{name} null rate 25%"})


def note(kind: Kind = Kind.FIRST, status: str = "firing", *alerts: Alert) -> Notification:
    alerts = alerts or (column("amount"), column("customer_id"), column("<!channel>"))
    return Notification("g" * 32, "ch", kind, status, alerts,
                        {"source": "warehouse.orders"}, tuple(a.fingerprint for a in alerts))


async def test_slack_posts_one_message_a_line_per_alert(http_server: HttpReceiver) -> None:
    ch = SlackChannel("slack", SlackConfig.model_validate(
        {"type": "slack", "webhook_url": f"{http_server.url}/hook"}))
    outcome = await deliver_with_retry(GroupSend(ch, note()), column("amount"), False, FAST)
    await ch.aclose()
    assert outcome.ok
    (req,) = http_server.requests
    blocks = req.json()["attachments"][0]["blocks"]
    assert blocks[0]["text"]["text"] == "[FAIL] 3 firing: source=warehouse.orders"
    lines = blocks[1]["text"]["text"].splitlines()
    assert len(lines) == 3
    assert "amount" in lines[0] and "customer_id" in lines[1]
    assert "<!channel>" not in req.body.decode() and "&lt;!channel&gt;" in lines[2]


async def test_webhook_posts_one_group_json(http_server: HttpReceiver) -> None:
    ch = WebhookChannel("hook", WebhookConfig.model_validate(
        {"type": "webhook", "url": f"{http_server.url}/in"}))
    resolved = note(Kind.RESOLVED, "resolved", column("amount", "resolved"))
    await ch.send_group(resolved)
    await ch.aclose()
    (req,) = http_server.requests
    body = req.json()
    assert body["group_key"] == "g" * 32 and body["status"] == "resolved"
    assert [(a["subject"], a["status"]) for a in body["alerts"]] == [("amount", "resolved")]


async def test_pagerduty_opens_and_resolves_one_incident_per_group() -> None:
    async with HttpReceiver(respond=events_api) as api:
        ch = PagerDutyChannel("pd", PagerDutyConfig.model_validate(
            {"type": "pagerduty", "routing_key": KEY, "url": f"{api.url}/v2/enqueue"}))
        await ch.send_group(note())
        await ch.send_group(note(Kind.UPDATE))
        await ch.send_group(note(Kind.RESOLVED, "resolved", column("amount", "resolved")))
        await ch.aclose()
    assert api.answered == [202, 202, 202]
    events = [r.json() for r in api.requests]
    assert {e["dedup_key"] for e in events} == {"g" * 32}
    assert [e["event_action"] for e in events] == ["trigger", "trigger", "resolve"]
    assert len(events[0]["payload"]["custom_details"]["alerts"]) == 3


async def test_email_sends_one_mail_per_group(smtp: SmtpFactory) -> None:
    with smtp() as server:
        ch = EmailChannel("mail", EmailConfig.model_validate({
            "type": "email", "host": "127.0.0.1", "port": server.port,
            "from": "dq@example.com", "to": ["oncall@example.com"], "timeout": "5s"}))
        assert await ch.send_group(note()) is None
    (envelope,) = server.received
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert msg["Subject"] == "[FAIL] 3 firing: source=warehouse.orders"
    assert msg["X-DQ-Group"] == "g" * 32
    text = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    assert sum(line.startswith("- [FAIL]") for line in text.get_content().splitlines()) == 3


def test_a_reminder_and_an_update_say_what_they_are() -> None:
    reminder = group_text(note(Kind.REMINDER))
    assert reminder.startswith("REMINDER [FAIL] 3 firing") and "reminder" in reminder
    mixed = note(Kind.UPDATE, "firing", column("amount"), column("customer_id", "resolved"))
    assert group_text(mixed).startswith("UPDATE [FAIL] 1 firing, 1 resolved")
