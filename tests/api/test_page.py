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
