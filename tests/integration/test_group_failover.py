"""FR-027 under failure, from outside: two ``dq-monitor route`` processes share a 4-partition
alert topic and its groups topic; the one notifying a group is SIGKILLed mid-incident, and the
survivor sends the group's update and its resolution, once each."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from dq_monitor.config import load_config
from dq_monitor.routing.group import decode, is_group_key
from dq_monitor.testing import HttpReceiver, make_alert
from dq_monitor.testing import eventually as until
from tests.faults.harness import Service
from tests.integration.conftest import HEARTBEAT, SESSION_TIMEOUT, Kafka

pytestmark = [pytest.mark.integration, pytest.mark.req("FR-027", "FR-021")]

CONFIG = """
kafka:
  bootstrap_servers: "{bootstrap}"
  group_id: {prefix}-mon
  input_topics: [{prefix}.in]
  alert_topic: {prefix}.alerts
  dead_letter_topic: {prefix}.dead
  session_timeout: {session}
  heartbeat_interval: {heartbeat}
telemetry: {{http_port: 0}}
sources:
  - name: warehouse.orders
routing:
  group_by: [source]
  group_wait: 1s
  group_interval: 1s
  routes:
    - channels: [hook]
channels:
  hook: {{type: webhook, url: "{url}/{name}"}}
"""


async def test_the_survivor_sends_the_groups_update_and_resolution_once(
    kafka: Kafka, tmp_path: Path
) -> None:
    await kafka.create(kafka.topic("alerts"), partitions=4)
    hook = HttpReceiver()
    url = await hook.start()
    routers: dict[str, Service] = {}
    for name in ("a", "b"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(CONFIG.format(bootstrap=kafka.bootstrap, prefix=kafka.prefix, url=url,
                                      name=name, session=SESSION_TIMEOUT, heartbeat=HEARTBEAT))
        routers[name] = Service(path, tmp_path / f"{name}.log", command="route")
    fps = [f"{i:02x}" * 16 for i in range(4)]

    async def fire(fp: str, status: str = "firing") -> None:
        alert = make_alert(fp=fp, alert_id=f"{status}-{fp}", status=status)  # type: ignore[arg-type]
        await kafka.send(kafka.topic("alerts"), alert.to_json(), key=fp)

    try:
        started = [routers[n].start() for n in ("a", "b")]
        for process in started:
            await process.wait_for("router ready")
        await until(lambda: all("groups partitions" in p.text() for p in started), 30)
        for fp in fps[:3]:
            await fire(fp)
        assert await until(lambda: len(hook.requests) >= 1, 20)
        # the first notification's state is on the delivery log (a kill before that would
        # make the survivor send it again: at least once)
        log_topic = load_config(tmp_path / "a.yaml").kafka.delivery_log

        def carried(records: list[Any]) -> bool:
            groups = [decode(r.key, r.value)[1] for r in records
                      if r.key is not None and is_group_key(r.key)]
            return any(g is not None and len(g.carried) == 3 for g in groups)

        assert carried(await kafka.read_records(log_topic, carried, timeout=30))
        (first,) = hook.requests
        owner = first.path.strip("/")
        survivor = "b" if owner == "a" else "a"
        assert first.json()["status"] == "firing" and len(first.json()["alerts"]) == 3
        killed = time.monotonic()
        started[0 if owner == "a" else 1].kill()

        await fire(fps[3])  # mid-incident: a fourth alert joins the group
        assert await until(lambda: len(hook.requests) >= 2, 40)
        await anyio.sleep(1.5)
        for fp in fps:
            await fire(fp, "resolved")
        assert await until(lambda: any(r.json()["status"] == "resolved"
                                       for r in hook.requests), 20)
        await anyio.sleep(3)  # anything sent twice is in by now
    finally:
        for r in routers.values():
            r.stop()
        await hook.stop()

    after = [r for r in hook.requests if r.at > killed]
    assert {r.path for r in after} == {f"/{survivor}"}
    bodies = [r.json() for r in after]
    states = [sorted((a["fingerprint"], a["status"]) for a in b["alerts"]) for b in bodies]
    # the four resolutions may straddle a group_interval flush on a loaded machine: an update
    # whose alerts are partly resolved between the two is right; the same content twice is not
    assert len(states) == len({tuple(s) for s in states}), bodies
    assert len(bodies) >= 2, bodies
    assert bodies[0]["status"] == "firing" and bodies[-1]["status"] == "resolved"
    assert all(b["status"] == "firing" and any(a["status"] == "resolved" for a in b["alerts"])
               for b in bodies[1:-1]), bodies
    assert {b["group_key"] for b in bodies} == {first.json()["group_key"]}
    assert states[0] == [(fp, "firing") for fp in sorted(fps)]
    # each alert's resolution is sent once: in an update that straddled, or in the resolution
    resolutions = [a["fingerprint"] for b in bodies[1:] for a in b["alerts"]
                   if a["status"] == "resolved"]
    assert sorted(resolutions) == sorted(fps), bodies
    assert {a["status"] for a in bodies[-1]["alerts"]} == {"resolved"}
