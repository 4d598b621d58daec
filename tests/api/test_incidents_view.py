"""FR-027 in the alerts view and on the status page: which alert inhibits which, and who
acknowledged it (pure: the view is built from the firing alerts, the rules and the lineage)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dq_monitor.acks import Ack, AckBook
from dq_monitor.api import page
from dq_monitor.api.firing import FiringView
from dq_monitor.api.views import SilencesResponse, SourcesResponse, alerts_view
from dq_monitor.config import parse_config
from dq_monitor.events import Alert
from dq_monitor.routing.inhibit import Inhibitor, Lineage
from dq_monitor.silence import SilenceSet
from dq_monitor.testing import make_alert

pytestmark = pytest.mark.req("FR-027")

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CFG = parse_config("""
kafka: {bootstrap_servers: "localhost:9092", input_topics: [in], alert_topic: al,
        dead_letter_topic: dl}
sources: [{name: raw.orders}, {name: main.revenue, upstream: [raw.orders]}]
""", env={})


def stale(source: str, fp: str) -> Alert:
    return make_alert(fp=fp).model_copy(update={"source": source, "check": "freshness"})


def test_the_view_names_the_inhibiting_alert_and_the_acknowledgement() -> None:
    view = FiringView()
    inhibitor = Inhibitor(lineage=Lineage({"main.revenue": ["raw.orders"]}))
    upstream, downstream = stale("raw.orders", "0a" * 16), stale("main.revenue", "0b" * 16)
    for alert in (upstream, downstream):
        view.apply(alert)
        inhibitor.observe(alert)
    acks = AckBook(CFG.kafka)
    acks._put(Ack(fingerprint=upstream.fingerprint, by="ana", comment="on it <b>",
                  at=upstream.detected_at + timedelta(minutes=1)))
    response = alerts_view("i", view, SilenceSet(), NOW, inhibitor, acks)
    shown = {a.source: a for a in response.alerts}
    assert shown["main.revenue"].inhibited_by == upstream.fingerprint
    assert shown["raw.orders"].inhibited_by is None
    ack = shown["raw.orders"].acknowledged
    assert ack is not None and ack.by == "ana"
    assert shown["main.revenue"].acknowledged is None
    html = page.render(response, SourcesResponse(instance="i", generated_at=NOW, partitions=[],
                                                 sources=[]),
                       SilencesResponse(silences=[]), NOW, service="dq-monitor").decode()
    assert f"inhibited by {upstream.fingerprint}" in html
    assert "acknowledged by ana: on it &lt;b&gt;" in html


def test_an_acknowledgement_covers_the_episode_it_was_made_in_only() -> None:
    alert = make_alert()
    ack = Ack(fingerprint=alert.fingerprint, by="ana", comment="", at=alert.detected_at)
    assert ack.covers(alert)
    later = alert.model_copy(update={"detected_at": alert.detected_at + timedelta(seconds=1)})
    assert not ack.covers(later)  # a re-fire or an escalation since is news again
    assert not ack.covers(alert.model_copy(update={"fingerprint": "ff" * 16}))
