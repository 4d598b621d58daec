"""The configuration file's YAML is parsed once, into what ``yaml.safe_load`` gives (NFR-003:
a file of 10,000 sources loads in about a second)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dq_monitor.config import parse_config
from dq_monitor.config.document import read_document
from dq_monitor.errors import ConfigError

HEAD = """kafka:
  bootstrap_servers: "localhost:9092"
  group_id: g
  input_topics: [in]
  alert_topic: alerts
  dead_letter_topic: dead
sources:
"""


def fleet(n: int) -> str:
    return HEAD + "".join(
        f"  - name: src-{i:05d}\n    owner: team-{i % 7}\n    labels: {{tier: t{i % 3}}}\n"
        f"    freshness: {{max_staleness: 10m}}\n    completeness: {{min_row_count: 1}}\n"
        f"    anomaly: {{metrics: [m0, m1, m2], window: 100, z_warn: 4.5, z_fail: 6.0}}\n"
        for i in range(n))


@pytest.mark.req("NFR-003", "FR-011")
@pytest.mark.parametrize("text", [
    fleet(3),
    "a: &x {b: 1, c: [1, 2]}\nd: *x\n",  # an anchor used twice: PyYAML shares the object
    "base: &b {x: 1}\nmerged: {<<: *b, y: 2}\n",  # a merge key
    "when: 2026-01-01\nraw: !!binary aGk=\nset: !!set {a, b}\n",  # tags built by PyYAML
    "n: ~\nb: [yes, no, true, Off]\ni: [0x1f, 0o17, 1_000, -3]\nf: [1.5, .inf, -.Inf, 1e3]\n",
    "1: one\n2.5: two\nnull: three\n",  # keys that are not strings
    "",
    "- just\n- a list\n",
])
def test_documents_read_as_safe_load_reads_them(text: str) -> None:
    value, duplicates = read_document(text)
    expected = yaml.safe_load(text)
    assert value == expected or (value != value and expected != expected)
    assert duplicates == []


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=False), st.text(max_size=12))
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20)


@pytest.mark.req("NFR-003", "FR-011")
@settings(max_examples=150, deadline=None)
@given(documents, st.sampled_from(["block", "flow"]))
def test_any_dumped_document_reads_back_as_safe_load_reads_it(doc: Any, style: str) -> None:
    text = yaml.safe_dump(doc, default_flow_style=style == "flow", allow_unicode=True)
    assert read_document(text)[0] == yaml.safe_load(text)


@pytest.mark.req("NFR-003", "FR-011")
def test_errors_are_pyyaml_errors_and_duplicates_are_named() -> None:
    with pytest.raises(yaml.YAMLError):
        read_document("a: [1, 2\n")
    value, duplicates = read_document("a:\n  b: 1\n  b: 2\nc: [{d: 1, d: 2}]\n")
    assert value == {"a": {"b": 2}, "c": [{"d": 2}]}
    assert duplicates == [
        "a.b: duplicate key (lines 2 and 3); give each key once",
        "c[0].d: duplicate key (lines 4 and 4); give each key once",
    ]


@pytest.mark.req("NFR-003", "FR-011")
def test_a_large_file_is_composed_once_and_each_distinct_scalar_resolved_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A file of thousands of sources repeats the same keys and values: the scalar's tag is
    resolved once per distinct text, and the file is not parsed a second time to build it."""
    n = 2000
    text = fleet(n)
    resolved: list[str] = []
    real = yaml.resolver.BaseResolver.resolve

    def counting(self: Any, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode:
            resolved.append(value)
        return real(self, kind, value, implicit)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(yaml.resolver.BaseResolver, "resolve", counting)
    cfg = parse_config(text, env={})
    assert len(cfg.sources) == n
    assert cfg.sources[-1].name == f"src-{n - 1:05d}" and cfg.sources[-1].owner == "team-4"
    assert len(resolved) == len(set(resolved))  # 60,000 scalars, each text resolved once


@pytest.mark.req("NFR-003", "FR-011")
def test_errors_in_a_ten_thousand_source_file_keep_their_paths() -> None:
    text = fleet(10_000)
    bad = text.replace("name: src-09999\n    owner: team-3\n",
                       "name: src-09999\n    owner: team-3\n    owner: x\n    colour: red\n")
    with pytest.raises(ConfigError) as info:
        parse_config(bad, env={})
    assert list(info.value.errors) == [
        "sources[9999].owner: duplicate key (lines 60003 and 60004); give each key once",
        "sources[9999].colour: unknown field (check the spelling)",
    ]


@pytest.mark.req("FR-011", "NFR-001")
@pytest.mark.parametrize(("text", "expected"), [
    ("{1: a, 01: b}\n", []),  # two spellings of one value: safe_load keeps the last, no error
    ("base: &b {x: 1}\nm:\n  <<: *b\n  y: 1\n  y: 2\n",  # a merge key: PyYAML's constructor
     ["m.y: duplicate key (lines 4 and 5); give each key once"]),
])
def test_duplicates_are_named_whichever_way_the_document_is_built(
        text: str, expected: list[str]) -> None:
    value, duplicates = read_document(text)
    assert value == yaml.safe_load(text)
    assert duplicates == expected
