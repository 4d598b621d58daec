"""A peer on the scale benchmark's records: Bytewax reading the topic and scoring each value.

    python benchmarks/peers/bytewax_flow.py BOOTSTRAP TOPIC EVENTS {rolling,robust}

Bytewax's Kafka source reads every partition to its end without a consumer group. Each record
is decoded with orjson and keyed by its series, then a ``stateful_map`` scores the value
(``common.py``): ``rolling`` is the raw loop's work, ``robust`` dq-monitor's own detector.
Prints one JSON object: events/s and CPU µs per event, both from the first record decoded to
the last one scored (CPU of the whole process, the Kafka client's threads too).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import bytewax.operators as op
import orjson
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main
from common import VARIANTS, Clock, robust, rolling

Item = tuple[float, datetime]


class _Counted(StatelessSinkPartition[Any]):
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def write_batch(self, items: list[Any]) -> None:
        self.clock.scored(len(items))


class Counted(DynamicSink[Any]):
    """Counts what reaches it; writes nothing."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Counted:
        return _Counted(self.clock)


def flow(bootstrap: str, topic: str, clock: Clock, variant: str) -> Dataflow:
    timed = variant == "robust"
    epoch = datetime.fromtimestamp(0)

    def decode(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> tuple[str, Item]:
        clock.first()
        assert msg.value is not None  # the benchmark's records all have a value
        ev = orjson.loads(msg.value)
        ts = datetime.fromisoformat(ev["ts"]) if timed else epoch
        return ev["source"] + ev["metric"], (float(ev["value"]), ts)

    score = robust()

    def mapper(state: Any, item: Item) -> tuple[Any, Any]:
        return score(state, *item) if timed else rolling(state, item[0])

    df = Dataflow(f"peer-{variant}")
    source = kop.input("in", df, brokers=[bootstrap], topics=[topic], tail=False)
    scored = op.stateful_map("score", op.map("decode", source.oks, decode), mapper)
    op.output("out", scored, Counted(clock))
    return df


def main(argv: list[str]) -> int:
    bootstrap, topic, n, variant = argv[1], argv[2], int(argv[3]), argv[4]
    if variant not in VARIANTS:
        raise SystemExit(f"variant must be one of {VARIANTS}, not {variant!r}")
    clock = Clock(n)
    run_main(flow(bootstrap, topic, clock, variant))  # type: ignore[no-untyped-call]
    print(orjson.dumps(clock.result()).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
