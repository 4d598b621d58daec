"""FR-013 / FR-017: seed a series' baseline from its history, so it is judged from day one.

``dq-monitor seed --config FILE --source S --metric M HISTORY [--tags k=v] [--force]`` runs the
history (a ``timestamp,value`` CSV, or a directory of them read in name order as one history)
through the backtest's replay, the service's own monitor core, and writes the series' state to
the changelog topic under the key and at the partition the live monitor restores it from: the
changelog is co-partitioned with the input topics and a source lives on the partition its name
hashes to (``monitor.partition_for``), keys ``ser<US>source<US>series``. The record carries the
history's last timestamp.

A record already there for the series with a later timestamp is newer live state (the monitor
checkpointed it after seeing later values): it is kept and the command fails, unless
``--force``. The changelog topic is created as the service creates it when it does not exist
yet; the input topics must exist (their partition count places the state).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import anyio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from dq_monitor.backtest import _rows, backtest_config, parse_tags, replay
from dq_monitor.checks.anomaly import SeriesState, series_key
from dq_monitor.config import Config, KafkaConfig, load_config
from dq_monitor.errors import SeedError
from dq_monitor.kafka import changelog, producer_kwargs
from dq_monitor.kafka.clients import common_kwargs
from dq_monitor.kafka.topics import COMPACT, ensure_topics, partition_counts
from dq_monitor.monitor import Monitor, partition_for
from dq_monitor.monitor.dispatch import SEP
from dq_monitor.state import checkpoint


@dataclass(frozen=True, slots=True)
class Seeded:
    """What was learnt from the history and where it goes."""

    series: SeriesState
    key: str
    values: int
    bad_rows: int
    last: datetime


def history_files(path: Path) -> list[Path]:
    """The CSV file, or the ``*.csv`` files of a directory in name order."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
        if not files:
            raise SeedError(f"{path}: no .csv file in this directory")
        return files
    if not path.is_file():
        raise SeedError(f"{path}: no such file or directory")
    return [path]


def _points(files: list[Path], errors: TextIO, bad: list[int]) -> Iterator[tuple[datetime, float]]:
    for f in files:
        try:
            handle = f.open(newline="", encoding="utf-8", errors="replace")
        except OSError as exc:
            raise SeedError(f"{f}: cannot read ({exc.strerror})") from None
        with handle:
            for item in _rows(csv.reader(handle), errors):
                if isinstance(item, int):
                    bad[0] += 1
                    continue
                yield item[2], item[3]


def learn(config: Config, source: str, metric: str, files: list[Path],
          tags: dict[str, str] | None = None, errors: TextIO = sys.stderr) -> Seeded:
    """Replay the history exactly as ``backtest`` does and keep the series' resulting state."""
    monitor = Monitor(backtest_config(config, source, metric))  # names an unknown one
    subject = series_key(source, metric, tags)
    bad = [0]
    values = 0
    last: datetime | None = None
    for row in replay(config, source, metric, _points(files, errors, bad), tags=tags,
                      monitor=monitor):
        values += 1
        last = row.ts
    src = monitor.sources.get(source)
    series = None if src is None else src.series.get(subject)
    if series is None or last is None:
        raise SeedError(f"{source} {subject}: the history holds no value to learn from")
    return Seeded(series, f"ser{SEP}{source}{SEP}{subject}", values, bad[0], last)


async def write(kafka: KafkaConfig, topic: str, seeded: Seeded, source: str, *,
                force: bool = False) -> int:
    """Write the seeded state where its owner restores it; returns the partition."""
    counts = await partition_counts(kafka, kafka.input_topics)
    missing = [t for t in kafka.input_topics if t not in counts]
    if missing:
        raise SeedError(f"input topic(s) {', '.join(missing)} do not exist: their partition "
                        "count places the state; create them first")
    parts = max(counts.values())
    await ensure_topics(kafka, {topic: (parts, COMPACT)})
    partition = partition_for(source, parts)
    last_ms = int(seeded.last.timestamp() * 1000)
    newer = await _latest_ms(kafka, topic, partition, seeded.key.encode())
    if newer is not None and newer > last_ms and not force:
        raise SeedError(
            f"{topic} partition {partition} already holds state for {seeded.key.split(SEP)[2]!r} "
            f"of {source!r} written after the history's last value ({seeded.last.isoformat()}): "
            "the live monitor's is newer; --force replaces it")
    producer = AIOKafkaProducer(**producer_kwargs(kafka))
    await producer.start()
    try:
        await producer.send_and_wait(topic, changelog.encode(checkpoint.encode(seeded.series)),
                                     key=seeded.key.encode(), partition=partition,
                                     timestamp_ms=last_ms)
    finally:
        await producer.stop()
    return partition


async def _latest_ms(kafka: KafkaConfig, topic: str, partition: int, key: bytes) -> int | None:
    """Timestamp of the latest record of ``key`` in the partition (None if there is none)."""
    consumer = AIOKafkaConsumer(**common_kwargs(kafka), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        await consumer.seek_to_beginning(tp)
        latest: int | None = None
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for rec in batch.get(tp, []):
                if rec.key == key:
                    latest = None if rec.value is None else rec.timestamp
        return latest
    finally:
        await consumer.stop()


def main(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    tags = parse_tags(args.tags)
    seeded = learn(config, args.source, args.metric, history_files(Path(args.history)), tags)
    topic = config.kafka.changelog_topic or f"{config.kafka.group_id}.changelog"
    try:
        partition = anyio.run(lambda: write(config.kafka, topic, seeded, args.source,
                                            force=args.force))
    except (KafkaError, OSError) as exc:
        raise SeedError(f"{config.kafka.bootstrap_servers}: cannot write the state "
                        f"({type(exc).__name__}: {exc})") from None
    b = seeded.series.baseline
    kind = "" if b is None else f", seasonality {b.kind}"
    print(f"seeded {args.source} {seeded.key.split(SEP)[2]} from {seeded.values} value(s) "
          f"({seeded.bad_rows} bad row(s) skipped){kind}: {topic} partition {partition}")
    return 0
