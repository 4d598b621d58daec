"""PagerDuty Events API v2 against a local server that checks requests as the documentation
describes them and answers with the documented shapes, 429 and 5xx included."""

from __future__ import annotations

import orjson
import pytest

from dq_monitor.channels.pagerduty import PagerDutyChannel
from dq_monitor.config import PagerDutyChannel as PagerDutyConfig
from dq_monitor.errors import DeliveryError
from dq_monitor.routing.retry import RetryPolicy, deliver_with_retry
from dq_monitor.testing import HttpReceiver, Reply, Request, make_alert

KEY = "R0UT1NGKEY0123456789abcdefABCDEF"  # 32 characters, as PagerDuty issues them


def events_api(request: Request) -> Reply:
    """PagerDuty's documented validation and answers for ``POST /v2/enqueue``."""
    event = request.json()
    errors = []
    if len(str(event.get("routing_key", ""))) != 32:
        errors.append("'routing_key' is invalid")
    if event.get("event_action") not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is missing or blank")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        for name in ("summary", "source", "severity"):
            if not payload.get(name):
                errors.append(f"'payload.{name}' is missing or blank")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            errors.append("'payload.severity' is invalid")
    if len(str(event.get("dedup_key", ""))) > 255:
        errors.append("'dedup_key' is too long")
    if errors:
        return Reply(400, body=orjson.dumps({"status": "invalid event",
                                             "message": "Event object is invalid",
                                             "errors": errors}))
    return Reply(202, body=orjson.dumps({"status": "success", "message": "Event processed",
                                         "dedup_key": event.get("dedup_key")}))


def channel(url: str, key: str = KEY) -> PagerDutyChannel:
    return PagerDutyChannel("pd", PagerDutyConfig.model_validate(
        {"type": "pagerduty", "routing_key": key, "url": f"{url}/v2/enqueue"}))


@pytest.mark.req("FR-008")
async def test_trigger_then_resolve_share_the_fingerprint_as_dedup_key() -> None:
    async with HttpReceiver(respond=events_api) as pd:
        ch = channel(pd.url)
        await ch.send(make_alert(), repeat=False)
        await ch.send(make_alert(), repeat=True)
        await ch.send(make_alert(status="resolved"), repeat=False)
        await ch.aclose()
    assert pd.answered == [202, 202, 202]
    trigger, again, resolve = pd.json()
    assert trigger["event_action"] == again["event_action"] == "trigger"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "ab" * 16
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "warehouse.orders"
    assert resolve == {"routing_key": KEY, "event_action": "resolve", "dedup_key": "ab" * 16}


@pytest.mark.req("FR-010")
async def test_429_and_5xx_are_retried_then_delivered_once() -> None:
    async with HttpReceiver(script=[Reply(429, {"Retry-After": "0"}), Reply(500), Reply(503)],
                            respond=events_api) as pd:
        ch = channel(pd.url)
        outcome = await deliver_with_retry(ch, make_alert(), False,
                                           RetryPolicy(initial=0.01, cap=0.02))
        await ch.aclose()
    assert outcome.ok and outcome.attempts == 4
    assert pd.answered == [429, 500, 503, 202]


@pytest.mark.req("FR-010", "FR-011")
async def test_an_invalid_event_is_final_and_the_key_never_shows() -> None:
    bad_key = "short-key-" + "x" * 5
    async with HttpReceiver(respond=lambda r: Reply(
            400, body=orjson.dumps({"status": "invalid event", "echo": r.json()}))) as pd:
        with pytest.raises(DeliveryError) as info:
            await channel(pd.url, bad_key).send(make_alert(), repeat=False)
    assert not info.value.retryable and "HTTP 400" in info.value.reason
    assert bad_key not in str(info.value)
