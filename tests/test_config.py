"""The config file: the spec's example as written, env expansion, durations, every error by path."""

from __future__ import annotations

from pathlib import Path

import pytest

from dq_monitor.config import Config, parse_config, parse_duration
from dq_monitor.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "config.yaml"
SECRET = "https://hooks.slack.com/services/T000/B000/s3cr3t-value"
ENV = {"SLACK_WEBHOOK_URL": SECRET}


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=ENV if env is None else env)
    return list(info.value.errors)


def example() -> str:
    return EXAMPLE.read_text()


@pytest.mark.req("FR-011")
def test_spec_example_is_accepted_as_written() -> None:
    cfg = parse_config(example(), env=ENV)
    assert isinstance(cfg, Config)
    assert cfg.kafka.bootstrap_servers == "localhost:9092"
    assert cfg.sources[0].freshness is not None
    assert cfg.sources[0].freshness.max_staleness == 3600.0
    assert cfg.routing.dedup_window == 300.0
    slack = cfg.channels["slack-dq"]
    assert slack.type == "slack" and slack.webhook_url.get_secret_value() == SECRET
    email = cfg.channels["oncall-email"]
    assert email.type == "email" and email.from_ == "dq-monitor@example.com"
    assert email.username == "" and email.host == "localhost"


@pytest.mark.req("FR-011")
def test_env_expansion_defaults_and_escape() -> None:
    text = example().replace("group_id: dq-monitor", 'group_id: "g-$${literal}-${GROUP}"')
    cfg = parse_config(text, env={**ENV, "GROUP": "blue", "DQ_KAFKA_BOOTSTRAP": "k:1"})
    assert cfg.kafka.group_id == "g-${literal}-blue"
    assert cfg.kafka.bootstrap_servers == "k:1"


@pytest.mark.req("FR-011")
def test_missing_variable_is_named_by_path() -> None:
    assert errors_of(example(), env={}) == [
        "channels.slack-dq.webhook_url: environment variable SLACK_WEBHOOK_URL is not set "
        "and has no default"
    ]


@pytest.mark.req("FR-011")
@pytest.mark.parametrize(
    ("text", "seconds"), [("250ms", 0.25), ("30s", 30.0), ("5m", 300.0), ("1.5h", 5400.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.req("FR-011")
@pytest.mark.parametrize("bad", ["5", "5 days", "m", "-1s", 5, True])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.req("FR-011")
def test_all_errors_are_reported_at_once_by_path() -> None:
    text = (
        example()
        .replace("window: 100", "window: 1")
        .replace("z_warn: 3.0", "z_warn: high")
        .replace("[slack-dq, oncall-email]", "[slack-dq, pager]")
        .replace("max_staleness: 60m", "max_staleness: 60 minutes")
    )
    errs = errors_of(text)
    paths = [e.split(":")[0] for e in errs]
    assert paths == [
        "sources[0].freshness.max_staleness",
        "sources[0].anomaly.window",
        "sources[0].anomaly.z_warn",
        "routing.routes[1].channels[1]",
    ]
    assert "unknown channel 'pager'" in errs[-1]


@pytest.mark.req("FR-011")
def test_cross_checks() -> None:
    text = (
        example()
        .replace("z_warn: 3.0", "z_warn: 5.0")
        .replace("min_samples: 20", "min_samples: 200")
        .replace("{max_null_rate: 0.01}", "{max_null_rate: 0.01, warn_null_rate: 0.02}")
        .replace("starttls: true", "starttls: true\n    tls: true")
    )
    text = text.replace("\nrouting:", "  - name: warehouse.orders\n\nrouting:")
    errs = errors_of(text)
    assert "sources[0].anomaly.z_warn: must be below z_fail (5 >= 4)" in errs
    assert "sources[0].anomaly.min_samples: must not exceed window (200 > 100)" in errs
    column = "sources[0].completeness.columns.customer_id.warn_null_rate"
    assert any(e.startswith(column) for e in errs)
    assert any(e.startswith("sources[1].name: duplicate source") for e in errs)
    assert any(e.startswith("channels.oncall-email.tls") for e in errs)


@pytest.mark.req("FR-011")
def test_unknown_fields_and_channel_types_are_named() -> None:
    text = example().replace("max_staleness: 60m", "max_stalenes: 60m")
    text = text.replace("type: slack", "type: pager")
    errs = errors_of(text)
    assert "sources[0].freshness.max_stalenes: unknown field (check the spelling)" in errs
    assert "sources[0].freshness.max_staleness: required field is missing" in errs
    assert any(e.startswith("channels.slack-dq: unknown channel type") for e in errs)


@pytest.mark.req("FR-011")
def test_yaml_syntax_error_names_the_line() -> None:
    errs = errors_of("kafka: [unclosed\nsources: x\n")
    assert len(errs) == 1 and errs[0].startswith("line ")


@pytest.mark.req("FR-011")
def test_secrets_never_reach_repr_or_errors() -> None:
    text = example().replace("port: 587", "port: ninety")
    text = text.replace('password: "${SMTP_PASSWORD:-}"', 'password: "${SMTP_PASSWORD}"')
    env = {**ENV, "SMTP_PASSWORD": "hunter2-pw"}
    with pytest.raises(ConfigError) as info:
        parse_config(text.replace("channel: \"#data-quality\"", "channel: 7"), env=env)
    assert SECRET not in str(info.value) and "hunter2-pw" not in str(info.value)
    cfg = parse_config(example().replace('password: "${SMTP_PASSWORD:-}"',
                                         'password: "${SMTP_PASSWORD}"'), env=env)
    for text_form in (repr(cfg), str(cfg), cfg.model_dump_json()):
        assert SECRET not in text_form and "hunter2-pw" not in text_form


@pytest.mark.req("FR-011")
def test_config_without_routing_or_channels_is_valid() -> None:
    text = example().split("routing:")[0]
    cfg = parse_config(text, env={})
    assert cfg.routing.routes == [] and cfg.channels == {}
