"""FR-020, NFR-001: the aiokafka arguments built from the config (no broker needed)."""

from __future__ import annotations

import ssl

import pytest

from dq_monitor.config import KafkaConfig, KafkaSecurity
from dq_monitor.kafka import consumer_kwargs, security_kwargs


@pytest.mark.req("FR-020")
def test_plaintext_passes_nothing_but_the_protocol() -> None:
    assert security_kwargs(KafkaSecurity()) == {"security_protocol": "PLAINTEXT"}


@pytest.mark.req("FR-020")
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_passes_credentials_and_a_verifying_context(mechanism: str) -> None:
    kwargs = security_kwargs(KafkaSecurity.model_validate({
        "security_protocol": "SASL_SSL", "sasl_mechanism": mechanism,
        "sasl_username": "dq", "sasl_password": "s3cret",
    }))
    ctx = kwargs.pop("ssl_context")
    assert kwargs == {"security_protocol": "SASL_SSL", "sasl_mechanism": mechanism,
                      "sasl_plain_username": "dq", "sasl_plain_password": "s3cret"}
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname


@pytest.mark.req("FR-020")
def test_hostname_checking_can_be_turned_off_but_not_verification() -> None:
    kwargs = security_kwargs(KafkaSecurity(security_protocol="SSL", ssl_check_hostname=False))
    ctx = kwargs["ssl_context"]
    assert not ctx.check_hostname and ctx.verify_mode is ssl.CERT_REQUIRED
    assert "sasl_mechanism" not in kwargs


def _kafka(extra: dict[str, object] | None = None) -> KafkaConfig:
    return KafkaConfig.model_validate({
        "bootstrap_servers": "k:9092", "input_topics": ["in"], "alert_topic": "a",
        "dead_letter_topic": "d", **(extra or {})})


@pytest.mark.req("NFR-001")
def test_the_monitor_joins_as_the_configured_static_member() -> None:
    cfg = _kafka({"group_instance_id": "dq-monitor-0"})
    assert consumer_kwargs(cfg, cfg.group_id, static=True)["group_instance_id"] == "dq-monitor-0"
    # other groups (the router's) stay dynamic: the id is unique per group, not per process
    assert "group_instance_id" not in consumer_kwargs(cfg, cfg.router_group)


@pytest.mark.req("NFR-001")
def test_without_an_instance_id_membership_is_dynamic() -> None:
    cfg = _kafka()
    assert "group_instance_id" not in consumer_kwargs(cfg, cfg.group_id, static=True)
