"""The compose stack for SREs: what can be checked without a container engine."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from dq_monitor.config import load_config
from dq_monitor.errors import ConfigError
from tests.tools import require_tool

COMPOSE = Path(__file__).resolve().parents[1] / "compose"


def dashboard_metrics() -> set[str]:
    dash = orjson.loads((COMPOSE / "grafana" / "dashboards" / "dq-monitor.json").read_bytes())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    return {m for e in exprs for m in re.findall(r"\b(dq_[a-z_]+)", e)}


@pytest.mark.req("NFR-002")
def test_compose_file_wires_the_stack() -> None:
    doc: dict[str, Any] = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    services = doc["services"]
    assert {"kafka", "dq-monitor", "otel-collector", "prometheus", "jaeger", "grafana",
            "mailpit"} <= set(services)
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert (COMPOSE / services["dq-monitor"]["build"]["dockerfile"].split("/")[-1]).exists()
    for volume in [v for s in services.values() for v in s.get("volumes", [])]:
        assert (COMPOSE / volume.split(":")[0]).exists(), volume


@pytest.mark.req("FR-011")
def test_compose_monitor_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "http://mailpit:8025/unused")
    monkeypatch.setenv("DQ_API_TOKEN", "a-token-of-32-characters-for-api")
    cfg = load_config(COMPOSE / "dq-monitor.yaml")
    prom = yaml.safe_load((COMPOSE / "prometheus" / "prometheus.yml").read_text())
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"dq-monitor:{cfg.telemetry.http_port}"]
    assert cfg.telemetry.otlp_endpoint == "http://otel-collector:4318"


@pytest.mark.req("NFR-008")
def test_compose_has_no_default_api_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The published API port must not be writable with a token everyone knows."""
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "http://mailpit:8025/unused")
    monkeypatch.delenv("DQ_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"telemetry\.api_token"):
        load_config(COMPOSE / "dq-monitor.yaml")
    monkeypatch.setenv("DQ_API_TOKEN", "short")
    with pytest.raises(ConfigError, match=r"telemetry\.api_token: .*at least 16"):
        load_config(COMPOSE / "dq-monitor.yaml")
    env = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())
    assert ":?" in env["services"]["dq-monitor"]["environment"]["DQ_API_TOKEN"]


@pytest.mark.req("NFR-002")
def test_prometheus_config_passes_promtool() -> None:
    promtool = require_tool("promtool")
    result = subprocess.run([promtool, "check", "config",
                             str(COMPOSE / "prometheus" / "prometheus.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.req("NFR-002")
def test_dashboard_queries_the_documented_metrics() -> None:
    assert dashboard_metrics() >= {"dq_alert_latency_seconds_bucket", "dq_events_consumed_total",
                                   "dq_dead_letters_total", "dq_consumer_lag"}
