"""The config file: the spec's example as written, env expansion, durations, every error by path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dq_monitor.config import AnomalyConfig, Config, load_config, parse_config, parse_duration
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


# --------------------------------------------------------------------------- FR-011 holes


def with_kafka(extra: str, text: str | None = None) -> str:
    text = example() if text is None else text
    return text.replace("  dead_letter_topic: dq.dead-letter\n",
                        "  dead_letter_topic: dq.dead-letter\n" + extra)


@pytest.mark.req("FR-011")
@pytest.mark.parametrize(("extra", "path"), [
    ("  session_timeout: 0s\n", "kafka.session_timeout"),
    ("  heartbeat_interval: 0ms\n", "kafka.heartbeat_interval"),
])
def test_zero_kafka_intervals_are_refused_by_path(extra: str, path: str) -> None:
    assert f"{path}: must be longer than 0s" in errors_of(with_kafka(extra))


@pytest.mark.req("FR-011")
def test_zero_durations_that_make_no_sense_are_refused_by_path() -> None:
    text = (
        example()
        .replace("max_staleness: 60m", "max_staleness: 0s")
        .replace("dedup_window: 5m", "dedup_window: 0s\n  retry: {initial: 0ms, cap: 0s, "
                 "max_elapsed: 0s}")
        .replace("    port: 587\n", "    port: 587\n    timeout: 0s\n")
        .replace("      z_fail: 4.0", "      z_fail: 4.0\n      max_flaps: 2\n"
                 "      flap_window: 0s")
    ) + "scheduler: {sweep_interval: 0s}\n"
    errs = errors_of(text)
    for path in ("sources[0].freshness.max_staleness", "sources[0].anomaly.flap_window",
                 "routing.dedup_window", "routing.retry.initial", "routing.retry.cap",
                 "routing.retry.max_elapsed", "channels.oncall-email.timeout",
                 "scheduler.sweep_interval"):
        assert f"{path}: must be longer than 0s" in errs, path


@pytest.mark.req("FR-011")
def test_zero_damping_is_allowed_and_huge_durations_are_not() -> None:
    text = example().replace("max_staleness: 60m}",
                             "max_staleness: 60m, for: 0s, resolve_after: 0s}")
    cfg = parse_config(text, env=ENV)
    assert cfg.sources[0].freshness is not None and cfg.sources[0].freshness.for_ == 0
    errs = errors_of(example().replace("max_staleness: 60m", "max_staleness: 99999999999h"))
    assert errs == ["sources[0].freshness.max_staleness: too long: at most 8784h"]


@pytest.mark.req("FR-011")
def test_related_intervals_are_checked() -> None:
    errs = errors_of(with_kafka("  heartbeat_interval: 10s\n  session_timeout: 10s\n"))
    assert errs == ["kafka.heartbeat_interval: must be shorter than session_timeout "
                    "(10s >= 10s)"]
    errs = errors_of(example().replace("dedup_window: 5m",
                                       "dedup_window: 5m\n  retry: {initial: 1m, cap: 30s}"))
    assert errs == ["routing.retry.initial: must not exceed cap (60s > 30s)"]


@pytest.mark.req("FR-011")
def test_duplicate_keys_are_named_by_path() -> None:
    text = example().replace("  group_id: dq-monitor\n",
                             "  group_id: dq-monitor\n  group_id: other\n")
    text = text.replace("      window: 100\n", "      window: 100\n      window: 50\n")
    errs = errors_of(text)
    assert "kafka.group_id: duplicate key (lines 3 and 4); give each key once" in errs
    assert any(e.startswith("sources[0].anomaly.window: duplicate key") for e in errs)


@pytest.mark.req("FR-011")
def test_a_file_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    from dq_monitor.cli import main

    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(example().replace("warehouse.orders", "entrepôt.commandes").encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    (err,) = info.value.errors
    assert err.startswith("<file>: not UTF-8 text (byte 0xf4 at offset ")
    assert main(["validate", str(bad)]) == 2


# --------------------------------------------------------------------------- FR-020 security

TLS = "  security_protocol: SSL\n"


@pytest.mark.req("FR-020")
def test_sasl_needs_its_credentials_and_options_must_take_effect() -> None:
    errs = errors_of(with_kafka("  security_protocol: SASL_SSL\n"))
    assert errs == [f"kafka.{f}: required when security_protocol is SASL_SSL"
                    for f in ("sasl_mechanism", "sasl_username", "sasl_password")]
    errs = errors_of(with_kafka("  sasl_mechanism: PLAIN\n  ssl_check_hostname: false\n"))
    assert errs == [
        "kafka.sasl_mechanism: has no effect with security_protocol PLAINTEXT "
        "(use SASL_PLAINTEXT or SASL_SSL)",
        "kafka.ssl_check_hostname: has no effect with security_protocol PLAINTEXT "
        "(use SSL or SASL_SSL)",
    ]


@pytest.mark.req("FR-020")
def test_tls_files_are_checked_before_start(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    errs = errors_of(with_kafka(TLS + f"  ssl_ca_file: {tmp_path / 'missing.pem'}\n"
                                "  ssl_key_file: /dev/null\n"))
    assert errs[0] == "kafka.ssl_key_file: set ssl_cert_file too (the certificate of this key)"
    assert errs[1].startswith("kafka.ssl_ca_file: cannot read ") and "No such file" in errs[1]
    errs = errors_of(with_kafka(TLS + f"  ssl_ca_file: {junk}\n  ssl_cert_file: {junk}\n"))
    assert [e.split(":")[0] for e in errs] == ["kafka.ssl_ca_file", "kafka.ssl_cert_file"]


@pytest.mark.req("FR-020")
def test_sasl_password_comes_from_the_environment_and_stays_secret() -> None:
    text = with_kafka("  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-512\n"
                      "  sasl_username: dq\n  sasl_password: ${KAFKA_PASSWORD}\n")
    cfg = parse_config(text, env={**ENV, "KAFKA_PASSWORD": "pa55-w0rd"})
    assert cfg.kafka.sasl_password is not None
    assert cfg.kafka.sasl_password.get_secret_value() == "pa55-w0rd"
    assert "pa55-w0rd" not in repr(cfg) and "pa55-w0rd" not in cfg.model_dump_json()


@pytest.mark.req("FR-020")
def test_kafka_channel_security_needs_its_own_cluster() -> None:
    forward = ("  forward:\n    type: kafka\n    topic: dq.copy\n    security_protocol: SSL\n")
    def with_forward(extra: str) -> str:
        return example().replace("\ntelemetry:", forward + extra + "\ntelemetry:")

    errs = errors_of(with_forward(""))
    assert errs == ["channels.forward.security_protocol: applies only with bootstrap_servers "
                    "(without it the channel uses the kafka section's connection)"]
    errs = errors_of(with_forward("    bootstrap_servers: other:9093\n    sasl_username: x\n"))
    assert errs == ["channels.forward.sasl_username: has no effect with security_protocol SSL "
                    "(use SASL_PLAINTEXT or SASL_SSL)"]


@pytest.mark.req("FR-018", "FR-011")
def test_mute_windows_are_validated_by_path() -> None:
    text = example().replace("  dedup_window: 5m\n", """  dedup_window: 5m
  mute_windows:
    backfill: {weekdays: [mon, funday], times: [{start: "25:00", end: "03:00"}]}
    empty: {times: [{start: "01:00", end: "01:00"}], time_zone: Mars/Olympus}
""").replace("      channels: [slack-dq]\n", "      channels: [slack-dq]\n      mute: [nightly]\n")
    errs = errors_of(text)
    assert any(e.startswith("routing.mute_windows.backfill.weekdays[1]:") for e in errs)
    assert any(e.startswith("routing.mute_windows.backfill.times[0].start:") for e in errs)
    assert any(e.startswith("routing.mute_windows.empty.times[0]: start and end are equal")
               for e in errs)
    assert ("routing.mute_windows.empty.time_zone: unknown time zone 'Mars/Olympus' (use an "
            "IANA name such as 'Europe/Berlin')") in errs
    assert ("routing.routes[0].mute[0]: unknown mute window 'nightly' (known: backfill, empty)"
            in errs)


KAFKA_ONLY = """
kafka:
  bootstrap_servers: localhost:9092
  input_topics: [in]
  alert_topic: alerts
  dead_letter_topic: dead
{kafka}
sources:
  - name: {name}
    anomaly: {{metrics: [revenue], {anomaly}}}
"""


def kafka_config(kafka: str = "", anomaly: str = "window: 30", name: str = "orders") -> str:
    return KAFKA_ONLY.format(kafka=kafka, anomaly=anomaly, name=name)


@pytest.mark.req("NFR-008", "FR-011")
def test_replication_factor_and_topic_config_are_read_and_checked() -> None:
    cfg = parse_config(kafka_config(
        "  replication_factor: 3\n"
        "  topic_config: {min.insync.replicas: 2, retention.ms: '604800000',"
        " unclean.leader.election.enable: false}"), env={}).kafka
    assert cfg.replication_factor == 3
    assert cfg.topic_config == {"min.insync.replicas": "2", "retention.ms": "604800000",
                                "unclean.leader.election.enable": "false"}
    default = parse_config(kafka_config(), env={}).kafka
    assert default.replication_factor == -1 and default.topic_config == {}
    errs = errors_of(kafka_config("  replication_factor: 0\n"
                                  "  topic_config: {'Min InSync': 2}"), env={})
    assert errs == [
        "kafka.replication_factor: must be -1 (the cluster's default.replication.factor) or "
        "at least 1",
        "kafka.topic_config: 'Min InSync' is not a topic config name (such as "
        "min.insync.replicas)",
    ]
    assert errors_of(kafka_config("  replication_factor: -2"), env={})[0].startswith(
        "kafka.replication_factor: Input should be greater than or equal to -1")


@pytest.mark.req("NFR-008", "NFR-006", "FR-011")
def test_a_window_whose_checkpoint_would_not_fit_is_refused_by_path() -> None:
    # ~800 KB: 100,000 doubles, over a 512 KiB request size
    small = "  max_request_size: 524288\n  max_event_bytes: 1024"
    errs = errors_of(kafka_config(small, "baseline: rolling, window: 100000"), env={})
    assert len(errs) == 1
    assert errs[0].startswith("sources[0].anomaly.window: a series' checkpoint could reach ")
    assert "over kafka.max_request_size (524,288 bytes)" in errs[0]
    # the bound follows kafka.max_request_size: the default 1 MiB holds the largest window
    parse_config(kafka_config(anomaly="baseline: rolling, window: 100000"), env={})
    parse_config(kafka_config(small, "baseline: rolling, window: 60000"), env={})
    errs = errors_of(kafka_config("  max_request_size: 65536\n  max_event_bytes: 1024",
                                  "baseline: rolling, window: 8200"), env={})
    assert [e.split(":")[0] for e in errs] == ["sources[0].anomaly.window"]
    # a robust series holds min_samples warm-up values; a streak holds rebaseline_after
    errs = errors_of(kafka_config(small, "window: 100000, min_samples: 100000"), env={})
    assert [e.split(":")[0] for e in errs] == ["sources[0].anomaly.min_samples"]
    errs = errors_of(kafka_config("  max_request_size: 262144\n  max_event_bytes: 1024",
                                  "rebaseline_after: 60000"), env={})
    assert [e.split(":")[0] for e in errs] == ["sources[0].anomaly.rebaseline_after"]
    assert errors_of(kafka_config(anomaly="rebaseline_after: 70000"), env={}) == [
        "sources[0].anomaly.rebaseline_after: Input should be less than or equal to 65536"]


@pytest.mark.req("NFR-008", "FR-011")
def test_max_request_size_must_hold_an_event() -> None:
    assert errors_of(kafka_config("  max_event_bytes: 2097152"), env={}) == [
        "kafka.max_event_bytes: must not exceed kafka.max_request_size (2,097,152 > "
        "1,048,576): an event read on a partition other than its source's is written again "
        "whole"]
    cfg = parse_config(kafka_config("  max_event_bytes: 2097152\n"
                                    "  max_request_size: 4194304"), env={})
    assert cfg.kafka.max_request_size == 4194304


@pytest.mark.req("NFR-008", "NFR-005", "FR-011")
def test_series_ttl_defaults_to_a_week_and_must_be_a_positive_bounded_duration() -> None:
    anomaly = parse_config(example(), env=ENV).sources[0].anomaly
    assert anomaly is not None and anomaly.series_ttl == 168 * 3600.0
    text = example().replace("      z_fail: 4.0", "      z_fail: 4.0\n      series_ttl: 90m")
    anomaly = parse_config(text, env=ENV).sources[0].anomaly
    assert anomaly is not None and anomaly.series_ttl == 5400.0
    for bad, error in (("0s", "must be longer than 0s"), ("9000h", "too long: at most 8784h"),
                       ("7d", "invalid duration '7d': use a number and one of ms, s, m, h")):
        text = example().replace("      z_fail: 4.0", f"      z_fail: 4.0\n      series_ttl: {bad}")
        assert errors_of(text) == [f"sources[0].anomaly.series_ttl: {error}"], bad


# --------------------------------------------------------------------------- NFR-008 tokens

WEAK_TOKENS = [('"${DQ_API_TOKEN:-}"', {}), ('"${DQ_API_TOKEN}"', {"DQ_API_TOKEN": "abc"})]


@pytest.mark.req("NFR-008", "FR-019")
@pytest.mark.parametrize(("token", "env"), WEAK_TOKENS, ids=["empty", "three-characters"])
def test_an_empty_or_short_api_token_is_refused_by_path(token: str,
                                                        env: dict[str, str]) -> None:
    text = example() + f"  api_token: {token}\n"
    [problem] = errors_of(text, env={**ENV, **env})
    assert problem.startswith("telemetry.api_token: must be at least 16 characters")
    assert "abc" not in problem
    strong = parse_config(text, env={**ENV, "DQ_API_TOKEN": "x" * 16})
    assert strong.telemetry.api_token is not None


@pytest.mark.req("NFR-008", "FR-019")
@pytest.mark.parametrize(("token", "env"), WEAK_TOKENS, ids=["empty", "three-characters"])
def test_dq_monitor_validate_refuses_an_empty_or_short_token(
        token: str, env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(example() + f"  api_token: {token}\n")
    done = subprocess.run([sys.executable, "-m", "dq_monitor.cli", "validate", str(path)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **ENV, **env})
    assert done.returncode == 2
    assert "telemetry.api_token: must be at least 16 characters" in done.stderr
    assert "abc" not in done.stderr + done.stdout


@pytest.mark.req("NFR-008")
def test_allowed_hosts_are_host_names_with_an_optional_port() -> None:
    text = example() + '  allowed_hosts: [dq.example.com, "dq.example.com:8443", "[::1]:9464"]\n'
    assert parse_config(text, env=ENV).telemetry.allowed_hosts == [
        "dq.example.com", "dq.example.com:8443", "[::1]:9464"]
    assert errors_of(example() + '  allowed_hosts: ["http://evil.example/"]\n') == [
        "telemetry.allowed_hosts[0]: 'http://evil.example/' is not a host name or address "
        "with an optional :port"]


@pytest.mark.req("NFR-001", "FR-011")
def test_a_static_group_instance_id_comes_from_the_environment() -> None:
    cfg = parse_config(with_kafka("  group_instance_id: ${HOSTNAME}\n"),
                       env={**ENV, "HOSTNAME": "dq-monitor-2"})
    assert cfg.kafka.group_instance_id == "dq-monitor-2"
    assert parse_config(example(), env=ENV).kafka.group_instance_id is None


@pytest.mark.req("NFR-001", "FR-011")
@pytest.mark.parametrize("bad", ['""', '"two words"', '"a/b"', "x" * 250])
def test_a_group_instance_id_kafka_would_refuse_is_named_by_path(bad: str) -> None:
    assert any(e.startswith("kafka.group_instance_id: ")
               for e in errors_of(with_kafka(f"  group_instance_id: {bad}\n")))


@pytest.mark.req("FR-017", "FR-013")
def test_a_copied_anomaly_check_judges_by_its_own_options() -> None:
    # The robust update reads a plain copy of the options (``judging``); a config copied with
    # other options (a backtest's sensitivity sweep) must not keep the original's.
    an = AnomalyConfig(metrics=["m"], window=100)
    assert (an.judging.alpha, an.judging.z_warn) == (2 / 101, an.z_warn)
    other = an.model_copy(update={"window": 10, "z_warn": 2.0, "z_fail": 3.0})
    assert (other.judging.alpha, other.judging.z_warn, other.judging.z_fail) == (2 / 11, 2.0, 3.0)
    assert an.judging.alpha == 2 / 101
