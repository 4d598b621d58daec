"""FR-024: every channel shows or carries the owner, labels and runbook of the alert's source,
and routes match them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dq_monitor.channels.alertmanager import am_alert
from dq_monitor.channels.base import alert_payload
from dq_monitor.channels.email import EmailChannel, render_html
from dq_monitor.channels.pagerduty import pd_event
from dq_monitor.channels.slack import SlackChannel, slack_message
from dq_monitor.config import AlertmanagerChannel as AlertmanagerConfig
from dq_monitor.config import EmailChannel as EmailConfig
from dq_monitor.config import Route
from dq_monitor.config import SlackChannel as SlackConfig
from dq_monitor.events import Alert
from dq_monitor.routing.match import route_channels
from dq_monitor.testing import HttpReceiver, make_alert
from tests.channels.conftest import SmtpFactory
from tests.channels.test_email import parse

RUNBOOK = "https://runbooks.example.com/orders?x=1&y=2"


def owned(**kw: object) -> Alert:
    return make_alert().model_copy(update={
        "owner": "team-orders", "labels": {"tier": "gold", "domain": "sales"},
        "runbook_url": RUNBOOK, **kw})


def slack_cfg(url: str = "https://hooks.slack.com/services/T/B/x") -> SlackConfig:
    return SlackConfig.model_validate({"type": "slack", "webhook_url": url, "timeout": "2s"})


@pytest.mark.req("FR-024", "FR-008")
async def test_slack_shows_the_owner_and_the_runbook_as_a_link(http_server: HttpReceiver) -> None:
    ch = SlackChannel("slack", slack_cfg(f"{http_server.url}/hook"))
    await ch.send(owned(), repeat=False)
    await ch.aclose()
    (req,) = http_server.requests
    text = str(req.json()["attachments"][0]["blocks"])
    assert "<https://runbooks.example.com/orders?x=1&amp;y=2|Runbook>" in text
    assert "*Owner* team-orders" in text


@pytest.mark.req("FR-024", "NFR-008")
def test_slack_escapes_an_owner_that_looks_like_markup() -> None:
    body = slack_message(owned(owner="<!channel>"), False, slack_cfg())
    text = str(body)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


@pytest.mark.req("FR-024", "FR-008")
async def test_email_shows_owner_labels_and_runbook(smtp: SmtpFactory) -> None:
    with smtp() as server:
        ch = EmailChannel("mail", EmailConfig.model_validate({
            "type": "email", "host": "127.0.0.1", "port": server.port,
            "from": "dq@example.com", "to": ["oncall@example.com"], "timeout": "5s"}))
        await ch.send(owned(), repeat=False)
    (envelope,) = server.received
    _, bodies = parse(envelope)
    assert "Owner: team-orders" in bodies["text/plain"]
    assert "Labels: domain=sales, tier=gold" in bodies["text/plain"]
    assert f"Runbook: {RUNBOOK}" in bodies["text/plain"]
    assert "team-orders" in bodies["text/html"]
    assert "https://runbooks.example.com/orders?x=1&amp;y=2" in bodies["text/html"]


@pytest.mark.req("FR-024", "NFR-008")
def test_email_html_escapes_the_owner() -> None:
    page = render_html(owned(owner="<b>boss</b>"))
    assert "<b>boss</b>" not in page and "&lt;b&gt;boss&lt;/b&gt;" in page


@pytest.mark.req("FR-024", "FR-008")
def test_pagerduty_puts_the_runbook_in_links_and_the_labels_in_custom_details() -> None:
    event = pd_event(owned(), "key", False)
    assert event["links"] == [{"href": RUNBOOK, "text": "Runbook"}]
    details = event["payload"]["custom_details"]
    assert details["labels"] == {"tier": "gold", "domain": "sales"}
    assert details["owner"] == "team-orders"
    assert "links" not in pd_event(make_alert(), "key", False)


@pytest.mark.req("FR-024", "FR-008")
def test_alertmanager_gets_the_labels_and_a_runbook_url_annotation() -> None:
    cfg = AlertmanagerConfig.model_validate({"type": "alertmanager",
                                             "url": "http://am:9093", "labels": {"team": "dq"}})
    body = am_alert(owned(labels={"tier": "gold", "source": "spoofed"}), cfg,
                    datetime(2026, 6, 26, tzinfo=UTC))
    assert body["labels"]["tier"] == "gold" and body["labels"]["owner"] == "team-orders"
    assert body["labels"]["source"] == "warehouse.orders"  # the monitor's labels win
    assert body["labels"]["team"] == "dq"
    assert body["annotations"]["runbook_url"] == RUNBOOK


@pytest.mark.req("FR-024", "FR-008")
def test_webhook_and_kafka_carry_the_fields_and_leave_them_out_when_unset() -> None:
    payload = alert_payload(owned(), False)
    assert payload["owner"] == "team-orders" and payload["runbook_url"] == RUNBOOK
    assert payload["labels"] == {"tier": "gold", "domain": "sales"}
    assert not {"owner", "labels", "runbook_url"} & set(alert_payload(make_alert(), False))


@pytest.mark.req("FR-024", "FR-007")
@pytest.mark.parametrize(("match", "alert", "routed"), [
    ({"labels": {"tier": "gold"}}, owned(), True),
    ({"labels": {"tier": "gold", "domain": "sales"}}, owned(), True),
    ({"labels": {"tier": "gold", "domain": "ops"}}, owned(), False),
    ({"labels": {"tier": "gold"}}, make_alert(), False),
    ({"owner": "team-*"}, owned(), True),
    ({"owner": "team-shop"}, owned(), False),
    ({"owner": "*"}, make_alert(), False),
])
def test_routes_match_owner_globs_and_labels(match: dict[str, object], alert: Alert,
                                             routed: bool) -> None:
    route = Route.model_validate({"match": match, "channels": ["c"]})
    assert route_channels([route], alert) == (["c"] if routed else [])
