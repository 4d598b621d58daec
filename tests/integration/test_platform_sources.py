"""FR-024 from outside, on a real broker: one ``match`` entry monitors 30 sources it was never
told about, wherever their records land; their alerts carry owner, labels and runbook; a route
on ``labels: {tier: gold}`` sends their FAILs to a real SMTP server and Slack shows the runbook
as a link."""

from __future__ import annotations

import anyio
import pytest

from dq_monitor.routing.router import AlertRouter
from dq_monitor.testing import HttpReceiver, smtp_server
from tests.integration.conftest import Kafka, config_for, now_rfc3339, running, serving

pytestmark = pytest.mark.integration

RUNBOOK = "https://runbooks.example.com/shop"

SOURCES = f"""
  - name: warehouse.orders
    completeness: {{min_row_count: 1}}
  - match: "shop.main.*"
    max_sources: 30
    owner: team-shop
    labels: {{tier: gold, domain: sales}}
    runbook_url: {RUNBOOK}
    completeness: {{min_row_count: 1}}
"""


async def until(predicate: object, timeout: float = 30) -> None:
    with anyio.fail_after(timeout):
        while not predicate():  # type: ignore[operator]
            await anyio.sleep(0.05)


@pytest.mark.req("FR-024", "FR-007", "FR-008")
async def test_one_pattern_monitors_thirty_sources_and_routes_them_by_label(
        kafka: Kafka) -> None:
    await kafka.create(kafka.topic("updates"), kafka.topic("metrics"), partitions=2)
    slack = HttpReceiver()
    url = await slack.start()
    with smtp_server() as smtp:
        cfg = config_for(kafka, SOURCES, f"""
routing:
  routes:
    - match: {{labels: {{tier: gold}}, severity: FAIL}}
      channels: [oncall-email, slack-dq]
    - match: {{}}
      channels: [slack-dq]
channels:
  slack-dq: {{type: slack, webhook_url: "{url}/hook"}}
  oncall-email: {{type: email, host: 127.0.0.1, port: {smtp.port}, from: dq@example.com,
                  to: [oncall@example.com]}}
""")
        names = [f"shop.main.t{i:02d}" for i in range(30)]
        async with running(cfg) as service, serving(AlertRouter(cfg)):
            for i, name in enumerate(names):
                # keyed by anything: a discovered source is placed like a named one
                await kafka.send(kafka.topic("updates"), {
                    "type": "table_update", "source": name, "updated_at": now_rfc3339(),
                    "row_count": 0}, key=f"batch-{i}")
            alerts = await kafka.read(kafka.topic("alerts"), lambda xs: len(xs) >= 30,
                                      timeout=40)
            # one past the cap, sent once the 30 are in: partitions are read in no fixed order,
            # so sent with them it could take the place of one of them
            await kafka.send(kafka.topic("updates"), {
                "type": "table_update", "source": "shop.main.overflow",
                "updated_at": now_rfc3339(), "row_count": 0}, key="x")
            dead = await kafka.read(kafka.topic("dead"), lambda xs: len(xs) >= 1)
            await until(lambda: len(smtp.received) >= 30 and len(slack.requests) >= 30)
            discovered = set(service.monitor.sources)
            rerouted = service.stats["events.rerouted"]
        mails = list(smtp.received)
    await slack.stop()
    assert sorted(a["source"] for a in alerts) == names
    for a in alerts:
        assert (a["check"], a["severity"], a["status"]) == ("completeness", "FAIL", "firing")
        assert a["owner"] == "team-shop"
        assert a["labels"] == {"tier": "gold", "domain": "sales"}
        assert a["runbook_url"] == RUNBOOK
    assert discovered == {*names, "warehouse.orders"}
    assert rerouted > 0  # records that landed away from their source's home went there
    assert [(d["kind"], d["source"]) for d in dead] == [
        ("source_cap_exceeded", "shop.main.overflow")]
    assert len(mails) == 30
    for m in mails:
        text = m.content.decode(errors="replace")
        assert "Owner: team-shop" in text and RUNBOOK in text
    for r in slack.requests:
        assert f"<{RUNBOOK}|Runbook>" in str(r.json()["attachments"][0]["blocks"])
