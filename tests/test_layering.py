"""The tree reads like the pipeline: the router stands on shared Kafka plumbing, not on the
monitor's ingest code, and there is one backoff (FR-021, FR-009, FR-010)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "dq_monitor"
MONITOR_ONLY = ("dq_monitor.ingest", "dq_monitor.monitor",
                "dq_monitor.checks", "dq_monitor.state", "dq_monitor.alerts")


def imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


@pytest.mark.req("FR-021")
@pytest.mark.parametrize("package", ["routing", "kafka", "channels", "silence"])
def test_router_side_packages_do_not_import_the_monitor(package: str) -> None:
    for path in sorted((SRC / package).rglob("*.py")):
        bad = {m for m in imports(path) if m.startswith(MONITOR_ONLY)}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


@pytest.mark.req("FR-011")
def test_the_config_package_stands_below_the_service() -> None:
    """Every part of the service imports the config, so the config imports none of it (only
    the error tree, and the checkpoint size bound a cross-check uses): no cycle can form."""
    allowed = ("dq_monitor.config.", "dq_monitor.errors", "dq_monitor.checkpoint_size")
    paths = sorted((SRC / "config").glob("*.py"))
    assert paths
    for path in paths:
        bad = {m for m in imports(path)
               if m.startswith("dq_monitor") and not m.startswith(allowed)}
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


@pytest.mark.req("FR-021")
def test_the_router_command_does_not_load_the_monitor_core() -> None:
    code = ("import sys, dq_monitor.cli, dq_monitor.app, dq_monitor.routing.router; "
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert not [m for m in loaded if m.startswith(MONITOR_ONLY)]


@pytest.mark.req("FR-010")
def test_one_backoff_implementation() -> None:
    doubling = re.compile(r"min\([^)\n]*\*\s*2\b|\*=\s*2\b|MAX_BACKOFF")
    hits = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py")
            if p.name != "backoff.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if doubling.search(line)]
    assert hits == []


def test_test_modules_outside_the_tests_package_have_unique_basenames() -> None:
    """Test folders have no ``__init__``: two test files of one name would not both import."""
    names = [p.name for p in (Path(__file__).parent).glob("*/**/test_*.py")]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
