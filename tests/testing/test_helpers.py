"""The shipped test helpers do what their users rely on."""

from __future__ import annotations

import httpx
import pytest

from dq_monitor.errors import DeliveryError
from dq_monitor.routing.retry import RetryPolicy, deliver_with_retry
from dq_monitor.testing import (
    FakeClock,
    HttpReceiver,
    RecordingChannel,
    Reply,
    make_alert,
    run_until,
)


@pytest.mark.req("FR-008")
async def test_receiver_answers_from_its_script_and_records_statuses() -> None:
    async with HttpReceiver(script=[Reply(503)]) as hook, httpx.AsyncClient() as client:
        first = await client.post(f"{hook.url}/x", json={"n": 1})
        second = await client.post(f"{hook.url}/y", json={"n": 2})
    assert (first.status_code, second.status_code) == (503, 200)
    assert [(r.path, r.status, r.json()) for r in hook.requests] == [
        ("/x", 503, {"n": 1}), ("/y", 200, {"n": 2})]


@pytest.mark.req("FR-010")
async def test_recording_channel_fails_as_told_then_records() -> None:
    channel = RecordingChannel(failures=[DeliveryError("recording", "down", retryable=True)])
    outcome = await deliver_with_retry(channel, make_alert(), False,
                                       RetryPolicy(initial=0.001, cap=0.001))
    assert outcome.ok and outcome.attempts == 2 and channel.attempts == 2
    assert [repeat for _, repeat in channel.sent] == [False]


@pytest.mark.req("FR-009")
async def test_fake_clock_and_run_until() -> None:
    clock = FakeClock(100.0)
    assert clock.advance(5) == 105.0 == clock()
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1)
    with pytest.raises(TimeoutError, match=r"the sky did not hold within 0\.05s"):
        await run_until(lambda: False, timeout=0.05, what="the sky")
