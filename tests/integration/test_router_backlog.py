"""A channel that falls behind, from outside (NFR-002, FR-010): a real broker, the router and
two real webhook receivers, one of them slow. The slow one is reported and catches up later;
nothing is dead-lettered or lost, and the other channel is not held up meanwhile."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Literal

import anyio
import pytest

from dq_monitor.config import Config
from dq_monitor.events import Alert
from dq_monitor.kafka.headers import TRIGGERED_HEADER
from dq_monitor.routing.router import AlertRouter
from dq_monitor.telemetry import Telemetry
from dq_monitor.testing import HttpReceiver, Reply, make_alert
from tests.integration.conftest import Kafka, config_for, serving

pytestmark = pytest.mark.integration

FIRING = 30
RESOLVED = 10  # the first ten episodes also resolve, behind their firing alerts


def alert(i: int, status: Literal["firing", "resolved"] = "firing") -> Alert:
    return make_alert(fp=f"{i:032x}", status=status, alert_id=f"a{i}-{status}")


async def until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.05)


def router_config(kafka: Kafka, fast: str, slow: str) -> Config:
    return config_for(kafka, "  - name: warehouse.orders", f"""
routing:
  queue_size: 4
  routes: [{{channels: [fast, slow]}}]
channels:
  fast: {{type: webhook, url: "{fast}/fast"}}
  slow: {{type: webhook, url: "{slow}/slow", max_in_flight: 2, timeout: 30s}}
""", inputs=("in",), group="mon")


def sent(hook: HttpReceiver) -> list[str]:
    return [r.json()["alert_id"] for r in hook.requests]


def backlog_metric(telemetry: Telemetry, channel: str) -> float:
    text = telemetry.metrics_text().decode()
    match = re.search(rf'^dq_channel_backlog\{{channel="{channel}"\}} (\S+)$', text, re.M)
    assert match, text
    return float(match.group(1))


@pytest.mark.req("NFR-002", "FR-010", "FR-009")
async def test_a_slow_channel_falls_behind_loudly_then_catches_up_and_loses_nothing(
    kafka: Kafka, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dq_monitor.router")
    expected = [f"a{i}-firing" for i in range(FIRING)] + [
        f"a{i}-resolved" for i in range(RESOLVED)]
    async with HttpReceiver() as fast, HttpReceiver(default=Reply(delay=0.4)) as slow:
        cfg = router_config(kafka, fast.url, slow.url)
        telemetry = Telemetry(cfg.telemetry)
        async with serving(AlertRouter(cfg, telemetry=telemetry)) as router:
            for a in [alert(i) for i in range(FIRING)] + [
                    alert(i, "resolved") for i in range(RESOLVED)]:
                await kafka.send(kafka.topic("alerts"), a.to_json(), key=a.fingerprint)
                await anyio.sleep(0.02)  # a storm of 50 alerts a second
            # the fast channel gets everything while the slow one has had a few
            await until(lambda: len(fast.requests) >= len(expected))
            assert len(slow.requests) < len(expected) // 2
            await until(lambda: "falls behind" in caplog.text, timeout=5)
            status = {d.channel: d for d in router.delivery_status()}
            assert status["slow"].behind and status["slow"].backlog > 4
            assert status["slow"].age_s is not None and status["slow"].age_s > 0
            assert not status["fast"].behind and status["fast"].backlog == 0
            assert backlog_metric(telemetry, "slow") > 4
            assert backlog_metric(telemetry, "fast") == 0
            slow.default = Reply()  # the receiver speeds up
            await until(lambda: len(slow.requests) >= len(expected))
            await until(lambda: "caught up" in caplog.text, timeout=5)
            await until(lambda: backlog_metric(telemetry, "slow") == 0, timeout=5)
            assert not any(k.startswith("dead_letter") for k in router.stats)
        await telemetry.aclose()
        # a restart re-sends nothing: every offset was committed once delivered
        async with serving(AlertRouter(cfg)):
            await anyio.sleep(2)
    assert sorted(sent(fast)) == sorted(expected) and len(sent(fast)) == len(expected)
    assert sorted(sent(slow)) == sorted(expected) and len(sent(slow)) == len(expected)
    for hook in (fast, slow):  # every recovery after its firing alert
        order = sent(hook)
        assert all(order.index(f"a{i}-firing") < order.index(f"a{i}-resolved")
                   for i in range(RESOLVED))
    warnings = [r for r in caplog.records if "falls behind" in r.getMessage()]
    assert [(r.levelno, "'slow'" in r.getMessage()) for r in warnings] == [
        (logging.WARNING, True)]
    dead = await kafka.read(kafka.topic("dead"), lambda xs: False, timeout=1)
    assert dead == []


@pytest.mark.req("NFR-002", "FR-010")
async def test_the_latency_histogram_counts_dead_lettered_alerts_too(kafka: Kafka) -> None:
    async with HttpReceiver() as good, HttpReceiver(default=Reply(500)) as bad:
        cfg = config_for(kafka, "  - name: warehouse.orders", f"""
routing:
  retry: {{initial: 50ms, max_attempts: 2, max_elapsed: 5s}}
  routes: [{{channels: [good, bad]}}]
channels:
  good: {{type: webhook, url: "{good.url}/ok"}}
  bad: {{type: webhook, url: "{bad.url}/fail"}}
""", inputs=("in",), group="mon")
        telemetry = Telemetry(cfg.telemetry)
        async with serving(AlertRouter(cfg, telemetry=telemetry)) as router:
            a = alert(1)
            producer = await kafka.producer()  # as the monitor writes it: with its trigger time
            await producer.send_and_wait(
                kafka.topic("alerts"), a.to_json(), key=a.fingerprint.encode(),
                headers=[(TRIGGERED_HEADER, b"%d" % int(time.time() * 1000))])
            await until(lambda: router.stats["bad.failed"] == 1 and len(good.requests) == 1)
        text = telemetry.metrics_text().decode()
        await telemetry.aclose()
    counts = dict(re.findall(
        r'^dq_alert_latency_seconds_count\{channel="(\w+)".*outcome="(\w+)".*\} 1\.0$', text,
        re.M))
    assert counts == {"good": "delivered", "bad": "dead_lettered"}, text


@pytest.mark.req("FR-010", "FR-009", "NFR-008")
async def test_a_restart_while_a_channel_lags_re_sends_nothing_the_others_delivered(
        kafka: Kafka) -> None:
    """The slow channel holds the commit back for longer than ``dedup_window``; the fast one
    must still know, after the restart, every episode it delivered from the alerts read
    again."""
    episodes = [alert(i) for i in range(8)]
    async with HttpReceiver() as fast, HttpReceiver(default=Reply(hang=True)) as slow:
        cfg = config_for(kafka, "  - name: warehouse.orders", f"""
routing:
  dedup_window: 1s
  queue_size: 2
  routes: [{{channels: [fast, slow]}}]
channels:
  fast: {{type: webhook, url: "{fast.url}/fast"}}
  slow: {{type: webhook, url: "{slow.url}/slow", max_in_flight: 1, timeout: 60s}}
""", inputs=("in",), group="mon")
        async with serving(AlertRouter(cfg)):
            for a in episodes:
                for one in (a, a.model_copy(update={"status": "resolved",
                                                    "alert_id": f"{a.alert_id}-resolved"})):
                    await kafka.send(kafka.topic("alerts"), one.to_json(),
                                     key=one.fingerprint)
            await until(lambda: len(fast.requests) >= 2 * len(episodes))
            await anyio.sleep(1.5)  # the recoveries are older than dedup_window now
            last = alert(99)
            await kafka.send(kafka.topic("alerts"), last.to_json(), key=last.fingerprint)
            await until(lambda: "a99-firing" in sent(fast))
            await anyio.sleep(0.5)
        slow.default = Reply()  # the slow receiver is back; the router restarts
        async with serving(AlertRouter(cfg)):
            await until(lambda: "a99-firing" in [
                r.json()["alert_id"] for r in slow.requests if r.status == 200])
            await anyio.sleep(1)
    pages = [r.json()["alert_id"] for r in fast.requests if not r.json()["repeat"]]
    expected = [x for a in episodes for x in (a.alert_id, f"{a.alert_id}-resolved")]
    # each once: nothing re-sent after the restart
    assert sorted(pages) == sorted([*expected, "a99-firing"])
    slow_pages = [r.json()["alert_id"] for r in slow.requests
                  if r.status == 200 and not r.json()["repeat"]]
    assert sorted(slow_pages) == sorted([*expected, "a99-firing"])
