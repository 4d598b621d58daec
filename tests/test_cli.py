"""The command line, as an operator types it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dq_monitor import __version__


@pytest.mark.req("FR-019")
def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "dq_monitor.cli", "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"dq-monitor {__version__}"
