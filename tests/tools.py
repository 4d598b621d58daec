"""System tools some tests drive for real: under CI (``CI`` set) a missing tool fails the test."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """Path of ``name``; skip locally when it is missing, fail when ``CI`` is set."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
