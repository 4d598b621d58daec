"""Fixtures for channel tests, on the helpers that ship in ``dq_monitor.testing``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from dq_monitor.events import Alert
from dq_monitor.testing import (
    Certificate,
    HttpReceiver,
    SmtpServer,
    make_alert,
    self_signed_certificate,
    smtp_server,
)
from tests.tools import require_tool


@pytest.fixture
def alert() -> Alert:
    return make_alert()


@pytest.fixture
async def http_server() -> AsyncIterator[HttpReceiver]:
    async with HttpReceiver() as server:
        yield server


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made with the ``openssl`` command line."""
    require_tool("openssl")
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


SmtpFactory = Callable[..., contextlib.AbstractContextManager[SmtpServer]]


@pytest.fixture
def smtp() -> SmtpFactory:
    """``with smtp(starttls=cert, auth=(user, pw), data_reply="451 ...") as server:``."""
    return smtp_server
