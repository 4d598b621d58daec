"""FR-021 from outside: two ``dq-monitor route`` processes share a 4-partition alert topic; one
is SIGKILLed in the middle of firing episodes with reminders due."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from pathlib import Path

import pytest

from dq_monitor.testing import HttpReceiver, make_alert
from dq_monitor.testing import eventually as until
from tests.faults.harness import Service
from tests.integration.conftest import HEARTBEAT, SESSION_TIMEOUT, Kafka

pytestmark = pytest.mark.integration

WINDOW = 3.0  # dedup_window: reminders every 3 s while an alert fires

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
  dedup_window: {window:g}s
  routes:
    - channels: [hook]
channels:
  hook: {{type: webhook, url: "{url}/{name}"}}
"""


@pytest.mark.req("FR-021", "FR-009")
async def test_a_router_killed_mid_episode_hands_over_its_delivery_state(
    kafka: Kafka, tmp_path: Path
) -> None:
    await kafka.create(kafka.topic("alerts"), partitions=4)
    hook = HttpReceiver()
    url = await hook.start()
    routers: dict[str, Service] = {}
    for name in ("a", "b"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(CONFIG.format(bootstrap=kafka.bootstrap, prefix=kafka.prefix, url=url,
                                      name=name, session=SESSION_TIMEOUT, heartbeat=HEARTBEAT,
                                      window=WINDOW))
        routers[name] = Service(path, tmp_path / f"{name}.log", command="route")
    fps = [f"{i:02x}" * 16 for i in range(8)]
    try:
        with_a, with_b = routers["a"].start(), routers["b"].start()
        await with_a.wait_for("router ready")
        await with_b.wait_for("router ready")
        await until(lambda: "restored" in with_a.text() and "restored" in with_b.text(), 20)
        for fp in fps:
            await kafka.send(kafka.topic("alerts"), make_alert(fp=fp, alert_id=f"f-{fp}")
                             .to_json(), key=fp)
        assert await until(lambda: len(firsts(hook)) == len(fps), 20)
        owner = {fp: path for (fp, status), path in firsts(hook).items()}
        assert set(owner.values()) == {"/a", "/b"}, owner  # both own alert partitions
        await until(lambda: any(r["repeat"] for r in posts(hook)), 10)
        killed = time.monotonic()
        with_a.kill()
        a_fps = {fp for fp, path in owner.items() if path == "/a"}
        # the survivor restores the dead router's delivery state and keeps reminding
        def taken_over() -> set[object]:
            return {p["fingerprint"] for at, path, p in timeline(hook)
                    if path == "/b" and p["repeat"] and at > killed}

        assert await until(lambda: a_fps <= taken_over(), 30), (a_fps, taken_over())
        for fp in fps:
            await kafka.send(kafka.topic("alerts"), make_alert(fp=fp, status="resolved",
                                                               alert_id=f"r-{fp}").to_json(),
                             key=fp)
        assert await until(
            lambda: sum(s == "resolved" for _, s in firsts(hook)) == len(fps), 20)
        await until(lambda: False, 2 * WINDOW)  # watch for reminders after the recoveries
    finally:
        for r in routers.values():
            r.stop()
        await hook.stop()

    sent: dict[tuple[object, object, object], int] = defaultdict(int)
    for _, _, p in timeline(hook):
        sent[(p["fingerprint"], p["status"], p["repeat"])] += 1
    for fp in fps:
        assert sent[(fp, "firing", False)] == 1, fp  # delivered once
        assert sent[(fp, "resolved", False)] == 1, fp  # the recovery reached the channel once
        reminders = [(at, path) for at, path, p in timeline(hook)
                     if p["fingerprint"] == fp and p["repeat"]]
        resolved_at = next(at for at, _, p in timeline(hook)
                           if p["fingerprint"] == fp and p["status"] == "resolved")
        assert all(at < resolved_at for at, _ in reminders), fp  # none after the recovery
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(reminders)]
        assert all(g > WINDOW / 2 for g in gaps), (fp, reminders)  # one router at a time
        before = {path for at, path in reminders if at < killed}
        assert len(before) <= 1, (fp, reminders)  # only the owner reminded


def timeline(hook: HttpReceiver) -> list[tuple[float, str, dict[str, object]]]:
    return [(r.at, r.path, r.json()) for r in hook.requests]


def posts(hook: HttpReceiver) -> list[dict[str, object]]:
    return [p for _, _, p in timeline(hook)]


def firsts(hook: HttpReceiver) -> dict[tuple[str, str], str]:
    """(fingerprint, status) → path of the router that delivered it first (not reminders)."""
    out: dict[tuple[str, str], str] = {}
    for _, path, p in timeline(hook):
        if not p["repeat"]:
            out.setdefault((str(p["fingerprint"]), str(p["status"])), path)
    return out
