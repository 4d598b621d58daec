"""NFR-007: one of two monitor instances SIGKILLed; the survivor takes over its partitions with
their state, so the incidents the dead one saw open still resolve."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dq_monitor.testing import HttpReceiver, eventually
from tests.faults import harness as h
from tests.integration.conftest import Kafka

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.mark.req("NFR-007", "NFR-004", "FR-016")
async def test_one_of_two_instances_killed_loses_no_alert(kafka: Kafka, tmp_path: Path) -> None:
    incidents = h.Incidents(sources=16, rounds=2)
    await kafka.create(kafka.topic("updates"), partitions=4)
    hook = HttpReceiver()
    url = await hook.start()
    config = tmp_path / "config.yaml"
    config.write_text(h.config_text(kafka.bootstrap, kafka.prefix, incidents, url))
    first, second = h.Service(config, tmp_path / "a.log"), h.Service(config, tmp_path / "b.log")
    producer = h.Producer(kafka.bootstrap)
    topic = kafka.topic("updates")
    taken: dict[str, float] = {}
    try:
        with h.services(first.start(), second.start()):
            await first.wait_for("assigned partitions")
            await second.wait_for("assigned partitions")
            await eventually(lambda: first.text().count("assigned partitions")
                        + second.text().count("assigned partitions") >= 3, 20)
            await producer.send(topic, incidents.events(0, "bad"))
            opened = {(s, "firing", o) for s, st, o in incidents.expected([0]) if st == "firing"}
            await eventually(lambda: opened <= seen(hook), 30)
            taken["sources_on_killed"] = watched(first.text())
            killed = time.monotonic()
            first.kill()  # its sources are firing; their recovery arrives after it died
            for rnd, kind in ((0, "good"), (1, "bad"), (1, "good")):
                await producer.send(topic, incidents.events(rnd, kind))
            expected = incidents.expected()
            await eventually(lambda: expected <= seen(hook), 60)
            taken["recovered_in_s"] = round(time.monotonic() - killed, 2)
    finally:
        await producer.close()
        await hook.stop()
    result = h.figures("one of two instances SIGKILLed", expected,
                     [r.json() for r in hook.requests], context=taken)
    h.record("instance_kill", result)
    assert taken["sources_on_killed"] > 0, first.text()[-3000:]
    assert result["lost"] == 0, (result, second.text()[-3000:])
    assert result["delivered"] == len(expected)


def seen(hook: HttpReceiver) -> set[tuple[str, str, float]]:
    return {(p["source"], p["status"], float(p["observed"])) for p in
            (r.json() for r in hook.requests)}


def watched(log: str) -> int:
    """Sources the instance watched at its last assignment (from its own log line)."""
    line = [x for x in log.splitlines() if "assigned partitions" in x][-1]
    return int(line.rsplit("(", 1)[1].split()[0])
