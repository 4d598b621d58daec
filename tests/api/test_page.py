"""The status page as HTML: what it shows, and that nothing from outside can inject markup."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dq_monitor.api import page
from dq_monitor.api.views import (
    AlertsResponse,
    CheckState,
    FiringAlert,
    SilencesResponse,
    SourcesResponse,
    SourceStatus,
)

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.mark.req("FR-019")
def test_the_page_escapes_names_and_needs_no_script_or_external_asset() -> None:
    evil = "<script>alert(1)</script>"
    alerts = AlertsResponse(instance="i", generated_at=NOW, alerts=[FiringAlert(
        fingerprint="f", alert_id="a", check="freshness", source=evil, subject=None,
        severity="FAIL", since=datetime(2026, 12, 3, 8, 0, tzinfo=UTC), observed=1.0,
        expected=2.0, detail=f"detail {evil}", silenced_by=[])])
    sources = SourcesResponse(instance="i", generated_at=NOW, partitions=[0], sources=[
        SourceStatus(name=evil, owned=True, last_update=None, staleness_s=4000.0,
                     max_staleness_s=600.0, checks=[CheckState(
                         check="freshness", subject=None, verdict="FAIL", firing="FAIL",
                         detail="stale")])])
    html = page.render(alerts, sources, SilencesResponse(silences=[]), NOW,
                       service="dq-monitor").decode()
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "src=" not in html and "http://" not in html and "https://" not in html
    assert "1 alert firing" in html and "(60m ago)" in html
    assert "No active or pending silences." in html


@pytest.mark.req("NFR-002", "FR-010", "FR-019")
def test_each_channels_backlog_and_delivery_age_are_shown_and_served() -> None:
    from dq_monitor.api.firing import FiringView
    from dq_monitor.api.views import sources_view
    from dq_monitor.config import parse_config
    from dq_monitor.telemetry import ChannelDelivery

    cfg = parse_config("""
kafka: {bootstrap_servers: "localhost:9092", input_topics: [in], alert_topic: al,
        dead_letter_topic: dl}
sources: [{name: a.b, freshness: {max_staleness: 1h}}]
""", env={})
    view = sources_view("i", cfg, None, FiringView(), NOW, [
        ChannelDelivery("pager<b>", backlog=1250, age_s=95.0, behind=True),
        ChannelDelivery("hook", backlog=0, age_s=None, behind=False)])
    assert [d.model_dump() for d in view.deliveries] == [
        {"channel": "pager<b>", "backlog": 1250, "delivery_age_s": 95.0, "behind": True},
        {"channel": "hook", "backlog": 0, "delivery_age_s": None, "behind": False}]
    html = page.render(AlertsResponse(instance="i", generated_at=NOW, alerts=[]), view,
                       SilencesResponse(silences=[]), NOW, service="dq-monitor").decode()
    rows = html.split('<table id="deliveries">')[1].split("</table>")[0]
    assert 'data-channel="pager&lt;b&gt;"' in rows and "<td>1250</td><td>95s</td>" in rows
    assert "behind: reads the alert topic at its own pace" in rows
    assert "<td>0</td><td>—</td>" in rows and "keeping up" in rows
    no_router = sources_view("i", cfg, None, FiringView(), NOW)
    assert no_router.deliveries == []
    assert "No channels delivered by this instance." in page.render(
        AlertsResponse(instance="i", generated_at=NOW, alerts=[]), no_router,
        SilencesResponse(silences=[]), NOW, service="dq-monitor").decode()
