"""NFR-007: the channel down for longer than ``max_elapsed``, then back. What could not be
delivered in time is dead-lettered (counted as not lost); what follows is delivered."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dq_monitor.testing import HttpReceiver, Reply, eventually
from tests.faults import harness as h
from tests.integration.conftest import Kafka

pytestmark = [pytest.mark.integration, pytest.mark.faults]

MAX_ELAPSED = 1.0


@pytest.mark.req("NFR-007", "FR-010")
async def test_channel_down_longer_than_max_elapsed_loses_no_alert(
    kafka: Kafka, tmp_path: Path
) -> None:
    incidents = h.Incidents(sources=6, rounds=2)
    await kafka.create(kafka.topic("updates"))
    hook = HttpReceiver()
    url = await hook.start()
    config = tmp_path / "config.yaml"
    config.write_text(h.config_text(
        kafka.bootstrap, kafka.prefix, incidents, url,
        retry=f"retry: {{initial: 100ms, cap: 300ms, max_attempts: 50, "
              f"max_elapsed: {MAX_ELAPSED:g}s}}"))
    monitor = h.Service(config, tmp_path / "monitor.log")
    producer = h.Producer(kafka.bootstrap)
    topic = kafka.topic("updates")
    context: dict[str, float] = {}
    dead: list[dict[str, object]] = []
    try:
        with h.services(monitor.start()):
            await monitor.wait_for("assigned partitions")
            await producer.send(topic, incidents.events(0, "bad"))
            await eventually(lambda: len(hook.requests) >= incidents.sources, 20)
            hook.default = Reply(503)  # down: every attempt fails
            down = time.monotonic()
            await producer.send(topic, incidents.events(0, "good"))
            dead = await kafka.read(kafka.topic("dead"),
                                    lambda xs: len(xs) >= incidents.sources, timeout=30)
            context["channel_down_s"] = round(time.monotonic() - down, 2)
            hook.default = Reply(200)  # back
            await producer.send(topic, incidents.events(1, "bad") + incidents.events(1, "good"))
            expected = incidents.expected()
            await eventually(lambda: {(s, st, o) for s, st, o in expected if o < 2_000_000
                                 or o >= 2_000_100} <= ok(hook), 30)
    finally:
        await producer.close()
        await hook.stop()
    result = h.figures(f"channel down > max_elapsed ({MAX_ELAPSED:g}s), then back", expected,
                     ok_posts(hook), dead=dead, context=context)
    h.record("channel_down", result)
    assert result["lost"] == 0, result
    assert result["dead_lettered"] == incidents.sources  # the resolutions sent while down
    assert result["delivered"] == len(expected) - incidents.sources
    assert context["channel_down_s"] > MAX_ELAPSED


def ok_posts(hook: HttpReceiver) -> list[dict[str, object]]:
    """Posts the receiver answered with 2xx (a refused post was not a delivery)."""
    return [r.json() for r in hook.requests if r.status < 300]


def ok(hook: HttpReceiver) -> set[tuple[str, str, float]]:
    return {(str(p["source"]), str(p["status"]), float(str(p["observed"])))
            for p in ok_posts(hook)}
