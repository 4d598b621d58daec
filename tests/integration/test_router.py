"""The alert router against a real broker, a real HTTP receiver and a real SMTP server."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

from dq_monitor.config import Config
from dq_monitor.events import Alert
from dq_monitor.routing.router import AlertRouter
from dq_monitor.testing import HttpReceiver, Reply, make_alert, smtp_server
from tests.integration.conftest import Kafka, config_for, serving

pytestmark = pytest.mark.integration


def router_config(kafka: Kafka, channels: str, routes: str, retry: str = "") -> Config:
    return config_for(kafka, "  - name: warehouse.orders", f"""
routing:
  dedup_window: 5m
  {retry}
  routes:
{routes}
channels:
{channels}
""", inputs=("in",), group="mon")


SPEC_ROUTES = """
    - match: {severity: WARN}
      channels: [slack-dq]
    - match: {severity: FAIL}
      channels: [slack-dq, oncall-email]
"""


def routing(config: Config) -> contextlib.AbstractAsyncContextManager[AlertRouter]:
    return serving(AlertRouter(config))


async def publish(kafka: Kafka, alert: Alert) -> None:
    await kafka.send(kafka.topic("alerts"), alert.to_json(), key=alert.fingerprint)


async def until(predicate: Any, timeout: float = 20) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.05)


@pytest.mark.req("FR-007", "FR-008", "FR-009")
async def test_spec_routes_and_dedup_across_a_router_restart(kafka: Kafka) -> None:
    slack = HttpReceiver()
    url = await slack.start()
    with smtp_server() as smtp:
        smtp_port, mails = smtp.port, smtp.received
        cfg = router_config(kafka, f"""
  slack-dq: {{type: slack, webhook_url: "{url}/hook", channel: "#data-quality"}}
  oncall-email: {{type: email, host: 127.0.0.1, port: {smtp_port}, from: dq@example.com,
                  to: [oncall@example.com]}}
""", SPEC_ROUTES)
        warn = make_alert(severity="WARN", fp="01" * 16)
        fail = make_alert(severity="FAIL", fp="02" * 16)
        async with routing(cfg):
            await publish(kafka, warn)
            await publish(kafka, fail)
            await publish(kafka, fail)  # the monitor re-sent it (at least once)
            await until(lambda: len(slack.requests) >= 2 and len(mails) >= 1)
            await anyio.sleep(1)
        async with routing(cfg):  # a restart: the delivery log comes back from Kafka
            await publish(kafka, fail)
            resolved = make_alert(severity="FAIL", status="resolved", fp="02" * 16)
            await publish(kafka, resolved)
            await until(lambda: len(slack.requests) >= 3 and len(mails) >= 2)
            await anyio.sleep(1)
    await slack.stop()
    got = [(r.json()["text"].split(":")[0]) for r in slack.requests]
    assert got == [
        "[WARN] completeness warehouse.orders customer_id",
        "[FAIL] completeness warehouse.orders customer_id",
        "RESOLVED [FAIL] completeness warehouse.orders customer_id",
    ]
    subjects = [m.content.decode(errors="replace").split("Subject: ")[1].split("\r\n")[0]
                for m in mails]
    assert subjects == ["[FAIL] completeness warehouse.orders customer_id",
                        "RESOLVED [FAIL] completeness warehouse.orders customer_id"]


@pytest.mark.req("FR-010")
async def test_undeliverable_alert_is_dead_lettered_and_others_still_get_it(
    kafka: Kafka,
) -> None:
    good, bad = HttpReceiver(), HttpReceiver(default=Reply(500))
    good_url, bad_url = await good.start(), await bad.start()
    cfg = router_config(kafka, f"""
  good: {{type: webhook, url: "{good_url}/ok"}}
  bad: {{type: webhook, url: "{bad_url}/fail"}}
""", """
    - match: {}
      channels: [good, bad]
""", retry="retry: {initial: 50ms, max_attempts: 4, max_elapsed: 5s}")
    alert = make_alert(fp="03" * 16)
    async with routing(cfg) as router:
        started = time.monotonic()
        await publish(kafka, alert)
        dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= 1, timeout=15)
        elapsed = time.monotonic() - started
        assert router.stats["bad.failed"] == 1
    await good.stop()
    await bad.stop()
    assert elapsed < 5 + 2
    assert [d["kind"] for d in dead] == ["undeliverable_alert"]
    assert dead[0]["channel"] == "bad" and dead[0]["attempts"] == 4
    assert "HTTP 500" in dead[0]["reason"] and dead[0]["alert"]["fingerprint"] == "03" * 16
    assert len(good.requests) == 1 and len(bad.requests) == 4


@pytest.mark.req("FR-011", "FR-008")
async def test_refused_recipients_are_dead_lettered_and_counted_once(kafka: Kafka) -> None:
    with smtp_server(refuse={"lead@example.com": "550 5.1.1 no such user"}) as smtp:
        port, mails = smtp.port, smtp.received
        cfg = router_config(kafka, f"""
  mail: {{type: email, host: 127.0.0.1, port: {port}, from: dq@example.com,
          to: [oncall@example.com, lead@example.com]}}
""", """
    - channels: [mail]
""")
        alert = make_alert(fp="0a" * 16)
        async with routing(cfg) as router:
            await publish(kafka, alert)
            dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= 1, timeout=15)
            await anyio.sleep(0.5)
            stats = dict(router.stats)
    assert [m.rcpt_tos for m in mails] == [["oncall@example.com"]]  # sent once, not retried
    (record,) = dead
    assert record["kind"] == "undeliverable_alert" and record["channel"] == "mail"
    assert record["recipients"] == ["lead@example.com"]
    assert record["reason"] == "recipients refused: lead@example.com 550 5.1.1 no such user"
    assert record["alert"]["fingerprint"] == "0a" * 16
    assert stats["mail.partial"] == 1 and "mail.ok" not in stats
    assert stats["dead_letter.undeliverable_alert"] == 1


@pytest.mark.req("FR-021", "FR-009", "FR-010")
async def test_resolved_of_an_unseen_episode_and_a_failed_resolved(kafka: Kafka) -> None:
    hook = HttpReceiver(script=[Reply(200), Reply(200), Reply(400)])  # the resolved is refused
    url = await hook.start()
    cfg = router_config(kafka, f"""
  hook: {{type: webhook, url: "{url}/a"}}
""", """
    - channels: [hook]
""")
    unseen = make_alert(status="resolved", fp="0b" * 16)  # its firing went via another router
    firing = make_alert(fp="0c" * 16, alert_id="first")
    async with routing(cfg) as router:
        await publish(kafka, unseen)
        await until(lambda: len(hook.requests) >= 1)
        await publish(kafka, firing)
        await publish(kafka, make_alert(status="resolved", fp="0c" * 16))
        dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= 1, timeout=15)
        await publish(kafka, make_alert(fp="0c" * 16, alert_id="second"))  # a re-fire
        await until(lambda: len(hook.requests) >= 4)
        stats = dict(router.stats)
    await hook.stop()
    posted = [(r.json()["fingerprint"][:2], r.json()["status"]) for r in hook.requests]
    assert posted == [("0b", "resolved"), ("0c", "firing"), ("0c", "resolved"), ("0c", "firing")]
    assert stats["resolved.unseen_episode"] == 1
    assert [d["alert"]["status"] for d in dead] == ["resolved"]


@pytest.mark.req("FR-010")
async def test_a_hanging_channel_does_not_delay_the_others(kafka: Kafka) -> None:
    fast, hung = HttpReceiver(), HttpReceiver(default=Reply(hang=True))
    fast_url, hung_url = await fast.start(), await hung.start()
    cfg = router_config(kafka, f"""
  fast: {{type: webhook, url: "{fast_url}/ok"}}
  hung: {{type: webhook, url: "{hung_url}/hang", timeout: 30s}}
""", """
    - match: {}
      channels: [fast, hung]
""")
    async with routing(cfg):
        sent = []
        for i in range(5):
            sent.append(time.monotonic())
            await publish(kafka, make_alert(fp=f"{i:02d}" * 16))
        await until(lambda: len(fast.requests) >= 5, timeout=10)
    await fast.stop()
    await hung.stop()
    delays = [r.at - s for r, s in zip(fast.requests, sent, strict=True)]
    assert max(delays) < 1.0, delays  # while every delivery to "hung" is still waiting
    # five fingerprints, up to max_in_flight (8) under way at once: all stuck, none answered
    assert len(hung.requests) == 5 and hung.answered == []


async def held_then_released(kafka: Kafka, router: AlertRouter, hook: HttpReceiver,
                             release: Callable[[], Awaitable[object]]) -> dict[str, int]:
    """Publish an alert that keeps firing and an incident that begins and ends while held,
    check nothing is sent, ``release``, then return the router's stats once it delivered."""
    still = make_alert(fp="0d" * 16, alert_id="still-firing")
    over = make_alert(fp="0e" * 16, alert_id="over-while-held")
    for alert in (still, over, make_alert(fp="0e" * 16, status="resolved")):
        await publish(kafka, alert)
    await until(lambda: router.stats["hook.silenced"] >= 3)
    await anyio.sleep(1.5)  # release checks run meanwhile: still held
    assert hook.requests == []
    await release()
    await until(lambda: len(hook.requests) >= 1)
    await anyio.sleep(1.5)
    assert [(r.json()["alert_id"], r.json()["status"]) for r in hook.requests] == [
        ("still-firing", "firing")]  # once; the incident that began and ended held: never
    return dict(router.stats)


@pytest.mark.req("FR-018")
async def test_a_mute_window_holds_deliveries_then_sends_what_still_fires_once(
    kafka: Kafka,
) -> None:
    from datetime import UTC, datetime

    from dq_monitor.testing import FakeClock

    hook = HttpReceiver()
    url = await hook.start()
    cfg = config_for(kafka, "  - name: warehouse.orders", f"""
routing:
  dedup_window: 5s
  mute_windows:
    nightly: {{times: [{{start: "01:00", end: "03:00"}}], time_zone: UTC}}
  routes:
    - channels: [hook]
      mute: [nightly]
channels:
  hook: {{type: webhook, url: "{url}/a"}}
""", inputs=("in",), group="mon")
    clock = FakeClock(datetime(2026, 12, 3, 2, 0, tzinfo=UTC).timestamp())  # muted

    async def window_ends() -> None:
        clock.advance(3600)  # 03:00

    async with serving(AlertRouter(cfg, clock=clock)) as router:
        stats = await held_then_released(kafka, router, hook, window_ends)
    await hook.stop()
    assert stats["hook.silenced"] == 3 and stats["hook.ok"] == 1


@pytest.mark.req("FR-018")
async def test_a_silence_holds_deliveries_and_an_incident_over_before_it_ends_is_never_sent(
    kafka: Kafka,
) -> None:
    from datetime import UTC, datetime

    from dq_monitor.silence import SilenceRequest

    hook = HttpReceiver()
    url = await hook.start()
    cfg = config_for(kafka, "  - name: warehouse.orders", f"""
routing:
  routes: [{{channels: [hook]}}]
channels:
  hook: {{type: webhook, url: "{url}/a"}}
""", inputs=("in",), group="mon")
    async with serving(AlertRouter(cfg)) as router:
        silence = await router.silences.add(SilenceRequest(
            source="warehouse.*", created_by="ana", comment="backfill", duration="1h"),
            datetime.now(UTC))
        stats = await held_then_released(kafka, router, hook, lambda: router.silences.expire(
            silence.id, datetime.now(UTC)))
    await hook.stop()
    assert stats["hook.silenced"] == 3 and stats["hook.ok"] == 1
