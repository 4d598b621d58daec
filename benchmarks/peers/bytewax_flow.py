"""A peer on the scale benchmark's records: Bytewax reading the topic and scoring each value.

    python benchmarks/peers/bytewax_flow.py BOOTSTRAP TOPIC EVENTS {rolling,robust}

Bytewax's Kafka source reads every partition to its end without a consumer group, so it runs
against the embedded broker. Each record is decoded with orjson and keyed by its series, then a
``stateful_map`` scores the value:

* ``rolling``: the raw loop's work, a running mean and standard deviation (the workload the
  comparison with other stream processors used);
* ``robust``: dq-monitor's own default detector (``evaluate_robust``, window 100), the same
  per-value work as the monitor's anomaly check, without alert state, checkpoints or commits.

Prints one JSON object: events/s and CPU µs per event, both from the first record decoded to
the last one scored (CPU of the whole process, Bytewax's and the Kafka client's threads too).
"""

from __future__ import annotations

import math
import sys
import time
from datetime import datetime
from typing import Any

import bytewax.operators as op
import orjson
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main

from dq_monitor.checks.anomaly import SeriesState, evaluate_robust
from dq_monitor.config import AnomalyConfig

Item = tuple[float, datetime | None]


class Clock:
    """When the first record was decoded and when the ``n``-th was scored."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0
        self.start: tuple[float, float] | None = None
        self.end: tuple[float, float] | None = None

    def first(self) -> None:
        if self.start is None:
            self.start = (time.perf_counter(), time.process_time())

    def scored(self, count: int) -> None:
        self.seen += count
        if self.seen >= self.n and self.end is None:
            self.end = (time.perf_counter(), time.process_time())

    def result(self) -> dict[str, Any]:
        if self.start is None or self.end is None:
            raise SystemExit(f"only {self.seen} of {self.n} records were scored")
        elapsed, cpu = self.end[0] - self.start[0], self.end[1] - self.start[1]
        return {"events_per_s": self.n / elapsed, "cpu_us_per_event": cpu / self.n * 1e6,
                "events": self.seen}


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


def rolling(state: list[float] | None, item: Item) -> tuple[list[float], float]:
    x = item[0]
    if state is None:
        state = [0.0, 0.0, 0.0]
    state[0] += 1
    state[1] += x
    state[2] += x * x
    mean = state[1] / state[0]
    var = max(0.0, state[2] / state[0] - mean * mean)
    return state, (x - mean) / math.sqrt(var) if var > 0 else 0.0


def robust(cfg: AnomalyConfig) -> Any:
    def score(state: SeriesState | None, item: Item) -> tuple[SeriesState, bool]:
        if state is None:
            state = SeriesState.new(cfg)
        assert state.baseline is not None
        result = evaluate_robust(state, state.baseline, item[0], cfg, "", "", item[1], True)
        return state, result is not None

    return score


def flow(bootstrap: str, topic: str, clock: Clock, variant: str) -> Dataflow:
    timed = variant == "robust"

    def decode(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> tuple[str, Item]:
        clock.first()
        assert msg.value is not None  # the benchmark's records all have a value
        ev = orjson.loads(msg.value)
        ts = datetime.fromisoformat(ev["ts"]) if timed else None
        return ev["source"] + ev["metric"], (float(ev["value"]), ts)

    mapper = rolling if variant == "rolling" else robust(
        AnomalyConfig(metrics=["m"], window=100, min_samples=20))
    df = Dataflow(f"peer-{variant}")
    source = kop.input("in", df, brokers=[bootstrap], topics=[topic], tail=False)
    scored = op.stateful_map("score", op.map("decode", source.oks, decode), mapper)
    op.output("out", scored, Counted(clock))
    return df


def main(argv: list[str]) -> int:
    bootstrap, topic, n, variant = argv[1], argv[2], int(argv[3]), argv[4]
    if variant not in ("rolling", "robust"):
        raise SystemExit(f"variant must be 'rolling' or 'robust', not {variant!r}")
    clock = Clock(n)
    run_main(flow(bootstrap, topic, clock, variant))  # type: ignore[no-untyped-call]
    print(orjson.dumps(clock.result()).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
