"""State values as the changelog carries them: JSON objects, and a series' packed state as its
own bytes (NFR-001, NFR-006, NFR-008)."""

from __future__ import annotations

import base64
from collections import Counter

import orjson
import pytest

from dq_monitor.config import parse_config
from dq_monitor.ingest.observing import STATE_KIND, Observer
from dq_monitor.kafka import changelog
from dq_monitor.monitor import Monitor
from dq_monitor.state import checkpoint
from tests.state.test_checkpoint import CONFIG, T0, fed


@pytest.mark.req("NFR-001", "NFR-008")
def test_a_series_state_is_written_as_its_packed_bytes_and_read_back_as_them() -> None:
    c = parse_config(CONFIG, env={})
    an = c.sources[0].anomaly
    assert an is not None
    series = fed(an, 3000)
    packed = checkpoint.encode(series)
    assert packed.startswith(changelog.PACKED) and checkpoint.MAGIC.startswith(changelog.PACKED)
    wire = changelog.encode(packed)
    assert wire == packed  # no JSON, no base64: a quarter smaller than the older form
    assert wire is not None
    older = orjson.dumps({checkpoint.FIELD: base64.b64encode(packed).decode()})
    assert len(wire) < 0.8 * len(older)
    m = Monitor(c)
    m.restore(0, "ser\x1forders\x1frevenue", changelog.decode(wire), T0)
    m.assign([0], T0)
    restored = m.sources["orders"].series["revenue"]
    assert restored.to_state() == {**series.to_state(), "seen": restored.seen_us()}
    # the older form still restores to the same series
    again = Monitor(c)
    again.restore(0, "ser\x1forders\x1frevenue", changelog.decode(older), T0)
    assert again.sources["orders"].series["revenue"].to_state() == restored.to_state()


@pytest.mark.req("NFR-006")
def test_other_values_must_be_json_objects() -> None:
    assert changelog.decode(None) is None
    assert changelog.decode(b'{"a": 1}') == {"a": 1}
    for bad in (b"[1, 2]", b"null", b"3"):
        with pytest.raises(TypeError):
            changelog.decode(bad)
    with pytest.raises(orjson.JSONDecodeError):
        changelog.decode(b"not json")


@pytest.mark.req("NFR-006")
@pytest.mark.parametrize("key", ["src\x1forders", "w\x1forders\x1fanomaly\x1frevenue"])
def test_a_packed_value_under_any_key_but_a_series_is_unreadable(key: str) -> None:
    c = parse_config(CONFIG, env={})
    an = c.sources[0].anomaly
    assert an is not None
    m = Monitor(c)
    with pytest.raises(ValueError, match="packed value"):
        m.restore(0, key, checkpoint.encode(fed(an, 50)), T0)
    assert "orders" not in m.sources  # nothing restored from it
    observer = Observer(c, m, Counter())
    with pytest.raises(ValueError, match="packed value"):
        observer.restore(0, f"{STATE_KIND}\x1forders", checkpoint.MAGIC + b"junk")
