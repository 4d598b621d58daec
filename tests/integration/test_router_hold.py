"""Held deliveries across a router restart, from outside (NFR-008, FR-018): a real broker, the
router, a real webhook receiver and the silences topic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import anyio
import pytest

from dq_monitor.events import Alert
from dq_monitor.routing.router import AlertRouter
from dq_monitor.silence import SilenceRequest
from dq_monitor.testing import HttpReceiver, make_alert
from tests.integration.conftest import Kafka, config_for, serving

pytestmark = pytest.mark.integration

WINDOW = 2.0  # dedup_window: the dedup entries of a recovery are gone after 2 s


def alert(source: str, fp: str, status: Literal["firing", "resolved"] = "firing") -> Alert:
    return make_alert(fp=fp, status=status, alert_id=f"{source}-{status}").model_copy(
        update={"source": source})


async def publish(kafka: Kafka, a: Alert) -> None:
    await kafka.send(kafka.topic("alerts"), a.to_json(), key=a.fingerprint)


async def until(predicate: Callable[[], bool], timeout: float = 20) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.05)


def posted(hook: HttpReceiver) -> list[tuple[str, str]]:
    """(alert id, status) of each notification sent, reminders left out."""
    return [(r.json()["alert_id"], r.json()["status"]) for r in hook.requests
            if not r.json()["repeat"]]


@pytest.mark.req("NFR-008", "FR-018", "FR-009")
async def test_a_held_alert_pins_no_offset_and_is_delivered_once_after_a_restart(
    kafka: Kafka,
) -> None:
    hook = HttpReceiver()
    url = await hook.start()
    cfg = config_for(kafka, "  - name: warehouse.orders", f"""
routing:
  dedup_window: {WINDOW:g}s
  routes: [{{channels: [hook]}}]
channels:
  hook: {{type: webhook, url: "{url}/a"}}
""", inputs=("in",), group="mon")
    held = alert("warehouse.orders", "0d" * 16)
    async with serving(AlertRouter(cfg)) as router:
        silence = await router.silences.add(SilenceRequest(
            source="warehouse.*", created_by="ana", comment="backfill", duration="1h"),
            datetime.now(UTC))
        await publish(kafka, held)
        await until(lambda: router.stats["hook.silenced"] >= 1)
        # another source fires and recovers: delivered
        await publish(kafka, alert("sales.daily", "1e" * 16))
        await publish(kafka, alert("sales.daily", "1e" * 16, "resolved"))
        await until(lambda: len(posted(hook)) >= 2)
        await anyio.sleep(WINDOW + 0.5)  # the recovery's dedup entry expires at the next record
        await publish(kafka, alert("sales.weekly", "2f" * 16))
        await publish(kafka, alert("sales.weekly", "2f" * 16, "resolved"))
        await until(lambda: len(posted(hook)) >= 4)
    before = [("sales.daily-firing", "firing"), ("sales.daily-resolved", "resolved"),
              ("sales.weekly-firing", "firing"), ("sales.weekly-resolved", "resolved")]
    assert posted(hook) == before

    async with serving(AlertRouter(cfg)) as router:  # a restart: the hold is in the delivery log
        await anyio.sleep(3)  # anything re-read from the alert topic would be delivered by now
        assert posted(hook) == before  # nothing re-sent
        assert router.stats["hook.silenced"] == 0  # nothing re-read to hold again
        assert sum(len(state.held) for state in router.logs.values()) == 1
        await router.silences.expire(silence.id, datetime.now(UTC))
        await until(lambda: len(posted(hook)) >= 5)
        await anyio.sleep(2)  # release checks run every second: no second delivery
        assert sum(len(state.held) for state in router.logs.values()) == 0
    assert posted(hook) == [*before, ("warehouse.orders-firing", "firing")]

    async with serving(AlertRouter(cfg)):  # the released hold was tombstoned: never again
        await anyio.sleep(3)
    await hook.stop()
    assert posted(hook) == [*before, ("warehouse.orders-firing", "firing")]
