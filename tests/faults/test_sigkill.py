"""NFR-007: the process SIGKILLed in the middle of a batch, then started again.

``tests/integration/test_process.py`` checks the same on the alert topic; this run counts what
reached the channel, as the fault table reports.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dq_monitor.testing import HttpReceiver, Reply, eventually
from tests.faults import harness as h
from tests.integration.conftest import Kafka

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.mark.req("NFR-007", "NFR-004")
async def test_sigkill_mid_batch_loses_no_alert(kafka: Kafka, tmp_path: Path) -> None:
    incidents = h.Incidents(sources=24, rounds=2)
    await kafka.create(kafka.topic("updates"), partitions=2)
    # a receiver taking 50 ms per request: with several deliveries in flight the router would
    # otherwise deliver the whole first burst before the first request is noticed
    hook = HttpReceiver(default=Reply(delay=0.05))
    url = await hook.start()
    config = tmp_path / "config.yaml"
    config.write_text(h.config_text(kafka.bootstrap, kafka.prefix, incidents, url))
    monitor = h.Service(config, tmp_path / "monitor.log")
    producer = h.Producer(kafka.bootstrap)
    topic = kafka.topic("updates")
    context: dict[str, float] = {}
    try:
        with h.services(monitor.start()):
            await monitor.wait_for("assigned partitions")
            # one burst: the monitor fetches it in a batch or two and is killed inside them
            await producer.send(topic, incidents.events(0, "bad") + incidents.events(0, "good"))
            await eventually(lambda: len(hook.requests) >= 1, 20, interval=0.01)
            context["delivered_before_kill"] = len(hook.requests)
            killed = time.monotonic()
            monitor.kill()
            monitor.start()
            await producer.send(topic, incidents.events(1, "bad") + incidents.events(1, "good"))
            expected = incidents.expected()
            await eventually(lambda: expected <= {(p["source"], p["status"], float(p["observed"]))
                                             for p in (r.json() for r in hook.requests)}, 60)
            context["recovered_in_s"] = round(time.monotonic() - killed, 2)
    finally:
        await producer.close()
        await hook.stop()
    result = h.figures("process SIGKILLed mid-batch", expected, [r.json() for r in hook.requests],
                     context=context)
    h.record("sigkill_mid_batch", result)
    assert result["lost"] == 0, (result, monitor.text()[-3000:])
    assert context["delivered_before_kill"] < len(expected) // 2  # it died mid-way
