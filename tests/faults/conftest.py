"""Fault-run fixtures: the session broker of the integration tests, and a local S3 emulator."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dq_monitor.embedded import free_port, wait_for_port
from tests.faults.harness import ROOT
from tests.integration.conftest import bootstrap, kafka
from tests.tools import require_tool

__all__ = ["bootstrap", "kafka", "s3"]

S3RVER = "s3rver@3.7.1"
BUCKET = "dqfaults"


def s3rver_bin() -> Path:
    """The npm S3 emulator, installed into the project's cache on first use."""
    prefix = ROOT / ".cache" / "s3rver"
    binary = prefix / "node_modules" / ".bin" / "s3rver"
    if not binary.exists():
        npm = require_tool("npm")
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
                        S3RVER], check=True, capture_output=True, timeout=600)
    return binary


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """An empty bucket on a fresh emulator: (storage URL, environment for the broker)."""
    binary = s3rver_bin()
    port = free_port()
    data = tmp_path / "s3"
    data.mkdir()
    with (tmp_path / "s3rver.log").open("wb") as log:
        proc = subprocess.Popen([str(binary), "-s", "-d", str(data), "-a", "127.0.0.1", "-p",
                                 str(port), "--configure-bucket", BUCKET],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port)
        yield f"s3://{BUCKET}/", {
            "AWS_ENDPOINT": f"http://127.0.0.1:{port}", "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)
