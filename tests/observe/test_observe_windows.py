"""FR-028, sans I/O: a partition's windows and watermark, the merge of partials once per
window, and what a merged window feeds the checks. No event loop, no broker."""

from __future__ import annotations

import math

import orjson
import pytest

from dq_monitor.config import ObserveConfig
from dq_monitor.observe import (
    PartitionWindows,
    Profile,
    SourceWindows,
    observe_window,
    type_name,
    wire,
)

pytestmark = pytest.mark.req("FR-028")

W = 2_000  # window ms
T0 = 1_700_000_000_000 - 1_700_000_000_000 % W


def order(i: int, **over: object) -> bytes:
    rec: dict[str, object] = {"order_id": i, "customer_id": f"c{i}", "amount": 10.0 + i,
                              "shipping": {"country": "FR"}, "note": "x" * 50}
    rec.update(over)
    return orjson.dumps({k: v for k, v in rec.items() if v is not ...})


def cfg(**over: object) -> ObserveConfig:
    base: dict[str, object] = {"topic": "orders.v1", "window": "2s", "grace": "500ms"}
    base.update(over)
    return ObserveConfig.model_validate(base)


def test_type_names_follow_the_json_types() -> None:
    profile = Profile()
    profile.add(orjson.dumps({"a": 1, "b": 1.5, "c": "x", "d": True, "e": {}, "f": [],
                              "g": None, "h": 2}), 1, 0, 0, None, True)
    profile.add(orjson.dumps({"h": 2.5, "g": None}), 2, 1, 0, None, True)
    names = {k: type_name(v) for k, v in profile.types.items()}
    assert names == {"a": "integer", "b": "number", "c": "string", "d": "boolean",
                     "e": "object", "f": "array", "g": "null", "h": "number"}


def test_a_window_closes_grace_after_its_end_and_late_records_are_dropped() -> None:
    part = PartitionWindows(cfg(fields=["customer_id", "amount"]), 0, T0)
    for i in range(5):
        part.add(order(i), T0 + 100 * i, i, T0)
    part.add(order(5), T0 + W + 400, 5, T0 + W + 400)  # next window; watermark < end + grace
    first = part.close(T0 + W + 400)  # its first mark: nothing before the data is open
    assert first is not None and first.closed_to == T0 and first.partials == []
    assert part.close(T0 + W + 400) is None
    assert part.safe_offset(6) == 0  # the open window's first record
    part.add(order(6), T0 + W + 600, 6, T0 + W + 600)  # watermark passes end + grace: first closes
    closed = part.close(T0 + W + 600)
    assert closed is not None and closed.closed_to == T0 + W
    [(start, prof)] = closed.partials
    assert start == T0 and prof.records == 5 and prof.first_offset == 0
    assert part.safe_offset(7) == 5
    part.add(order(7), T0 + 1_000, 7, T0 + W + 700)  # a record of the closed window: late
    assert part.late == 1 and T0 not in part.windows


def test_a_record_stamped_in_the_future_counts_as_written_now() -> None:
    """NFR-006: a producer clock far ahead must not close every window before its records."""
    part = PartitionWindows(cfg(), 0, T0)
    part.add(order(1), T0 + 10, 0, T0 + 10)
    part.add(order(2), T0 + 10**9, 1, T0 + 20)  # eleven days ahead
    assert part.watermark == T0 + 20 + 500  # at most grace ahead of the clock
    part.add(order(3), T0 + 30, 2, T0 + 30)
    assert part.late == 0 and part.windows[T0].records == 3


def test_an_idle_partition_follows_the_clock() -> None:
    part = PartitionWindows(cfg(), 2, T0)
    assert part.close(T0 + W - 1) is None  # not idle for one window yet
    closed = part.close(T0 + 3 * W)
    assert closed is not None and closed.partials == []
    assert closed.closed_to == T0 + 2 * W  # (now - grace) rounded down to a window edge


def partial(records: range, partition: int, first: int | None = None,
            nulls_every: int = 0) -> Profile:
    p = Profile()
    fields = (("customer_id", ("customer_id",)), ("amount", ("amount",)),
              ("shipping.country", ("shipping", "country")))
    for n, i in enumerate(records):
        raw = order(i, customer_id=None) if nulls_every and n % nulls_every == 0 else order(i)
        p.add(raw, T0 + i, (first if first is not None else 0) + n, partition, fields, True)
    return p


def test_partials_merge_once_when_every_partition_closed_the_window() -> None:
    merge = SourceWindows("stream.orders", "orders.v1", 3, W)
    merge.add(0, T0 + W, {T0: partial(range(0, 10), 0)})
    merge.add(1, T0 + W, {T0: partial(range(10, 15), 1, nulls_every=5)})
    assert merge.take_complete() == []  # partition 2 has not closed the window
    merge.add(2, T0 + W, {})  # idle there: no partial, only its mark
    [(start, merged)] = merge.take_complete()
    assert start == T0 and merged.records == 15
    assert merged.profiled - merged.filled["customer_id"] == 1
    assert merge.take_complete() == []  # handed out once
    merge.add(1, T0 + W, {T0: partial(range(10, 15), 1)})  # a partial after the window: late
    assert merge.late == 5 and merge.take_complete() == []


def test_a_recomputed_partial_replaces_the_one_held_never_adds_to_it() -> None:
    merge = SourceWindows("s", "t", 2, W)
    merge.add(0, T0, {T0: partial(range(0, 10), 0, first=100)})
    merge.add(0, T0, {T0: partial(range(0, 10), 0, first=100)})  # re-sent after a crash
    merge.add(0, T0, {T0: partial(range(5, 10), 0, first=105)})  # re-read from mid-window
    merge.add(0, T0 + W, {})
    merge.add(1, T0 + W, {})
    [(_, merged)] = merge.take_complete()
    assert merged.records == 10


def test_merge_state_and_reports_survive_their_codecs() -> None:
    merge = SourceWindows("s", "t", 2, W)
    merge.add(0, T0 + W, {T0 + W: partial(range(3), 0)})
    again = SourceWindows.from_json("s", orjson.loads(orjson.dumps(merge.to_json())))
    assert again == merge
    part = PartitionWindows(cfg(), 1, T0)
    part.add(order(1), T0 + 1, 0, T0)
    part.add(b"not json", T0 + 2, 1, T0)
    closed = part.close(T0 + 10 * W)
    assert closed is not None
    report = wire.decode(wire.encode("stream.orders", 3, closed))
    assert report.partition == 1 and report.partitions == 3
    assert report.partials[T0].records == 1 and report.partials[T0].malformed == 1
    with pytest.raises(Exception, match="observe report"):
        wire.decode(b'{"source": "s"}')


def test_a_window_feeds_an_update_schema_metrics_and_one_dead_letter() -> None:
    merged = partial(range(10), 0, nulls_every=2)
    merged.add(b"\xff\xfe", T0 + 50, 99, 0, None, True)
    merged.add(b"[1, 2]", T0 + 60, 100, 0, None, True)
    obs = observe_window("stream.orders", "orders.v1", T0, W, merged,
                         ["customer_id", "amount", "shipping.country"])
    u = obs.update
    assert u.row_count == 10
    assert u.null_counts == {"customer_id": 5, "amount": 0, "shipping.country": 0}
    assert u.schema == (("amount", "number"), ("customer_id", "string"),
                        ("shipping.country", "string"))
    assert int(u.updated_at.timestamp() * 1000) == T0 + 60
    metrics = dict(obs.metrics)
    assert metrics["records"] == 10 and metrics["records.malformed"] == 2
    assert metrics["amount.mean"] == pytest.approx(14.5)
    assert metrics["amount.min"] == 10.0 and metrics["amount.max"] == 19.0
    assert obs.dead_letter is not None and obs.dead_letter["count"] == 2
    assert obs.dead_letter["first"]["offset"] == 99


def test_a_named_field_that_disappears_leaves_the_schema_and_counts_as_null() -> None:
    p = Profile()
    fields = (("customer_id", ("customer_id",)), ("amount", ("amount",)))
    for i in range(4):
        p.add(order(i, amount=...), T0 + i, i, 0, fields, True)
    obs = observe_window("s", "t", T0, W, p, ["customer_id", "amount"])
    assert obs.update.schema == (("customer_id", "string"),)
    assert obs.update.null_counts == {"customer_id": 0, "amount": 4}
    assert obs.dead_letter is None


def test_sampling_profiles_a_share_and_scales_null_counts() -> None:
    part = PartitionWindows(cfg(sample=0.25, fields=["customer_id"]), 0, T0)
    for i in range(4_000):
        part.add(order(i, customer_id=None if i % 2 else "c"), T0 + 1, i, T0)
    closed = part.close(T0 + 10 * W)
    assert closed is not None
    [(_, prof)] = closed.partials
    assert prof.records == 4_000 and 800 < prof.profiled < 1_200
    obs = observe_window("s", "t", T0, W, prof, ["customer_id"])
    assert obs.update.null_counts is not None
    assert 1_700 < obs.update.null_counts["customer_id"] < 2_300


@pytest.mark.req("FR-028", "NFR-006")
@pytest.mark.parametrize("raw", [
    b"", b"\xff\xfe\x00", b"[" * 5000 + b"]" * 5000, b'{"a": 1' , b"NaN", b'"text"',
    b'{"amount": 123456789012345678901234567890}', b'{"amount": 1e400}', None,
])
def test_any_bytes_are_counted_never_raised(raw: bytes | None) -> None:
    part = PartitionWindows(cfg(fields=["amount", "shipping.country"]), 0, T0)
    part.add(raw, T0 + 1, 0, T0)
    part.add(order(1), T0 + 2, 1, T0)
    closed = part.close(T0 + 10 * W)
    assert closed is not None
    [(_, prof)] = closed.partials
    assert prof.records + prof.malformed == 2 and prof.records >= 1
    obs = observe_window("s", "t", T0, W, prof, ["amount", "shipping.country"])
    assert all(math.isfinite(v) for _, v in obs.metrics)


@pytest.mark.req("FR-028", "NFR-006")
def test_top_level_fields_past_the_cap_or_unprintable_are_dropped() -> None:
    p = Profile()
    rec = {f"f{i}": i for i in range(400)} | {"bad\x00name": 1, "": 2}
    p.add(orjson.dumps(rec), T0, 0, 0, None, True)
    assert len(p.types) == 256 and p.fields_dropped == 146
    obs = observe_window("s", "t", T0, W, p, None)
    assert obs.update.schema is not None and len(obs.update.schema) == 256
