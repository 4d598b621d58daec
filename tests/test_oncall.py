"""The ``alerts`` and ``silence`` commands as an operator runs them, against a real operator API
(no Kafka): what reaches the terminal (NFR-008) and how a refused request reads (FR-019)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import pytest

from dq_monitor.api import FiringView, OperatorApi
from dq_monitor.config import parse_config
from dq_monitor.silence import SilenceBook, SilenceRequest
from dq_monitor.telemetry import Telemetry
from dq_monitor.testing import make_alert

CONFIG = """
kafka: {bootstrap_servers: "127.0.0.1:9", input_topics: [in], alert_topic: a,
        dead_letter_topic: d}
sources: [{name: warehouse.orders, freshness: {max_staleness: 10m}}]
"""
MARKUP = "[/bold] [red]x[/red] [link=https://evil.example]Ack here[/link]"


@pytest.fixture
async def api_url() -> AsyncIterator[str]:
    """An operator API on a free loopback port: one firing alert and one silence, each with
    rich markup in its text."""
    cfg = parse_config(CONFIG, env={})
    firing = FiringView()
    firing.apply(make_alert().model_copy(update={"subject": f"customer_id {MARKUP}",
                                                 "detail": f"detail {MARKUP}\x1b[2J"}))
    book = SilenceBook(cfg.kafka)
    book.loaded.set()
    now = datetime.now(UTC)
    book.set.put(SilenceRequest(source="warehouse.*", created_by="ana [/bold]",
                                comment=f"comment {MARKUP}", duration="2h").create(now))
    api = OperatorApi(cfg, Telemetry(cfg.telemetry), silences=book, firing=firing,
                      instance="host[/bold]")
    port = await api.start(host="127.0.0.1", port=0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await api.aclose()


async def cli(*args: str) -> tuple[int, str, str]:
    """``dq-monitor ARGS`` as a separate process (the API keeps serving in this one)."""
    done = await anyio.run_process([sys.executable, "-m", "dq_monitor.cli", *args], check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.mark.req("NFR-008", "FR-019")
async def test_markup_in_alerts_prints_as_written(api_url: str) -> None:
    code, out, err = await cli("alerts", "--url", api_url)
    assert code == 0, err
    assert "1 firing (asked host[/bold])" in out
    assert f"customer_id {MARKUP}" in out and f"detail {MARKUP}\\x1b[2J" in out
    assert "\x1b" not in out  # piped: no colour, and the ESC from the detail is shown, not sent


@pytest.mark.req("NFR-008", "FR-018", "FR-019")
async def test_markup_in_a_silence_prints_as_written(api_url: str) -> None:
    code, out, err = await cli("silence", "list", "--url", api_url)
    assert code == 0, err
    assert f"comment {MARKUP}" in out and "ana [/bold]" in out


@pytest.mark.req("NFR-008", "FR-018", "FR-019")
@pytest.mark.parametrize(("args", "reason"), [
    (("--for", "99999999999h"), "400 duration: Value error, too long: a silence may last at "
                                "most 8784h"),
    (("--start", "8999-12-31T23:00:00Z", "--for", "2h"),
     "400 duration: Value error, the silence would end at or after 9000-01-01"),
])
async def test_a_silence_out_of_bounds_is_refused_naming_the_field(
        api_url: str, args: tuple[str, ...], reason: str) -> None:
    code, out, err = await cli("silence", "add", "--url", api_url, "--source", "sales.*",
                               "--comment", "far", *args)
    assert code == 1 and out == ""
    assert reason in err
    code, out, _ = await cli("silence", "list", "--url", api_url, "--output", "json")
    assert code == 0 and out.count('"id"') == 1  # nothing stored

