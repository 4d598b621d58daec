"""Each channel against its receiver's rate limit (FR-010, NFR-002): Slack's and PagerDuty's
429, an Alertmanager or webhook behind a proxy that answers 429, an SMTP server deferring with
421 or 4.7.x. A rate limit is waited out (``Retry-After`` when given) without using up the
delivery's attempts, so a storm slows down instead of turning into dead letters. Real HTTP and
SMTP servers, the real clients and the router's retry loop."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import TypeAdapter

from dq_monitor.channels import Channel, build_channel
from dq_monitor.channels.email import rate_limit
from dq_monitor.config import ChannelConfig
from dq_monitor.events import Alert
from dq_monitor.routing.retry import RetryPolicy, Throttle, deliver_with_retry
from dq_monitor.testing import HttpReceiver, Reply
from tests.channels.conftest import SmtpFactory

#: Three attempts: without the rate-limit rule the five 429s below would be a dead letter.
POLICY = RetryPolicy(initial=0.01, cap=0.05, max_attempts=3, max_elapsed=20)
LIMITED = 5


def channel_config(spec: dict[str, Any]) -> ChannelConfig:
    return TypeAdapter(ChannelConfig).validate_python(spec)


HTTP_CHANNELS = {
    # Slack answers a webhook over its rate (about one message a second) with 429 and
    # Retry-After in seconds.
    "slack": ({"type": "slack", "webhook_url": "{url}/services/T/B/x"},
              {"Retry-After": "0.05"}, 200),
    # The Events API v2 answers 429 when a routing key sends too many events; no Retry-After.
    "pagerduty": ({"type": "pagerduty", "routing_key": "k" * 32, "url": "{url}/v2/enqueue"},
                  {}, 202),
    # Alertmanager has no limit of its own; a gateway in front of it answers 429.
    "alertmanager": ({"type": "alertmanager", "url": "{url}"}, {"Retry-After": "0.05"}, 200),
    "webhook": ({"type": "webhook", "url": "{url}/hook"}, {"Retry-After": "0.05"}, 204),
}


@pytest.mark.req("FR-010", "FR-008", "NFR-002")
@pytest.mark.parametrize("kind", sorted(HTTP_CHANNELS))
async def test_an_http_rate_limit_is_waited_out_not_dead_lettered(kind: str, alert: Alert,
                                                                 ) -> None:
    spec, headers, ok = HTTP_CHANNELS[kind]
    async with HttpReceiver(script=[Reply(429, headers, b"rate_limited")] * LIMITED,
                            default=Reply(ok)) as receiver:
        cfg = channel_config({k: v.format(url=receiver.url) if isinstance(v, str) else v
                              for k, v in spec.items()})
        ch = build_channel(kind, cfg)
        throttle = Throttle()
        try:
            outcome = await deliver_with_retry(ch, alert, False, POLICY, throttle=throttle)
        finally:
            await ch.aclose()
    assert (outcome.ok, outcome.attempts, outcome.rate_limited) == (True, LIMITED + 1, LIMITED)
    assert receiver.answered == [429] * LIMITED + [ok]
    if "Retry-After" in headers:  # honoured: the channel was held back that long each time
        gaps = [b.at - a.at for a, b in zip(receiver.requests, receiver.requests[1:],
                                            strict=False)]
        assert min(gaps) >= 0.05 - 0.01
    assert throttle.until <= time.monotonic()


@pytest.mark.req("FR-010", "FR-008", "NFR-002")
@pytest.mark.parametrize("reply", [
    "421 4.7.0 Too many connections, try again later",
    "451 4.7.1 Rate limit exceeded, slow down",
    "450 4.7.28 Unusual rate of mail, deferred",
])
async def test_an_smtp_deferral_for_rate_is_waited_out_not_dead_lettered(
        smtp: SmtpFactory, alert: Alert, reply: str) -> None:
    with smtp(data_replies=[reply] * LIMITED) as server:
        ch = build_channel("mail", channel_config({
            "type": "email", "host": "127.0.0.1", "port": server.port,
            "from": "dq@example.com", "to": ["oncall@example.com"], "timeout": "5s"}))
        outcome = await deliver_with_retry(ch, alert, False, POLICY, throttle=Throttle())
    assert (outcome.ok, outcome.attempts, outcome.rate_limited) == (True, LIMITED + 1, LIMITED)
    assert [e.rcpt_tos for e in server.received] == [["oncall@example.com"]]


@pytest.mark.req("FR-010")
async def test_other_smtp_deferrals_still_count_as_failed_attempts(smtp: SmtpFactory,
                                                                   alert: Alert) -> None:
    assert not rate_limit(450, "4.2.1 mailbox busy") and not rate_limit(554, "5.7.1 no")
    with smtp(data_replies=["451 4.3.0 local error"] * LIMITED) as server:
        ch = build_channel("mail", channel_config({
            "type": "email", "host": "127.0.0.1", "port": server.port,
            "from": "dq@example.com", "to": ["oncall@example.com"], "timeout": "5s"}))
        outcome = await deliver_with_retry(ch, alert, False, POLICY, throttle=Throttle())
    assert not outcome.ok and outcome.attempts == 3 and outcome.rate_limited == 0
    assert server.received == []


def mail_channel(port: int, to: list[str]) -> Channel:
    return build_channel("mail", channel_config({
        "type": "email", "host": "127.0.0.1", "port": port, "from": "dq@example.com",
        "to": to, "timeout": "5s"}))


@pytest.mark.req("FR-010", "FR-011", "NFR-002")
async def test_a_recipient_deferred_for_rate_gets_the_mail_later_and_the_others_once(
        smtp: SmtpFactory, alert: Alert) -> None:
    deferral = "450 4.7.1 too many messages for this recipient, slow down"
    with smtp(refuse={"lead@example.com": [deferral] * LIMITED,
                      "gone@example.com": "550 5.1.1 no such user"}) as server:
        outcome = await deliver_with_retry(
            mail_channel(server.port, ["oncall@example.com", "lead@example.com",
                                       "gone@example.com"]),
            alert, False, POLICY, throttle=Throttle())
    # oncall at once, lead alone once its deferrals passed; nobody twice
    assert [e.rcpt_tos for e in server.received] == [["oncall@example.com"],
                                                     ["lead@example.com"]]
    assert outcome.ok and outcome.rate_limited == LIMITED
    assert outcome.undelivered is not None
    assert outcome.undelivered.recipients == ("gone@example.com",)
    assert outcome.undelivered.reason == (
        "recipients refused: gone@example.com 550 5.1.1 no such user")


@pytest.mark.req("FR-010", "FR-011")
async def test_a_recipient_deferred_past_the_policy_is_reported_alone(
        smtp: SmtpFactory, alert: Alert) -> None:
    with smtp(refuse={"lead@example.com": ["451 4.3.0 mailbox locked"] * 10}) as server:
        outcome = await deliver_with_retry(
            mail_channel(server.port, ["oncall@example.com", "lead@example.com"]),
            alert, False, POLICY, throttle=Throttle())
    assert [e.rcpt_tos for e in server.received] == [["oncall@example.com"]]
    assert outcome.ok and outcome.attempts == POLICY.max_attempts
    assert outcome.undelivered is not None
    assert outcome.undelivered.recipients == ("lead@example.com",)
    assert outcome.undelivered.reason.endswith(
        "refused: lead@example.com 451 4.3.0 mailbox locked (gave up after 3 attempt(s) in "
        f"{outcome.elapsed:.1f}s)")
