"""``dq-monitor alerts``, ``dq-monitor silence add|list|expire`` and ``dq-monitor ack``
(FR-018, FR-019, FR-027).

Readable tables on a terminal, ``--output json`` for scripts (the API's own JSON). NFR-008:
every string from the API reaches the terminal through ``escape.terminal``, so a subject or a
comment such as ``[/bold]`` prints as written instead of being read as rich markup.
"""

from __future__ import annotations

import argparse
import getpass
import socket
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from dq_monitor.api.client import ApiClient
from dq_monitor.api.page import ago
from dq_monitor.escape import terminal
from dq_monitor.events import format_rfc3339
from dq_monitor.silence import SilenceView


def _print_json(model: BaseModel) -> None:
    sys.stdout.write(orjson.dumps(model.model_dump(mode="json"),
                                  option=orjson.OPT_INDENT_2).decode() + "\n")


def _age(then: datetime) -> float:
    return (datetime.now(UTC) - then).total_seconds()


def _console() -> Console:
    """The terminal's width on a terminal; piped, wide enough that each row stays one line
    (for grep)."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 400)


def alerts(args: argparse.Namespace) -> int:
    response = ApiClient(args.url).alerts()
    if args.output == "json":
        _print_json(response)
        return 0
    table = Table(title=terminal(f"{len(response.alerts)} firing (asked {response.instance})"),
                  title_justify="left")
    for column in ("SEVERITY", "CHECK", "SOURCE", "SUBJECT", "SINCE", "SILENCED", "INHIBITED",
                   "ACKED", "DETAIL"):
        table.add_column(column)
    for a in response.alerts:
        table.add_row(*map(terminal, (
            a.severity, a.check, a.source, a.subject or "-",
            f"{format_rfc3339(a.since)} ({ago(_age(a.since))})",
            ",".join(a.silenced_by) or "-", a.inhibited_by or "-",
            "-" if a.acknowledged is None else a.acknowledged.by, a.detail)))
    _console().print(table)
    return 0


def ack(args: argparse.Namespace) -> int:
    """FR-027: acknowledge a firing alert: its reminders stop until it resolves or escalates."""
    acked = ApiClient(args.url).ack(args.fingerprint, {
        "comment": args.comment,
        "by": args.author or f"{getpass.getuser()}@{socket.gethostname()}"})
    if args.output == "json":
        _print_json(acked)
    else:
        print(terminal(f"acknowledged {acked.fingerprint} by {acked.by}"))
    return 0


def _matchers(s: SilenceView) -> str:
    return " ".join(f"{k}={getattr(s, k)}" for k in ("source", "check", "subject", "severity")
                    if getattr(s, k) is not None)


def _silence_table(silences: list[SilenceView]) -> Table:
    table = Table(title=f"{len(silences)} silence(s)", title_justify="left")
    for column in ("ID", "STATE", "MATCHERS", "STARTS", "ENDS", "BY", "COMMENT"):
        table.add_column(column, overflow="fold")
    for s in silences:
        table.add_row(*map(terminal, (
            s.id, s.state, _matchers(s), format_rfc3339(s.starts_at),
            format_rfc3339(s.ends_at), s.created_by, s.comment)))
    return table


def silence_add(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {
        key: getattr(args, key) for key in ("source", "check", "subject", "severity")
        if getattr(args, key) is not None}
    request["comment"] = args.comment
    request["created_by"] = args.author or f"{getpass.getuser()}@{socket.gethostname()}"
    if args.start:
        request["starts_at"] = args.start
    if args.until:
        request["ends_at"] = args.until
    else:
        request["duration"] = args.duration
    silence = ApiClient(args.url).add_silence(request)
    if args.output == "json":
        _print_json(silence)
    else:
        print(silence.id)  # plain: scripts capture it
    return 0


def silence_list(args: argparse.Namespace) -> int:
    response = ApiClient(args.url).silences(expired=args.expired)
    if args.output == "json":
        _print_json(response)
    else:
        _console().print(_silence_table(response.silences))
    return 0


def silence_expire(args: argparse.Namespace) -> int:
    client = ApiClient(args.url)
    for silence_id in args.ids:
        ended = client.expire_silence(silence_id)
        if args.output == "json":
            _print_json(ended)
        else:
            print(f"expired {ended.id}")
    return 0


def add_parsers(sub: Any) -> None:
    """The commands' arguments (``sub`` is the CLI's subparsers object)."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=None,
                       help="operator API (default $DQ_MONITOR_URL or http://127.0.0.1:9464)")
        p.add_argument("--output", "-o", choices=("table", "json"), default="table")

    p = sub.add_parser("alerts", help="list the alerts firing in the deployment")
    common(p)
    p.set_defaults(func=alerts)

    p = sub.add_parser("ack", help="acknowledge a firing alert: no reminders until it "
                                   "resolves or escalates")
    common(p)
    p.add_argument("fingerprint", metavar="FINGERPRINT")
    p.add_argument("--comment", "-c", default="", help="what you are doing about it")
    p.add_argument("--author", "-a", default=None, help="who (default user@host)")
    p.set_defaults(func=ack)

    silence = sub.add_parser("silence", help="add, list or expire silences")
    ssub = silence.add_subparsers(dest="silence_command", required=True)
    p = ssub.add_parser("add", help="hold the deliveries of matching alerts for a while")
    common(p)
    p.add_argument("--source", help="source name or glob, e.g. 'warehouse.*'")
    p.add_argument("--check", choices=("freshness", "completeness", "anomaly", "threshold",
                                       "run", "assertion", "schema"))
    p.add_argument("--subject", help="column or series name, or a glob")
    p.add_argument("--severity", choices=("WARN", "FAIL"))
    when = p.add_mutually_exclusive_group()
    when.add_argument("--for", dest="duration", default="1h",
                      help="how long, e.g. 30m, 2h (default 1h)")
    when.add_argument("--until", help="end time, RFC 3339 with an offset")
    p.add_argument("--start", help="start time, RFC 3339 (default now)")
    p.add_argument("--comment", "-c", required=True, help="why (shown to everyone on call)")
    p.add_argument("--author", "-a", default=None, help="who (default user@host)")
    p.set_defaults(func=silence_add)
    p = ssub.add_parser("list", help="pending and active silences")
    common(p)
    p.add_argument("--expired", action="store_true", help="also those ended in the last week")
    p.set_defaults(func=silence_list)
    p = ssub.add_parser("expire", help="end silences now")
    common(p)
    p.add_argument("ids", nargs="+", metavar="ID")
    p.set_defaults(func=silence_expire)
