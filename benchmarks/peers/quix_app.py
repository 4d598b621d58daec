"""A peer on the scale benchmark's records: Quix Streams consuming the topic and scoring each
value with state in the process (a dict per series, no RocksDB store or changelog).

    python benchmarks/peers/quix_app.py BOOTSTRAP TOPIC EVENTS {rolling,robust} STATE_DIR
                                        [SESSION_TIMEOUT_MS]

Quix Streams reads through a consumer group of its own (librdkafka) and decodes each record
with its JSON deserializer; ``rolling`` is the raw loop's work, ``robust`` dq-monitor's own
detector (``common.py``). The application stops once every record is scored. Prints one JSON
object: events/s and CPU µs per event from the first record decoded to the last one scored.
"""

from __future__ import annotations

import logging
import sys
import uuid
from datetime import datetime
from typing import Any

import orjson
from common import VARIANTS, Clock, robust, rolling
from quixstreams import Application


def main(argv: list[str]) -> int:
    bootstrap, topic, n, variant, state_dir = argv[1], argv[2], int(argv[3]), argv[4], argv[5]
    session_ms = int(argv[6]) if len(argv) > 6 else 6000
    if variant not in VARIANTS:
        raise SystemExit(f"variant must be one of {VARIANTS}, not {variant!r}")
    clock = Clock(n)
    app = Application(broker_address=bootstrap, consumer_group=f"quix-{uuid.uuid4().hex[:8]}",
                      auto_offset_reset="earliest", auto_create_topics=False,
                      state_dir=state_dir, loglevel=logging.WARNING,
                      # as the monitors' own (the embedded broker's group join takes half
                      # the session timeout; librdkafka's default is 45 s)
                      consumer_extra_config={"session.timeout.ms": session_ms,
                                             "heartbeat.interval.ms": min(1000,
                                                                          session_ms // 3)})
    states: dict[str, Any] = {}
    score = robust()
    timed = variant == "robust"

    def update(ev: dict[str, Any]) -> None:
        clock.first()
        key = ev["source"] + ev["metric"]
        if timed:
            states[key], _ = score(states.get(key), float(ev["value"]),
                                   datetime.fromisoformat(ev["ts"]))
        else:
            states[key], _ = rolling(states.get(key), float(ev["value"]))
        if clock.scored(1):
            app.stop()

    app.dataframe(app.topic(topic, value_deserializer="json")).update(update)
    app.run()
    print(orjson.dumps(clock.result()).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
