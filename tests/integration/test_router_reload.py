"""FR-025 in the router, on a real broker with real HTTP receivers: a reload swaps routes and
channels between two alerts; a removed channel gets nothing more, an added one gets its first
alert, a changed one is rebuilt, and delivery state (dedup) survives the swap."""

from __future__ import annotations

import anyio
import pytest

from dq_monitor.config import Config
from dq_monitor.routing.router import AlertRouter
from dq_monitor.testing import HttpReceiver, make_alert
from tests.integration.conftest import Kafka, config_for, serving

pytestmark = pytest.mark.integration


def router_config(kafka: Kafka, channels: str, routes: str) -> Config:
    return config_for(kafka, "  - name: warehouse.orders", f"""
routing:
  dedup_window: 5m
  routes:
{routes}
channels:
{channels}
""", inputs=("in",), group="mon")


async def until(predicate: object, timeout: float = 20) -> None:
    with anyio.fail_after(timeout):
        while not predicate():  # type: ignore[operator]
            await anyio.sleep(0.05)


@pytest.mark.req("FR-025", "FR-007")
async def test_a_reload_swaps_routes_and_channels_without_losing_dedup(kafka: Kafka) -> None:
    old, new, changed = HttpReceiver(), HttpReceiver(), HttpReceiver()
    old_url, new_url, changed_url = await old.start(), await new.start(), await changed.start()
    first = router_config(kafka, f"""
  old: {{type: webhook, url: "{old_url}/a"}}
  kept: {{type: webhook, url: "{changed_url}/before"}}
""", """
    - match: {}
      channels: [old, kept]
""")
    second = router_config(kafka, f"""
  new: {{type: webhook, url: "{new_url}/b"}}
  kept: {{type: webhook, url: "{changed_url}/after"}}
""", """
    - match: {owner: team-*}
      channels: [new, kept]
""")
    a1 = make_alert(fp="11" * 16).model_copy(update={"owner": "team-orders"})
    a2 = make_alert(fp="22" * 16).model_copy(update={"owner": "team-shop"})
    async with serving(AlertRouter(first)) as router:
        await kafka.send(kafka.topic("alerts"), a1.to_json(), key=a1.fingerprint)
        await until(lambda: len(old.requests) == 1 and len(changed.requests) == 1)
        await router.reconfigure(second)
        await kafka.send(kafka.topic("alerts"), a1.to_json(), key=a1.fingerprint)  # a copy
        await kafka.send(kafka.topic("alerts"), a2.to_json(), key=a2.fingerprint)
        await until(lambda: len(new.requests) == 2 and len(changed.requests) == 2)
        await anyio.sleep(0.5)
    for server in (old, new, changed):
        await server.stop()
    assert len(old.requests) == 1  # removed: nothing after the reload
    assert sorted(r.json()["fingerprint"] for r in new.requests) == [a1.fingerprint,
                                                                     a2.fingerprint]
    assert [(r.path, r.json()["fingerprint"]) for r in changed.requests] == [
        ("/before", a1.fingerprint), ("/after", a2.fingerprint)]  # the copy deduplicated
