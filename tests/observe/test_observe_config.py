"""FR-028: the ``observe`` section as the spec writes it, its defaults, and every error by
path (FR-011)."""

from __future__ import annotations

import pytest

from dq_monitor.config import parse_config
from dq_monitor.errors import ConfigError
from dq_monitor.reload import restart_needed

BASE = """
kafka:
  bootstrap_servers: localhost:9092
  input_topics: [dq.events]
  alert_topic: dq.alerts
  dead_letter_topic: dq.dead
sources:
  - name: stream.orders
    freshness: {max_staleness: 5m}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env={})
    return list(info.value.errors)


@pytest.mark.req("FR-028", "FR-011")
def test_the_spec_example_and_the_defaults() -> None:
    cfg = parse_config(BASE + """
observe:
  - topic: orders.v1
    source: stream.orders
    window: 1m
    grace: 10s
    fields: [customer_id, amount, shipping.country]
    sample: 1.0
  - topic: clicks
""", env={})
    spec, bare = cfg.observe
    assert spec.source_name == "stream.orders" and spec.window == 60.0 and spec.grace == 10.0
    assert spec.fields == ["customer_id", "amount", "shipping.country"]
    assert bare.source_name == "clicks" and bare.window_ms == 60_000
    assert bare.grace_ms == 10_000 and bare.fields is None and bare.sample == 1.0


@pytest.mark.req("FR-028", "FR-011")
def test_every_error_is_named_by_its_path() -> None:
    errors = errors_of(BASE + """
observe:
  - topic: dq.events
    window: 0s
    sample: 0
    fields: ["a..b", customer_id, customer_id]
    colour: blue
  - topic: orders.v1
    source: dq.events
  - topic: orders.v1
    grace: 48h
""")
    text = "\n".join(errors)
    for expected in ("observe[0].window", "observe[0].sample", "observe[0].fields[0]",
                     "observe[0].colour", "observe[0].topic: topic 'dq.events' is also an "
                     "input topic", "observe[0].fields[2]: field 'customer_id' is named twice",
                     "observe[1].source: source 'dq.events' is already fed by observe[0]",
                     "observe[2].topic: topic 'orders.v1' is already observed by observe[1]",
                     "observe[2].grace: at most 24h"):
        assert expected in text, (expected, errors)


@pytest.mark.req("FR-028", "FR-025")
def test_a_reload_that_changes_observe_needs_a_restart() -> None:
    old = parse_config(BASE + "observe: [{topic: orders.v1}]\n", env={})
    new = parse_config(BASE + "observe: [{topic: orders.v1, window: 5m}]\n", env={})
    assert restart_needed(old, new) == ["restart needed: observe[0]"]
    assert restart_needed(old, old) == []
