"""FR-019 status page: one server-rendered HTML document, no scripts, no external assets.

It shows what the API shows (firing alerts, sources and their staleness, each channel's
delivery backlog, silences) so an on-call
reader can see it in any browser, even a text one; it refreshes itself every 30 s with a meta
tag, not with JavaScript. Every value from outside is HTML-escaped.
"""

from __future__ import annotations

from datetime import datetime

from dq_monitor.api.views import AlertsResponse, FiringAlert, SilencesResponse, SourcesResponse
from dq_monitor.escape import html as escape
from dq_monitor.events import format_rfc3339

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d1d1f;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.6em 0 .4em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f0f0f0}.FAIL{color:#fff;background:#c0392b}.WARN{background:#f5c542}
.OK{color:#1e7d32}.muted{color:#777}.empty{color:#777;font-style:italic}
td.sev{font-weight:600;text-align:center;width:4em}
"""


def ago(seconds: float) -> str:
    """A short age for people: 45s, 12m, 3h 5m, 4d (the page and the CLI alike)."""
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d"


def _since(at: datetime, now: datetime) -> str:
    return f"{format_rfc3339(at)} ({ago((now - at).total_seconds())} ago)"


def _delivery(alert: FiringAlert) -> str:
    """FR-018/FR-027: what holds an alert's deliveries, and who acknowledged it."""
    parts = []
    if alert.silenced_by:
        parts.append("silenced by " + ", ".join(alert.silenced_by))
    if alert.inhibited_by:
        parts.append(f"inhibited by {alert.inhibited_by}")
    if alert.acknowledged is not None:
        ack = alert.acknowledged
        parts.append(f"acknowledged by {ack.by}" + (f": {ack.comment}" if ack.comment else ""))
    return "; ".join(parts) or "not silenced"


def _cell(value: object, cls: str = "") -> str:
    text = "" if value is None else str(value)
    attr = f' class="{escape(cls)}"' if cls else ""
    return f"<td{attr}>{escape(text)}</td>"


def _table(table_id: str, headers: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty" id="{table_id}-empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return (f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def render(alerts: AlertsResponse, sources: SourcesResponse, silences: SilencesResponse,
           now: datetime, *, service: str,
           config: tuple[str, datetime] | None = None) -> bytes:
    """The page; ``config`` is the running configuration file's SHA-256 and load time."""
    alert_rows = [
        f'<tr class="alert" data-fingerprint="{escape(a.fingerprint)}">'
        + _cell(a.severity, f"sev {a.severity}") + _cell(a.check) + _cell(a.source)
        + _cell(a.subject or "—") + _cell(_since(a.since, now)) + _cell(a.detail)
        + _cell(_delivery(a), "muted" if a.silenced_by or a.inhibited_by else "")
        + "</tr>"
        for a in alerts.alerts]
    source_rows = []
    for s in sources.sources:
        firing = [c for c in s.checks if c.firing]
        state = ", ".join(f"{c.check}{f' {c.subject}' if c.subject else ''}: {c.firing}"
                          for c in firing) or "OK"
        worst = "FAIL" if any(c.firing == "FAIL" for c in firing) else (
            "WARN" if firing else "OK")
        staleness = "—" if s.staleness_s is None else ago(s.staleness_s)
        if s.max_staleness_s is not None and s.staleness_s is not None:
            staleness += f" (max {ago(s.max_staleness_s)})"
        source_rows.append(
            f'<tr class="source" data-source="{escape(s.name)}">' + _cell(s.name)
            + _cell(state, worst) + _cell(staleness)
            + _cell(format_rfc3339(s.last_update) if s.last_update else "—")
            + _cell("this instance" if s.owned else "another instance",
                    "" if s.owned else "muted")
            + "</tr>")
    delivery_rows = [
        f'<tr class="delivery" data-channel="{escape(d.channel)}">' + _cell(d.channel)
        + _cell(d.backlog) + _cell("—" if d.delivery_age_s is None else ago(d.delivery_age_s))
        + _cell("behind: reads the alert topic at its own pace" if d.behind else "keeping up",
                "WARN" if d.behind else "OK")
        + "</tr>"
        for d in sources.deliveries]
    silence_rows = [
        f'<tr class="silence" data-id="{escape(v.id)}">' + _cell(v.id) + _cell(v.state)
        + _cell(", ".join(f"{k}={getattr(v, k)}" for k in ("source", "check", "subject",
                                                          "severity") if getattr(v, k)))
        + _cell(format_rfc3339(v.starts_at)) + _cell(format_rfc3339(v.ends_at))
        + _cell(v.created_by) + _cell(v.comment) + "</tr>"
        for v in silences.silences]
    firing_count = len(alerts.alerts)
    body = (
        f"<h1>{escape(service)}: {firing_count} alert{'s' if firing_count != 1 else ''} "
        f"firing</h1><p class=\"muted\">instance {escape(alerts.instance)}, "
        f"{escape(format_rfc3339(now))}; <a href=\"/api/v1/alerts\">JSON</a></p>"
        + ("" if config is None else
           f"<p class=\"muted config\">configuration sha256 {escape(config[0][:12])}, loaded "
           f"{escape(format_rfc3339(config[1]))}</p>")
        + "<h2>Firing alerts</h2>"
        + _table("alerts", ["Severity", "Check", "Source", "Subject", "Since", "Detail",
                            "Delivery"], alert_rows, "Nothing is firing.")
        + "<h2>Sources</h2>"
        + _table("sources", ["Source", "State", "Staleness", "Last update", "State held by"],
                 source_rows, "No sources configured.")
        + "<h2>Delivery</h2>"
        + _table("deliveries", ["Channel", "Undelivered", "Oldest waiting", "State"],
                 delivery_rows, "No channels delivered by this instance.")
        + "<h2>Silences</h2>"
        + _table("silences", ["Id", "State", "Matchers", "Starts", "Ends", "By", "Comment"],
                 silence_rows, "No active or pending silences.")
    )
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"refresh\" content=\"30\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(service)} status</title><style>{_STYLE}</style></head>"
            f"<body>{body}</body></html>\n")
    return page.encode()
