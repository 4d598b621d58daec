"""Held deliveries across a router restart, from outside (NFR-008, FR-018): a real broker, the
router, a real webhook receiver and the silences topic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import anyio
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from dq_monitor.config import Config
from dq_monitor.events import Alert
from dq_monitor.routing.router import AlertRouter
from dq_monitor.silence import Silence, SilenceRequest
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


BEFORE = [("sales.daily-firing", "firing"), ("sales.daily-resolved", "resolved"),
          ("sales.weekly-firing", "firing"), ("sales.weekly-resolved", "resolved")]
RELEASED = ("warehouse.orders-firing", "firing")


def router_config(kafka: Kafka, url: str) -> Config:
    return config_for(kafka, "  - name: warehouse.orders", f"""
routing:
  dedup_window: {WINDOW:g}s
  routes: [{{channels: [hook]}}]
channels:
  hook: {{type: webhook, url: "{url}/a"}}
""", inputs=("in",), group="mon")


async def hold_one_and_deliver_others(kafka: Kafka, router: AlertRouter,
                                      hook: HttpReceiver) -> Silence:
    """A silence holds one alert; another source fires and recovers (delivered); more than
    ``dedup_window`` later a third does (its delivery expires the second's dedup entries)."""
    silence = await router.silences.add(SilenceRequest(
        source="warehouse.*", created_by="ana", comment="backfill", duration="1h"),
        datetime.now(UTC))
    await publish(kafka, alert("warehouse.orders", "0d" * 16))
    await until(lambda: router.stats["hook.silenced"] >= 1)
    await publish(kafka, alert("sales.daily", "1e" * 16))
    await publish(kafka, alert("sales.daily", "1e" * 16, "resolved"))
    await until(lambda: len(posted(hook)) >= 2)
    await anyio.sleep(WINDOW + 0.5)
    await publish(kafka, alert("sales.weekly", "2f" * 16))
    await publish(kafka, alert("sales.weekly", "2f" * 16, "resolved"))
    await until(lambda: len(posted(hook)) >= 4)
    assert posted(hook) == BEFORE
    return silence


async def took_over_then_released(router: AlertRouter, hook: HttpReceiver,
                                  silence: Silence) -> None:
    """``router`` has the partition now: nothing is re-sent; the hold it restored is delivered
    once when the silence is expired."""
    await anyio.sleep(3)  # anything re-read from the alert topic would be delivered by now
    assert posted(hook) == BEFORE  # nothing re-sent
    assert router.stats["hook.silenced"] == 0  # nothing re-read to hold again
    assert sum(len(state.held) for state in router.logs.values()) == 1
    await router.silences.expire(silence.id, datetime.now(UTC))
    await until(lambda: len(posted(hook)) >= 5)
    await anyio.sleep(2)  # release checks run every second: no second delivery
    assert sum(len(state.held) for state in router.logs.values()) == 0
    assert posted(hook) == [*BEFORE, RELEASED]


@pytest.mark.req("NFR-008", "FR-018", "FR-009")
async def test_a_held_alert_pins_no_offset_and_is_delivered_once_after_a_restart(
    kafka: Kafka,
) -> None:
    hook = HttpReceiver()
    cfg = router_config(kafka, await hook.start())
    async with serving(AlertRouter(cfg)) as router:
        silence = await hold_one_and_deliver_others(kafka, router, hook)
    # NFR-006: a hold record this version cannot read is skipped and dead-lettered
    await kafka.send(kafka.topic("alerts.delivery-log"), {"reason": "from-a-newer-version"},
                     key=f"\x1fheld\x1f{'ff' * 16}\x1fhook")
    async with serving(AlertRouter(cfg)) as router:  # a restart: the hold is in the delivery log
        await took_over_then_released(router, hook, silence)
    dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= 1)
    assert [(d["kind"], "hold" in d["reason"]) for d in dead] == [("unreadable_state", True)]
    async with serving(AlertRouter(cfg)):  # the released hold was tombstoned: never again
        await anyio.sleep(3)
    await hook.stop()
    assert posted(hook) == [*BEFORE, RELEASED]


class Counted(AlertRouter):
    """The router, counting the partition assignments it was given."""

    assignments = 0

    def on_assigned(self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]) -> None:
        self.assignments += 1
        super().on_assigned(consumer, assigned)


@pytest.mark.req("NFR-008", "FR-018", "FR-021")
async def test_a_hold_moves_with_its_partition_to_the_standby_router(kafka: Kafka) -> None:
    hook = HttpReceiver()
    cfg = router_config(kafka, await hook.start())
    active, standby = AlertRouter(cfg), Counted(cfg)
    stop_active, stop_standby = anyio.Event(), anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(active.run, stop_active)
        with anyio.fail_after(30):
            await active.ready.wait()
        silence = await hold_one_and_deliver_others(kafka, active, hook)
        tg.start_soon(standby.run, stop_standby)
        with anyio.fail_after(30):
            await standby.ready.wait()
        joined = standby.assignments
        stop_active.set()  # the active router leaves: the group gives its partition out again
        await until(lambda: standby.assignments > joined and bool(standby.logs), timeout=40)
        try:
            await took_over_then_released(standby, hook, silence)
        finally:
            stop_standby.set()
    await hook.stop()
