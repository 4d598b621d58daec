"""The directly written gauge text (NFR-003): bounded pieces, the reader's format."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dq_monitor import exposition
from dq_monitor.exposition import CHUNK, Family, SampleText, family


@pytest.mark.req("NFR-003")
def test_each_piece_holds_at_most_a_chunk_of_samples_and_together_they_parse() -> None:
    samples = [(float(i % 9), {"source": f"s{i}"}) for i in range(5 * CHUNK + 7)]
    pieces = list(SampleText().chunks(family("dq_series_tracked", "gauge", "", "Series"),
                                      samples))
    assert max(piece.count("\n") for piece in pieces) <= CHUNK + 2  # + the header's two
    (fam,) = text_string_to_metric_families("".join(pieces))
    assert [(s.labels["source"], s.value) for s in fam.samples] == [
        (attrs["source"], value) for value, attrs in samples]


@pytest.mark.req("NFR-003", "NFR-002")
def test_families_are_named_as_the_reader_names_them_and_empty_ones_are_left_out() -> None:
    assert family("dq_delivery_age", "gauge", "s", "Age") == Family(
        "dq_delivery_age_seconds", "gauge", "Age")
    assert family("dq_series_evicted", "counter", "", "Evicted").name == \
        "dq_series_evicted_total"
    assert list(SampleText().chunks(family("dq_consumer_lag", "gauge", "", "Lag"), [])) == []


@pytest.mark.req("NFR-003")
def test_the_text_caches_start_over_past_their_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exposition, "CACHE_LIMIT", 10)
    text = SampleText()
    fam = family("dq_series_tracked", "gauge", "", "Series")
    first = "".join(text.chunks(fam, [(float(i), {"source": f"a{i}"}) for i in range(50)]))
    again = "".join(text.chunks(fam, [(float(i), {"source": f"a{i}"}) for i in range(50)]))
    assert first == again and 'dq_series_tracked{source="a49"} 49.0\n' in again
    other = "".join(text.chunks(fam, [(i + 0.5, {"source": f"b{i}"}) for i in range(50)]))
    assert 'dq_series_tracked{source="b49"} 49.5\n' in other
    assert len(text._labels) == len(text._values) == 50  # the a-sources' texts were dropped
