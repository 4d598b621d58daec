"""Fixtures for channel tests: an alert, a scriptable HTTP receiver, a self-signed certificate."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest

from dq_monitor.events import Alert
from tests.servers import HttpReceiver


def make_alert(severity: Literal["WARN", "FAIL"] = "FAIL",
               status: Literal["firing", "resolved"] = "firing", fp: str = "ab" * 16,
               observed: float = 0.25) -> Alert:
    return Alert(
        alert_id="1b4e28ba-2fa1-41d2-883f-0016d3cca427", fingerprint=fp, check="completeness",
        source="warehouse.orders", subject="customer_id", severity=severity,
        status=status, observed=observed, expected=0.01,
        detail="warehouse.orders.customer_id null rate 25% is above the limit 1%",
        requirement="FR-004", event_time=datetime(2026, 6, 26, 11, 58, tzinfo=UTC),
        detected_at=datetime(2026, 6, 26, 11, 58, 1, tzinfo=UTC),
    )


@pytest.fixture
def alert() -> Alert:
    return make_alert()


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    r = HttpReceiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made with the openssl command line."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key
