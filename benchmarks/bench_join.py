"""Consumer-group join benchmark (NFR-001): seconds from starting a consumer to its first
assignment, for a new group and for restarts, with dynamic and static membership.

    python benchmarks/bench_join.py [--session-timeout 6] [--restarts 3] [--alive 2]
                                    [--bootstrap HOST:PORT] [--out DIR]

For each membership (dynamic; static, ``group_instance_id``), one consumer of a fresh group
on a 4-partition topic joins, stays ``--alive`` seconds (heartbeating), stops (a dynamic
member leaves the group, a static one does not), and a new consumer with the same settings
joins in its place, ``--restarts`` times. Reported: each join's seconds, first and restarts.
This is what a restart of ``dq-monitor run`` waits for before it can restore and read; the
broker is the embedded one unless ``--bootstrap`` names another. Results go to
``join.json`` in ``--out`` (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from dq_monitor.embedded import broker_address

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_workload import create_topic

RESULTS = Path(__file__).resolve().parent / "results"


async def join(bootstrap: str, topic: str, group: str, instance: str | None,
               session_s: float) -> tuple[AIOKafkaConsumer, float]:
    """A started consumer once it has its partitions, and the seconds that took."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, group_instance_id=instance,
        session_timeout_ms=int(session_s * 1000),
        heartbeat_interval_ms=int(min(1000, session_s * 1000 / 3)),
        enable_auto_commit=False)
    began = time.perf_counter()
    await consumer.start()
    while not consumer.assignment():
        await asyncio.sleep(0.01)
    return consumer, time.perf_counter() - began


async def run(bootstrap: str, session_s: float, restarts: int, alive: float) -> dict[str, Any]:
    topic = f"join-{uuid.uuid4().hex[:8]}"
    await create_topic(bootstrap, topic, 4)
    out: dict[str, Any] = {"session_timeout_s": session_s, "alive_s": alive}
    for name, instance in (("dynamic", None), ("static", "bench-join-0")):
        group = f"{topic}-{name}"
        joins = []
        for _ in range(restarts + 1):
            consumer, took = await join(bootstrap, topic, group, instance, session_s)
            joins.append(round(took, 2))
            await asyncio.sleep(alive)
            await consumer.stop()
        out[name] = {"first_s": joins[0], "restarts_s": joins[1:]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--session-timeout", type=float, default=6.0, help="seconds")
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--alive", type=float, default=2.0,
                        help="seconds each consumer stays in the group")
    parser.add_argument("--bootstrap")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with (contextlib.nullcontext(args.bootstrap) if args.bootstrap
          else broker_address()) as bootstrap:
        result = asyncio.run(run(bootstrap, args.session_timeout, args.restarts, args.alive))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "join.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    for name in ("dynamic", "static"):
        r = result[name]
        print(f"{name}: first join {r['first_s']} s, restarts {r['restarts_s']} s "
              f"(session timeout {args.session_timeout:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
